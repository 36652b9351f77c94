"""What one struct field may hold when it is written, so that every write reads back (pure).

The model is the schema: a value is stored only if the model's decoder turns it back into an
equal value. The taggers of :mod:`.taggers` enforce that per annotation; a :class:`FieldRule` adds
what only the field knows:

- **None**: an Optional field whose default is None (or that has no default) leaves None out
  of the item, as absent reads back as None; an Optional field with another default stores
  NULL, since absent would read back as that default; any other field rejects None.
- **Empty sets**: DynamoDB has none, so an empty set is left out, which reads back as the
  field's default: allowed only when that default is itself an empty set.
- **Constraints**: ``Annotated[..., msgspec.Meta(...)]`` bounds are checked by msgspec, as
  the decoder checks them.

Compiled encoders (:mod:`.codec`) inline these rules; when one rejects an instance,
:func:`locate` walks it again with the rules here to say which field, element or key holds
the bad value (``Order.lines[1].qty: expected an int, got str 'x'``).
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Callable
from typing import Any, Literal, get_args, get_origin

import msgspec

from .._errors import ValidationError
from .kinds import non_none_args as _non_none_args
from .taggers import (
    AttributeValue,
    Tagger,
    at,
    describe,
    strip_annotated,
)

__all__ = [
    "ENCODE_ERRORS",
    "MAX_NESTING",
    "FieldRule",
    "NoneRule",
    "admits_none",
    "check_nesting",
    "constraint_checker",
    "empty_set_error",
    "locate",
    "max_nesting",
    "none_error",
]

#: What an encoder may raise on a value it rejects; anything but ValidationError is
#: turned into one by :func:`locate`.
ENCODE_ERRORS: tuple[type[BaseException], ...] = (
    ValidationError,
    TypeError,
    ValueError,
    AttributeError,
    LookupError,
    ArithmeticError,
)

_EMPTY_FACTORIES = (set, frozenset)


class NoneRule(enum.Enum):
    """How a field stores None."""

    OMIT = "omit"
    NULL = "null"
    REJECT = "reject"


class FieldRule:
    """The write rules of one struct field: its tagger plus None, empty-set and constraint
    handling (see the module docstring)."""

    __slots__ = (
        "attribute",
        "check",
        "empty_ok",
        "name",
        "none",
        "omit_default",
        "required",
        "tagger",
    )

    def __init__(
        self, info: msgspec.structs.FieldInfo, annotation: Any, tagger: Tagger, *, omit: bool
    ) -> None:
        self.name = info.name
        self.attribute = info.encode_name
        self.tagger = tagger
        #: No default: an item without the attribute does not load (unless Optional).
        self.required = (
            info.default is msgspec.NODEFAULT and info.default_factory is msgspec.NODEFAULT
        )
        self.none = _none_rule(info, annotation)
        self.empty_ok = _default_is_empty_set(info)
        self.check = constraint_checker(annotation)
        #: With ``omit_defaults``: the test that a value equals the default (left out).
        self.omit_default = _default_test(info) if omit else None

    def encode(self, value: Any) -> AttributeValue | None:
        """The value's AttributeValue, None to leave the attribute out; raises
        ValidationError for a value that would not read back."""
        if value is None:
            if self.none is NoneRule.REJECT:
                raise none_error()
            return {"NULL": True} if self.none is NoneRule.NULL else None
        if self.omit_default is not None and self.omit_default(value):
            return None
        if self.check is not None:
            self.check(value)
        try:
            tagged = self.tagger(value)
        except ValidationError:
            raise
        except ENCODE_ERRORS as exc:
            raise ValidationError(f"cannot store {describe(value)}: {exc}") from None
        if tagged is None and not self.empty_ok:
            raise empty_set_error()
        return tagged


def none_error() -> ValidationError:
    """None in a field that cannot hold it."""
    return ValidationError(
        "None cannot be stored: the field is not Optional (annotate it `X | None`)"
    )


def empty_set_error() -> ValidationError:
    """An empty set in a field whose default is not an empty set."""
    return ValidationError(
        "an empty set cannot be stored: DynamoDB has no empty sets and the field would read "
        "back as its default; give it default_factory=set or store None in an Optional field"
    )


def admits_none(annotation: Any) -> bool:
    """True when None is a value of ``annotation`` (Optional, None or Any)."""
    tp = strip_annotated(annotation)
    if tp is Any or tp is type(None):
        return True
    return _non_none_args(tp) is not None and type(None) in get_args(tp)


def _none_rule(info: msgspec.structs.FieldInfo, annotation: Any) -> NoneRule:
    if not admits_none(annotation):
        return NoneRule.REJECT
    if info.default_factory is not msgspec.NODEFAULT:
        return NoneRule.NULL
    if info.default is msgspec.NODEFAULT or info.default is None:
        return NoneRule.OMIT
    return NoneRule.NULL


def _default_is_empty_set(info: msgspec.structs.FieldInfo) -> bool:
    if info.default_factory is not msgspec.NODEFAULT:
        return info.default_factory in _EMPTY_FACTORIES
    return isinstance(info.default, set | frozenset) and not info.default


def _default_test(info: msgspec.structs.FieldInfo) -> Callable[[Any], bool] | None:
    """msgspec's ``omit_defaults`` test for one field, or None when it never omits."""
    if info.default is not msgspec.NODEFAULT:
        default = info.default
        return lambda value: bool(value.__class__ is default.__class__ and value == default)
    factory = info.default_factory
    if factory in (list, dict, set, frozenset, bytearray, tuple):
        return lambda value: value.__class__ is factory and not value
    return None


def constraint_checker(annotation: Any) -> Callable[[Any], None] | None:
    """A check of the ``msgspec.Meta`` constraints in ``annotation``, or None without any."""
    if not _has_constraints(annotation):
        return None

    def check(value: Any) -> None:
        try:
            msgspec.convert(value, annotation)
        except msgspec.ValidationError as exc:
            reason, _, where = str(exc).partition(" - at `$")
            error = ValidationError(f"{reason}: {describe(value)}")
            if where:
                error = at(error, where.rstrip("`"))
            raise error from None

    return check


def _has_constraints(tp: Any) -> bool:
    """True when ``tp`` carries msgspec.Meta constraints (not inside nested structs)."""
    metadata = getattr(tp, "__metadata__", ())
    if any(isinstance(m, msgspec.Meta) for m in metadata):
        return True
    if metadata:
        return _has_constraints(get_args(tp)[0])
    return any(_has_constraints(a) for a in get_args(tp) if a is not Ellipsis)


def locate(
    cls: type[msgspec.Struct], rules: tuple[FieldRule, ...], obj: Any, exc: BaseException
) -> ValidationError:
    """The error of an instance a compiled encoder rejected, naming the field path.

    Each field is encoded again by its rule; the first that fails is the one to report. Steps
    collected below (``[1]``, ``.qty``) are kept, so a nested struct's error reads from the
    outermost struct: ``Order.lines[1].qty: expected an int, got str 'x'``.
    """
    for rule in rules:
        try:
            rule.encode(getattr(obj, rule.name))
        except ValidationError as inner:
            return _report(cls, at(inner, f".{rule.name}"))
    return ValidationError(f"{cls.__name__}: cannot store {describe(obj)}: {exc}")


def _report(cls: type, error: ValidationError) -> ValidationError:
    path = f"{cls.__name__}{''.join(error.field_path)}"
    report = ValidationError(f"{path}: {error.reason}", path=path, model=cls)
    report.field_path = error.field_path
    report.reason = error.reason
    return report


#: DynamoDB nests maps and lists at most 32 levels deep, the attribute itself included: an
#: attribute value holds at most 31 containers inside each other.
MAX_NESTING = 31


def max_nesting(annotation: Any, _seen: frozenset[type] = frozenset()) -> float:
    """How many maps/lists a value of ``annotation`` can nest (``inf`` when unbounded)."""
    tp = strip_annotated(annotation)
    if tp is Any:
        return float("inf")
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if tp in _seen:
            return float("inf")  # a recursive struct
        hints = _struct_hints(tp)
        inner = [max_nesting(hints[f.name], _seen | {tp}) for f in msgspec.structs.fields(tp)]
        return 1 + max(inner, default=0)
    origin = get_origin(tp)
    args = [a for a in get_args(tp) if a is not Ellipsis]
    if origin is Literal:
        return 0
    if origin in (list, tuple, dict) or tp in (list, tuple, dict):
        if not args:
            return float("inf")
        return 1 + max(max_nesting(a, _seen) for a in args)
    return max((max_nesting(a, _seen) for a in args), default=0)


def _struct_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def check_nesting(av: AttributeValue, *, levels: int = MAX_NESTING) -> None:
    """Reject an attribute value nested deeper than DynamoDB allows."""
    stack: list[tuple[Any, int]] = [(av, 1)]
    while stack:
        value, depth = stack.pop()
        children: Any = value.get("M")
        if children is not None:
            children = children.values()
        else:
            children = value.get("L")
            if children is None:
                continue
        if depth > levels:
            raise ValidationError(
                f"value nests maps/lists more than {MAX_NESTING + 1} levels deep (DynamoDB's "
                "limit, the attribute included)"
            )
        stack.extend((child, depth + 1) for child in children)
