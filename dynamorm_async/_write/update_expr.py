"""Update expressions (pure): checked, marshalled update actions rendered as an UpdateExpression.

Every builder call becomes one :class:`UpdateAction`. :func:`make_action` checks the path against
the model (a field of this model, not a key attribute, not the managed ``Version`` field, the
right kind of field for the action) and the value against the annotation found at the path, then
marshals it with the field's own tagger, so an update stores exactly what a put of the same value
would. :func:`prepare_update` adds the model's managed actions (``UpdatedAt``, ``CreatedAt``,
``Version``) and renders SET/REMOVE/ADD/DELETE clauses through one :class:`Placeholders`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import msgspec

from .._errors import ValidationError
from .._expressions.core import AttributePath, Condition, Placeholders, as_path, both
from .._model.model import FieldSpec, ModelInfo
from .._wire.codec import struct_codec
from .._wire.field_rules import MAX_NESTING, FieldRule, check_nesting, constraint_checker
from .._wire.taggers import (
    AttributeValue,
    Item,
    TypeKind,
    describe,
    kind_of,
    tagger_for,
    unwrap_optional,
)
from .._wire.values import SET_TAGS as _SET_TAGS
from .semantics import condition_payload, version_condition

__all__ = [
    "RETURN_VALUES",
    "ActionOp",
    "PreparedUpdate",
    "ReturnValues",
    "UpdateAction",
    "add_action",
    "make_action",
    "prepare_update",
    "why_update_cannot_create",
]

ActionOp = Literal[
    "set",
    "set_if_not_exists",
    "increment",
    "decrement",
    "append",
    "prepend",
    "remove",
    "add",
    "delete",
]
ReturnValues = Literal["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"]
RETURN_VALUES: tuple[ReturnValues, ...] = get_args(ReturnValues)

_CLAUSE: dict[ActionOp, str] = {
    "set": "SET",
    "set_if_not_exists": "SET",
    "increment": "SET",
    "decrement": "SET",
    "append": "SET",
    "prepend": "SET",
    "remove": "REMOVE",
    "add": "ADD",
    "delete": "DELETE",
}
_CLAUSE_ORDER = ("SET", "REMOVE", "ADD", "DELETE")
_ZERO: AttributeValue = {"N": "0"}
_ONE: AttributeValue = {"N": "1"}
_EMPTY_LIST: AttributeValue = {"L": []}
_SETS = (TypeKind.STRING_SET, TypeKind.NUMBER_SET, TypeKind.BINARY_SET)
# Top-level actions after which the attribute exists even if the item did not: SET (None and
# empty sets became REMOVE already), if_not_exists SETs, counters and list_append from [].
_CREATING_OPS = frozenset(
    {"set", "set_if_not_exists", "increment", "decrement", "add", "append", "prepend"}
)
_NO_VALUE: Any = object()


@dataclass(frozen=True, slots=True, eq=False)
class UpdateAction:
    """One action on one attribute path; ``value`` is already in wire format."""

    op: ActionOp
    path: AttributePath
    value: AttributeValue | None = None

    def __eq__(self, other: object) -> bool:
        # AttributePath's == builds a condition, so paths are compared by their elements.
        if not isinstance(other, UpdateAction):
            return NotImplemented
        return (self.op, self.path._elements, self.value) == (
            other.op,
            other.path._elements,
            other.value,
        )

    def __hash__(self) -> int:
        return hash((self.op, self.path._elements))

    @property
    def clause(self) -> str:
        """The UpdateExpression clause this action belongs to."""
        return _CLAUSE[self.op]

    def encode(self, ph: Placeholders) -> str:
        """Render this action inside its clause (placeholders allocated in text order)."""
        p = ph.path(self.path)
        if self.op == "remove":
            return p
        assert self.value is not None
        if self.op in ("add", "delete"):
            return f"{p} {ph.value(self.value)}"
        if self.op == "set":
            return f"{p} = {ph.value(self.value)}"
        if self.op == "set_if_not_exists":
            return f"{p} = if_not_exists({p}, {ph.value(self.value)})"
        if self.op in ("increment", "decrement"):
            # if_not_exists makes a missing number count from zero, like ADD does, while SET
            # (unlike ADD) also reaches nested paths and list elements.
            zero = ph.value(_ZERO)
            sign = "+" if self.op == "increment" else "-"
            return f"{p} = if_not_exists({p}, {zero}) {sign} {ph.value(self.value)}"
        if self.op == "append":
            existing = f"if_not_exists({p}, {ph.value(_EMPTY_LIST)})"
            return f"{p} = list_append({existing}, {ph.value(self.value)})"
        values = ph.value(self.value)
        return f"{p} = list_append({values}, if_not_exists({p}, {ph.value(_EMPTY_LIST)}))"


def render_update(actions: Iterable[UpdateAction], ph: Placeholders) -> str:
    """The UpdateExpression for ``actions``: SET, REMOVE, ADD and DELETE clauses in that order."""
    by_clause: dict[str, list[UpdateAction]] = {}
    for action in actions:
        by_clause.setdefault(action.clause, []).append(action)
    return " ".join(
        f"{clause} {', '.join(a.encode(ph) for a in by_clause[clause])}"
        for clause in _CLAUSE_ORDER
        if clause in by_clause
    )


# --- building and checking actions --------------------------------------------------------


def _kind(annotation: Any) -> TypeKind:
    if annotation is None:
        return TypeKind.ANY
    return kind_of(annotation)


def _root(info: ModelInfo, path: AttributePath, where: str) -> FieldSpec:
    """The top-level field a path starts at, refusing foreign, key and Version paths."""
    model = info.cls.__name__
    if path._model is not None and not issubclass(info.cls, path._model):
        raise ValidationError(
            f"{where}: the path belongs to {path._model.__name__}, not {model}", table=info.table
        )
    spec = info.by_attribute.get(path._attribute)
    if spec is None:
        raise ValidationError(
            f"{where}: {model} has no attribute {path._attribute!r}", table=info.table
        )
    if spec.attribute in info.key_attributes:
        raise ValidationError(
            f"{where}: {spec.name!r} is part of {model}'s primary key and cannot be updated; "
            "delete the item and put it under the new key instead",
            table=info.table,
        )
    if spec.name == info.version:
        raise ValidationError(
            f"{where}: {spec.name!r} is {model}'s Version field, which every write bumps by "
            "itself; leave it out of the update",
            table=info.table,
        )
    return spec


def _required_leaf(info: ModelInfo, spec: FieldSpec, path: AttributePath) -> bool:
    """True when the path names a struct field without a default (removing it breaks loads)."""
    rule = _leaf_rule(info, spec, path)
    return rule is not None and rule.required


def _leaf_rule(info: ModelInfo, spec: FieldSpec, path: AttributePath) -> FieldRule | None:
    """The write rule of the struct field a path ends at; None for list elements, map values
    and paths the model does not describe."""
    if path._is_top_level:
        return _rule_named(info.codec.rules, spec.attribute)
    parent = unwrap_optional(spec.annotation)
    for element in path._elements[1:-1]:
        if isinstance(element, int) or not _is_struct(parent):
            return None
        found = _struct_field(parent, element)
        if found is None:
            return None
        parent = unwrap_optional(found.type)
    leaf = path._elements[-1]
    if isinstance(leaf, int) or not _is_struct(parent):
        return None
    return _rule_named(struct_codec(parent).rules, leaf)


def _rule_named(rules: tuple[FieldRule, ...], attribute: str) -> FieldRule | None:
    return next((rule for rule in rules if rule.attribute == attribute), None)


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _struct_field(cls: type[msgspec.Struct], encode_name: str) -> msgspec.structs.FieldInfo | None:
    return next((f for f in msgspec.structs.fields(cls) if f.encode_name == encode_name), None)


def _check_value(
    info: ModelInfo, where: str, path: AttributePath, annotation: Any, value: object
) -> None:
    """Check the ``msgspec.Meta`` constraints inside ``annotation``, as a read would (the
    taggers check everything else)."""
    check = constraint_checker(annotation) if annotation is not None else None
    if check is None:
        return
    try:
        check(value)
    except ValidationError as exc:
        raise _value_error(info, where, path, exc) from None


def _value_error(
    info: ModelInfo, where: str, path: AttributePath, exc: ValidationError
) -> ValidationError:
    """The error of a value an action cannot store, naming the field path down to the bad
    value as a put's error does: ``Order.lines[2].qty: expected an int, got str 'x'``."""
    full = f"{info.cls.__name__}.{path._shown}{''.join(exc.field_path)}"
    return ValidationError(
        f"{full}: {exc.reason} (in {where})", path=full, model=info.cls, table=info.table
    )


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)


def _marshal(
    info: ModelInfo,
    where: str,
    spec: FieldSpec,
    path: AttributePath,
    annotation: Any,
    value: object,
) -> AttributeValue | None:
    """Wire form of ``value`` at ``path``; None for values DynamoDB cannot hold (empty sets)."""
    # The field's own tagger covers top-level specifics such as TTL fields stored as epoch N;
    # an untyped path (a dict without a value type) tags the value by its Python type.
    if path._is_top_level:
        tagger = spec.tagger
    else:
        tagger = tagger_for(annotation if annotation is not None else Any)
    return _encode_at(info, where, path, tagger, value)


def _encode_at(
    info: ModelInfo,
    where: str,
    path: AttributePath,
    encode: Callable[[Any], AttributeValue | None],
    value: object,
) -> AttributeValue | None:
    """``encode(value)`` for storing at ``path``: errors name the path down to the bad value,
    and the value may nest only as deep as DynamoDB allows below the path."""
    try:
        av = encode(value)
        if av is not None:
            check_nesting(av, levels=MAX_NESTING - len(path._elements) + 1)
    except ValidationError as exc:
        raise _value_error(info, where, path, exc) from None
    return av


def make_action(
    info: ModelInfo, op: ActionOp, target: object, value: object = _NO_VALUE
) -> UpdateAction:
    """Check one builder call against the model and turn it into a marshalled action.

    ``set`` of None (on an optional field) or of an empty set becomes a REMOVE, the same
    stored shape a put gives those values; inside a list it stores NULL to keep positions.
    """
    path = as_path(target)
    where = f"{op}({info.cls.__name__}.{path._shown})"
    spec = _root(info, path, where)
    annotation = info.declared(spec.name) if path._is_top_level else path._annotation
    kind = _kind(annotation)
    if op == "remove":
        return _removal(info, spec, path, where)
    if value is None and op != "set":
        raise ValidationError(f"{where}: needs a value, got None; use remove() to drop a value")
    if op == "set":
        return _set_action(info, spec, path, where, annotation, value)
    if op == "set_if_not_exists":
        _check_value(info, where, path, annotation, value)
        av = _require(where, _marshal(info, where, spec, path, annotation, value))
        return UpdateAction(op, path, av)
    shape = _VALUE_SHAPES.get(op)
    if shape is not None:
        kinds, wrong_field, tags, wrong_value = shape
        if kind not in kinds:
            raise ValidationError(
                f"{where}: {wrong_field.format(type=_type_name(annotation))}", table=info.table
            )
        if op in ("increment", "decrement") and annotation is not None:
            annotation = unwrap_optional(annotation)
        _check_value(info, where, path, annotation, value)
        marshalled = _marshal(info, where, spec, path, annotation, value)
        if marshalled is None and op not in ("increment", "decrement"):
            _require(where, marshalled)  # an empty set
        if marshalled is None or not any(tag in marshalled for tag in tags):
            wrong = ValidationError(f"{wrong_value}, got {describe(value)}")
            raise _value_error(info, where, path, wrong)
        return UpdateAction(op, path, marshalled)
    raise ValidationError(f"unknown update action {op!r}")


def _set_action(
    info: ModelInfo,
    spec: FieldSpec,
    path: AttributePath,
    where: str,
    annotation: Any,
    value: object,
) -> UpdateAction:
    _check_value(info, where, path, annotation, value)
    rule = _leaf_rule(info, spec, path)
    if rule is not None:
        # A struct field stores exactly what a put of the struct would (None as NULL or left
        # out, empty sets only where the default is one); left out means REMOVE.
        av = _encode_at(info, where, path, rule.encode, value)
        return _removal(info, spec, path, where) if av is None else UpdateAction("set", path, av)
    av = _marshal(info, where, spec, path, annotation, value)
    if isinstance(path._elements[-1], int):
        # Removing a list element would shift the ones after it: store the value (NULL).
        return UpdateAction("set", path, _require(where, av))
    if av is None or av == {"NULL": True}:
        return _removal(info, spec, path, where)
    return UpdateAction("set", path, av)


_NUMBERS = frozenset({TypeKind.NUMBER, TypeKind.ANY})
#: op -> (field kinds it works on, error for another field, tags its value may have, error
#: for another value).
_VALUE_SHAPES: dict[str, tuple[frozenset[TypeKind], str, tuple[str, ...], str]] = {
    "increment": (_NUMBERS, "needs a number field, not {type}", ("N",), "needs a number"),
    "decrement": (_NUMBERS, "needs a number field, not {type}", ("N",), "needs a number"),
    "append": (
        frozenset({TypeKind.LIST, TypeKind.ANY}),
        "needs a list field, not {type}",
        ("L",),
        "needs a list of values",
    ),
    "prepend": (
        frozenset({TypeKind.LIST, TypeKind.ANY}),
        "needs a list field, not {type}",
        ("L",),
        "needs a list of values",
    ),
    "add": (
        frozenset({TypeKind.NUMBER, TypeKind.ANY, *_SETS}),
        "add() works on number and set fields only, not {type}; use set() or append()",
        ("N", *_SET_TAGS),
        "needs a number or a set",
    ),
    "delete": (
        frozenset({TypeKind.ANY, *_SETS}),
        "delete() removes elements from set fields only, not {type}; use remove() to drop "
        "the attribute",
        _SET_TAGS,
        "needs a set of elements",
    ),
}


def _require(where: str, av: AttributeValue | None) -> AttributeValue:
    if av is None:
        raise ValidationError(f"{where}: an empty set does nothing here; DynamoDB rejects it")
    return av


def _removal(
    info: ModelInfo, spec: FieldSpec, path: AttributePath, where: str
) -> UpdateAction:
    if _required_leaf(info, spec, path):
        raise ValidationError(
            f"{where}: the field has no default, so the item could not be loaded without it; "
            "set a value instead",
            table=info.table,
        )
    return UpdateAction("remove", path)


def add_action(actions: tuple[UpdateAction, ...], action: UpdateAction) -> tuple[UpdateAction, ...]:
    """Append ``action`` unless it touches a path another action touches (DynamoDB rejects
    overlapping paths in one update)."""
    for existing in actions:
        if existing.path._overlaps(action.path):
            raise ValidationError(
                f"{action.op}({action.path._dotted}) overlaps {existing.op}"
                f"({existing.path._dotted}) in the same update: DynamoDB allows one action per "
                "attribute path; merge them into one action or send two updates"
            )
    return (*actions, action)


# --- may an update create the item? ------------------------------------------------------


def why_update_cannot_create(info: ModelInfo, actions: Iterable[UpdateAction]) -> str | None:
    """Why an update of a key with no item must not create one, or None when it may.

    A missing item would be created holding only its key and what ``actions`` write, so it
    decodes only if they set every required field: one without a default that the decoder
    does not read as None when absent (exactly ``ModelInfo.decode``'s rule). REMOVE and
    DELETE leave an attribute absent, and a nested path needs its parent stored already
    (DynamoDB rejects it on a missing item).
    """
    written: set[str] = set()
    for action in actions:
        if not action.path._is_top_level:
            return (
                f"{action.op}({info.cls.__name__}.{action.path._dotted}) reaches inside an "
                "attribute that a missing item does not have"
            )
        if action.op in _CREATING_OPS:
            written.add(action.path._attribute)
    present = written.union(info.absent_means_none, info.key_attributes)
    unset = [
        spec.name
        for spec in info.fields.values()
        if not spec.has_default and spec.attribute not in present
    ]
    if not unset:
        return None
    return (
        f"it does not set the required field{'s' if len(unset) > 1 else ''} "
        f"{', '.join(unset)}, so a created item could not be read"
    )


# --- managed fields and the request -------------------------------------------------------


def _managed(
    info: ModelInfo,
    actions: tuple[UpdateAction, ...],
    *,
    now: datetime,
    expected_version: int | None,
) -> list[UpdateAction]:
    """UpdatedAt on every update, CreatedAt only if absent, Version bumped; a timestamp the
    caller updates explicitly wins over the managed one."""
    touched = {a.path._attribute for a in actions}
    managed: list[UpdateAction] = []
    if info.updated_at is not None:
        spec = info.fields[info.updated_at]
        if spec.attribute not in touched:
            managed.append(UpdateAction("set", info.path(spec.name), _stamp(spec, now)))
    if info.created_at is not None:
        spec = info.fields[info.created_at]
        if spec.attribute not in touched:
            managed.append(
                UpdateAction("set_if_not_exists", info.path(spec.name), _stamp(spec, now))
            )
    if info.version is not None:
        path = info.path(info.version)
        if expected_version is None:
            # A key-based update has no version to check but still bumps it, so every holder
            # of an older copy fails its next versioned write instead of overwriting this one.
            managed.append(UpdateAction("increment", path, _ONE))
        else:
            managed.append(UpdateAction("set", path, {"N": str(expected_version + 1)}))
    return managed


def _stamp(spec: FieldSpec, now: datetime) -> AttributeValue:
    av = spec.tagger(now)
    assert av is not None
    return av


@dataclass(frozen=True, slots=True)
class PreparedUpdate:
    """An update ready to send: every action (the caller's and the managed ones) and the
    combined condition."""

    actions: tuple[UpdateAction, ...]
    condition: Condition | None
    must_exist: str | None = None
    """Why the condition requires a stored item (None when the update may create it)."""

    @property
    def touched(self) -> frozenset[str]:
        """Top-level attribute names the update writes."""
        return frozenset(a.path._attribute for a in self.actions)

    @property
    def nested(self) -> bool:
        """True when an action reaches below a top-level attribute."""
        return not all(a.path._is_top_level for a in self.actions)

    def request(
        self, table: str, key: Item, *, return_values: ReturnValues = "NONE"
    ) -> dict[str, Any]:
        """The UpdateItem payload (also the ``Update`` entry of a transaction without
        ``ReturnValues``)."""
        ph = Placeholders()
        request: dict[str, Any] = {
            "TableName": table,
            "Key": key,
            "UpdateExpression": render_update(self.actions, ph),
        }
        request.update(condition_payload(self.condition, ph))
        if return_values != "NONE":
            request["ReturnValues"] = return_values
        return ph.apply(request)


def prepare_update(
    info: ModelInfo,
    actions: tuple[UpdateAction, ...],
    *,
    now: datetime,
    condition: Condition | None = None,
    expected_version: int | None = None,
    must_exist: str | None = None,
) -> PreparedUpdate:
    """Add the managed actions, the version condition and, when the update must not create
    the item (``must_exist`` says why, or :func:`why_update_cannot_create` finds a reason),
    ``attribute_exists(<hash key>)``; an empty update is rejected."""
    if not actions:
        raise ValidationError(
            f"empty update of {info.cls.__name__}: add at least one action "
            "(set, increment, remove, ...)",
            table=info.table,
        )
    managed = _managed(info, actions, now=now, expected_version=expected_version)
    if expected_version is not None and info.version is not None:
        condition = both(condition, version_condition(info, expected_version))
    every = (*actions, *managed)
    reason = must_exist or why_update_cannot_create(info, every)
    if reason is not None:
        assert info.hash_key is not None
        condition = both(condition, info.path(info.hash_key).exists())
    return PreparedUpdate(every, condition, reason)
