"""Read planning (pure, no I/O): key conditions, index choice and the Query/Scan request.

A builder's :class:`ReadSpec` holds everything it was told. :func:`key_terms` splits
``.where()`` conditions into key terms, :func:`resolve_index` picks the table or the index they
fit, and :func:`build_plan` turns a spec into a :class:`ReadPlan`: the request every page
starts from and the attributes a cursor resumes from. Everything wrong with a read that can be
seen without DynamoDB raises ValidationError here, before the first request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .._errors import ValidationError
from .._expressions.core import (
    And,
    AttributePath,
    Between,
    Compare,
    Condition,
    Function,
    Operand,
    Placeholders,
    as_condition,
    projection_expression,
)
from .._model.indexes import IndexSpec
from .._model.model import Model, ModelInfo, model_info
from .._wire.taggers import TypeKind
from .projection import Projection, projected_paths, with_keys

__all__ = [
    "KeyTerm",
    "Operation",
    "Output",
    "ReadPlan",
    "ReadSpec",
    "build_plan",
    "key_terms",
    "pinned_key",
    "resolve_index",
]

Operation = Literal["Query", "Scan"]

_KEY_KINDS = (TypeKind.STRING, TypeKind.BINARY)


# --- key conditions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyTerm:
    """One part of a key condition: the attribute it constrains and how."""

    attribute: str
    condition: Condition
    operator: str
    value: object = None
    """The compared value of an equality (what ``Query.update()`` turns into a key)."""

    @property
    def equality(self) -> bool:
        return self.operator == "=="


def _field(info: ModelInfo, attribute: str) -> str:
    return f"{info.cls.__name__}.{info.by_attribute[attribute].name}"


def _key_attributes(info: ModelInfo) -> set[str]:
    keys = set(info.key_attributes)
    for index in info.indexes.values():
        keys.add(index.hash_key)
        if index.range_key is not None:
            keys.add(index.range_key)
    return keys


def _flatten(condition: Condition, out: list[Condition]) -> None:
    if isinstance(condition, And):
        for part in condition.parts:
            _flatten(part, out)
    else:
        out.append(condition)


_NOT_A_KEY_CONDITION = (
    "{what} cannot be part of a key condition: .where() takes ==, <, <=, >, >=, between() and "
    "begins_with() on key attributes, joined with & or as separate arguments; put other "
    "conditions in .filter()"
)


def _key_path(info: ModelInfo, subject: object, keys: set[str]) -> AttributePath:
    if not isinstance(subject, AttributePath):
        raise ValidationError(_NOT_A_KEY_CONDITION.format(what="size()"))
    if not subject._is_top_level or subject._attribute not in keys:
        raise ValidationError(
            f"{info.cls.__name__}.{subject._dotted} is not a key attribute of the table or of any "
            "index, so it cannot go in .where(); move that condition to .filter()"
        )
    return subject


def _key_term(info: ModelInfo, condition: Condition, keys: set[str]) -> KeyTerm:
    if isinstance(condition, Compare):
        if condition.op == "<>":
            raise ValidationError(_NOT_A_KEY_CONDITION.format(what="!="))
        path = _key_path(info, condition.lhs, keys)
        if not isinstance(condition.rhs, Operand):
            raise ValidationError(
                f"a key condition compares {_field(info, path._attribute)} with a value, not with "
                "another attribute; put that comparison in .filter()"
            )
        operator = "==" if condition.op == "=" else condition.op
        value = condition.rhs.value if operator == "==" else None
        return KeyTerm(path._attribute, condition, operator, value)
    if isinstance(condition, Between):
        path = _key_path(info, condition.subject, keys)
        if not (isinstance(condition.low, Operand) and isinstance(condition.high, Operand)):
            raise ValidationError(
                f"between() on {_field(info, path._attribute)} in a key condition takes two values"
            )
        return KeyTerm(path._attribute, condition, "between")
    if isinstance(condition, Function) and condition.name == "begins_with":
        path = _key_path(info, condition.path, keys)
        if info.by_attribute[path._attribute].kind not in _KEY_KINDS:
            raise ValidationError(
                f"begins_with() needs a string or binary key; {_field(info, path._attribute)} is a "
                "number: use between() or a comparison"
            )
        return KeyTerm(path._attribute, condition, "begins_with")
    what = type(condition).__name__
    if isinstance(condition, Function):
        what = f"{condition.name}()"
    raise ValidationError(_NOT_A_KEY_CONDITION.format(what=what))


def key_terms(info: ModelInfo, conditions: Sequence[object]) -> tuple[KeyTerm, ...]:
    """Split ``.where()`` conditions into key terms, rejecting anything DynamoDB's
    KeyConditionExpression cannot hold (ValidationError saying what to do instead)."""
    flat: list[Condition] = []
    for condition in conditions:
        _flatten(as_condition(condition), flat)
    keys = _key_attributes(info)
    return tuple(_key_term(info, condition, keys) for condition in flat)


@dataclass(frozen=True, slots=True)
class _Target:
    index: IndexSpec | None
    hash_key: str
    range_key: str | None

    def label(self) -> str:
        return "the table" if self.index is None else f"index {self.index.name!r}"


def _targets(info: ModelInfo) -> list[_Target]:
    targets = [_Target(None, info.hash_attribute, info.range_attribute)]
    targets.extend(_Target(i, i.hash_key, i.range_key) for i in info.indexes.values())
    return targets


def _misfit(info: ModelInfo, target: _Target, terms: Sequence[KeyTerm]) -> str | None:
    """Why ``terms`` are not a key condition of ``target``, or None when they are."""
    hash_field = _field(info, target.hash_key)
    range_field = _field(info, target.range_key) if target.range_key else None
    hash_terms = [t for t in terms if t.attribute == target.hash_key]
    if not hash_terms:
        return (
            f"a query on {target.label()} needs its hash key in .where(): "
            f".where({hash_field} == value)"
        )
    if not hash_terms[0].equality:
        ranges = f"its range key {range_field}" if range_field else "no attribute (no range key)"
        return (
            f"the hash key {hash_field} of {target.label()} takes only ==, not "
            f"{hash_terms[0].operator}; range conditions apply to {ranges}"
        )
    for term in terms:
        if term.attribute not in (target.hash_key, target.range_key):
            keys = hash_field + (f" and range key {range_field}" if range_field else "")
            return (
                f"{_field(info, term.attribute)} is not a key of {target.label()} (hash key "
                f"{keys}); move that condition to .filter() or query an index it is a key of"
            )
    return None


def resolve_index(
    info: ModelInfo, terms: Sequence[KeyTerm], index: str | None
) -> IndexSpec | None:
    """The index a query reads (None: the table), checked against its key condition.

    Without an explicit ``index`` the table is preferred; otherwise the one index whose keys
    fit the condition is picked, and several fitting indexes are an error naming them.
    """
    model = info.cls.__name__
    if not terms:
        raise ValidationError(
            f"a query needs the hash key in .where(), e.g. "
            f".where({_field(info, info.hash_attribute)} == value); to read every item use "
            f"db.scan({model})"
        )
    seen: set[str] = set()
    for term in terms:
        if term.attribute in seen:
            raise ValidationError(
                f"{_field(info, term.attribute)} appears twice in .where(); a key condition "
                "holds one condition per key: use between(low, high) for a range"
            )
        seen.add(term.attribute)
    targets = _targets(info)
    if index is not None:
        target = next(t for t in targets if t.index is not None and t.index.name == index)
        reason = _misfit(info, target, terms)
        if reason is not None:
            raise ValidationError(reason)
        return target.index
    fitting = [t for t in targets if _misfit(info, t, terms) is None]
    if fitting and fitting[0].index is None:
        return None
    if len(fitting) == 1:
        return fitting[0].index
    if fitting:
        names = ", ".join(repr(t.index.name) for t in fitting if t.index is not None)
        raise ValidationError(
            f"the key condition fits several indexes of {model} ({names}); choose one with "
            ".index(name)"
        )
    # Explain against the target the caller most likely meant: one whose hash key is pinned.
    pinned = {t.attribute for t in terms if t.equality}
    guess = next((t for t in targets if t.hash_key in pinned), targets[0])
    reason = _misfit(info, guess, terms)
    assert reason is not None
    raise ValidationError(reason)


# --- requests -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class ReadSpec:
    """Everything a builder was told; builders replace it, never change it. (No ``==``:
    attribute paths compare into conditions.)"""

    model: type[Model]
    where: tuple[KeyTerm, ...] = ()
    filter: Condition | None = None
    index: str | None = None
    limit: int | None = None
    page_size: int | None = None
    reverse: bool = False
    consistent: bool = False
    projection: Projection | None = None
    segments: int = 1
    on_invalid: Literal["raise", "skip"] = "raise"


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """A checked request: the payload every page starts from and what a cursor needs."""

    operation: Operation
    table: str
    request: Mapping[str, Any]
    cursor_attributes: tuple[str, ...]
    filtered: bool
    page_size: int | None


Output = Literal["items", "keys", "count"] | tuple[AttributePath, ...]


def _reads_through(info: ModelInfo, index: IndexSpec) -> bool:
    """For model results from an index: True when an LSI must read through to the table for
    attributes it does not project; ValidationError when a GSI lacks attributes."""
    if index.projection == "ALL":
        return False
    if not index.is_global:
        return True
    projected = set(info.key_attributes) | {index.hash_key}
    if index.range_key is not None:
        projected.add(index.range_key)
    if not isinstance(index.projection, str):
        projected.update(index.projection)
    missing = [f.name for f in info.fields.values() if f.attribute not in projected]
    if missing:
        raise ValidationError(
            f"index {index.name!r} does not project {missing}, so a read of it cannot build "
            f"{info.cls.__name__} instances; .select() the projected attributes instead"
        )
    return False


def _output_paths(
    info: ModelInfo, spec: ReadSpec, output: Output, cursor_attributes: Sequence[str]
) -> Sequence[AttributePath] | None:
    """The ProjectionExpression paths of a read (None: whole items)."""
    if isinstance(output, tuple):
        return output
    if output == "keys":
        return with_keys(info, ())
    if spec.projection is None:
        return None
    # Cursors resume from a returned item's keys (an index's too), selected or not.
    return with_keys(info, projected_paths(spec.projection), cursor_attributes)


def _check_filter_keys(info: ModelInfo, index: IndexSpec | None, condition: Condition) -> None:
    keys = (index.hash_key, index.range_key) if index is not None else info.key_attributes
    label = "the table" if index is None else f"index {index.name!r}"
    for path in condition.paths():
        attribute = path._attribute
        if attribute in keys:
            raise ValidationError(
                f"{_field(info, attribute)} is a key of {label}, which DynamoDB does not take in "
                "a query's filter; put that condition in .where() (range keys take ==, <, <=, >, "
                ">=, between() and begins_with())"
            )


def build_plan(
    operation: Operation, spec: ReadSpec, table: str, output: Output = "items"
) -> ReadPlan:
    """The base request of a read: key condition, filter, projection, index, consistency.

    ``output`` is ``"items"`` (the builder's results: whole items or its selection plus the
    keys a cursor needs), ``"keys"`` (the table's key attributes), ``"count"`` (Select=COUNT)
    or exactly the given attribute paths.
    """
    info = model_info(spec.model)
    if operation == "Query":
        index = resolve_index(info, spec.where, spec.index)
    else:
        index = info.indexes[spec.index] if spec.index is not None else None
    if operation == "Query" and spec.filter is not None:
        _check_filter_keys(info, index, spec.filter)
    if spec.consistent and index is not None and index.is_global:
        raise ValidationError(
            f"index {index.name!r} is a global secondary index, which DynamoDB reads only "
            "eventually consistently; drop .consistent() or read the table"
        )
    cursor_attributes = list(info.key_attributes)
    if index is not None:
        cursor_attributes += [
            a for a in (index.hash_key, index.range_key) if a and a not in cursor_attributes
        ]
    ph = Placeholders()
    request: dict[str, Any] = {"TableName": table}
    if index is not None:
        request["IndexName"] = index.name
    if operation == "Query":
        hash_key = index.hash_key if index is not None else info.hash_attribute
        terms = sorted(spec.where, key=lambda term: term.attribute != hash_key)
        request["KeyConditionExpression"] = " AND ".join(t.condition.encode(ph) for t in terms)
        if spec.reverse:
            request["ScanIndexForward"] = False
    if spec.filter is not None:
        request["FilterExpression"] = spec.filter.encode(ph)
    if output == "count":
        request["Select"] = "COUNT"
    else:
        paths = _output_paths(info, spec, output, cursor_attributes)
        if paths is not None:
            request["ProjectionExpression"] = projection_expression(paths, ph)
        elif index is not None and _reads_through(info, index):
            request["Select"] = "ALL_ATTRIBUTES"
    if spec.consistent:
        request["ConsistentRead"] = True
    return ReadPlan(
        operation=operation,
        table=table,
        request=ph.apply(request),
        cursor_attributes=tuple(cursor_attributes),
        filtered=spec.filter is not None,
        page_size=spec.page_size,
    )


# --- single-item key ----------------------------------------------------------------------


def pinned_key(spec: ReadSpec) -> dict[str, object]:
    """The primary key (by field name) of the one item whose full primary key ``spec.where``
    pins with ``==``, for ``Query.update()``; ValidationError for anything else."""
    info = model_info(spec.model)
    extras = [
        name
        for name, used in (
            ("filter()", spec.filter is not None),
            ("index()", spec.index is not None),
            ("limit()", spec.limit is not None),
            ("page_size()", spec.page_size is not None),
            ("reverse()", spec.reverse),
            ("consistent()", spec.consistent),
        )
        if used
    ]
    if extras:
        raise ValidationError(
            f"update() changes the one item under a primary key; drop {', '.join(extras)}"
        )
    pinned = {t.attribute: t for t in spec.where if t.equality}
    if len(spec.where) != len(info.key_attributes) or set(pinned) != set(info.key_attributes):
        wanted = " and ".join(f"{_field(info, a)} == ..." for a in info.key_attributes)
        raise ValidationError(
            f"update() needs .where() to pin the full primary key with ==: {wanted}"
        )
    return {info.by_attribute[a].name: pinned[a].value for a in info.key_attributes}
