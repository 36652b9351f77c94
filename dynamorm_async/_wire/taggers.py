"""Marshalling between Python values and DynamoDB's wire format (pure, no I/O).

Taggers (:func:`tagger_for`), one per annotation, turn a value into an AttributeValue. They
accept exactly the Python values the model reads back equal (a UUID field takes a UUID, not
its text) and enforce DynamoDB's limits (number range and precision, no NaN, aware
datetimes); expression operands and key values go through :func:`to_wire_value`, which also
takes the spellings a read accepts. Updates, keys and the compiled struct codecs (:mod:`.codec`)
use them. Decoding (:func:`untag`, :func:`from_wire_value`) and item
size accounting (``_wire.check_item_size``) follow the same rules.

Nested struct values are encoded by their compiled codec, which is built on these taggers: the
codec module installs the struct tagger (:func:`install_struct_tagger`) when it is imported, so
this module does not depend on it.

Binary values travel base64-encoded because the transport passes item JSON through untouched;
decoding also accepts raw bytes, as boto3-shaped stream images carry them. The wire-format rules
themselves (numbers and their limits, base64, datetime text, epoch seconds, type tags) live in
``_wire``; the names this module always exported are re-exported from there.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

import msgspec

from .._errors import ItemDecodeError, ModelError, ValidationError, short_repr
from .kinds import (
    EPOCH_SECONDS,
    EpochSeconds,
    kind_of,
    strip_annotated,
    unwrap_optional,
)
from .kinds import is_epoch as _is_epoch
from .kinds import is_struct as _is_struct
from .kinds import non_none_args as _non_none_args
from .values import (
    TypeKind,
    decode_binary,
    describe,
    format_number,
    mismatch,
    parse_number,
)
from .values import encode_binary as _b64
from .values import epoch_datetime as _epoch_datetime
from .values import epoch_seconds as _epoch_seconds
from .values import format_datetime as _format_datetime

__all__ = [
    "EPOCH_SECONDS",
    "AttributeValue",
    "EpochSeconds",
    "Item",
    "Tagger",
    "TypeKind",
    "a_name",
    "at",
    "decode_binary",
    "describe",
    "format_number",
    "from_wire_value",
    "install_struct_tagger",
    "kind_of",
    "mismatch",
    "parse_number",
    "strip_annotated",
    "tagger_for",
    "to_wire_value",
    "untag",
    "unwrap_optional",
]

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]
Tagger = Callable[[Any], AttributeValue | None]


# --- taggers ------------------------------------------------------------------------------
#
# A tagger is the write side of one annotation: it accepts exactly the Python values that the
# model's decoder turns back into an equal value, and raises ValidationError for anything else
# (a str for a UUID field, an enum name, a dict for a struct, a float for an int). Expression
# operands, which are compared rather than stored, go through :func:`to_wire_value` instead.


def a_name(name: str) -> str:
    """``a Line``, ``an Address``: the article for a type name in messages."""
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


def _tag_str(value: Any) -> AttributeValue:
    if isinstance(value, str):
        return {"S": value}
    raise mismatch("a str", value)


def _tag_datetime(value: Any) -> AttributeValue:
    if isinstance(value, datetime):
        return {"S": _format_datetime(value)}
    raise mismatch("a datetime", value)


def _tag_date(value: Any) -> AttributeValue:
    if isinstance(value, date) and not isinstance(value, datetime):
        return {"S": value.isoformat()}
    raise mismatch("a date", value)


def _tag_uuid(value: Any) -> AttributeValue:
    if isinstance(value, uuid.UUID):
        return {"S": str(value)}
    raise mismatch("a uuid.UUID", value)


def _tag_int(value: Any) -> AttributeValue:
    if isinstance(value, int) and not isinstance(value, bool):
        return {"N": format_number(value)}
    raise mismatch("an int", value)


def _tag_float(value: Any) -> AttributeValue:
    if isinstance(value, float):
        return {"N": format_number(value)}
    # An int reads back as the equal float only while the float can hold it exactly.
    if isinstance(value, int) and not isinstance(value, bool) and float(value) == value:
        return {"N": format_number(value)}
    raise mismatch("a float", value)


def _tag_decimal(value: Any) -> AttributeValue:
    if isinstance(value, Decimal) or (isinstance(value, int) and not isinstance(value, bool)):
        return {"N": format_number(value)}
    # A float reads back as Decimal(repr(x)), which is not equal to the float.
    raise mismatch("a Decimal (or int)", value)


def _tag_binary(value: Any) -> AttributeValue:
    if isinstance(value, bytes | bytearray):
        return {"B": _b64(value)}
    raise mismatch("bytes", value)


def _tag_bool(value: Any) -> AttributeValue:
    if isinstance(value, bool):
        return {"BOOL": value}
    raise mismatch("a bool", value)


def _tag_null(value: Any) -> AttributeValue:
    if value is None:
        return {"NULL": True}
    raise mismatch("None", value)


def _tag_scalar(value: Any) -> AttributeValue:
    """An enum or Literal value (already checked to belong) as S or N."""
    if isinstance(value, str):
        return {"S": value}
    return {"N": format_number(value)}


def _enum_tagger(tp: type[enum.Enum]) -> Tagger:
    names = ", ".join(repr(m.value) for m in list(tp)[:6])

    def tag(value: Any) -> AttributeValue:
        if isinstance(value, tp):
            return _tag_scalar(value.value)
        raise mismatch(f"{a_name(tp.__name__)} member (values {names})", value)

    return tag


def _literal_tagger(tp: Any) -> Tagger:
    allowed = get_args(tp)

    def tag(value: Any) -> AttributeValue:
        # 1 == True, so the type must match as well as the value.
        if any(value == a and type(value) is type(a) for a in allowed):
            return _tag_scalar(value)
        raise mismatch(f"one of {allowed!r}", value)

    return tag


def _union_tagger(tp: Any) -> Tagger:
    """Unions of several types: msgspec decides membership, as it does when reading back."""

    def tag(value: Any) -> AttributeValue | None:
        try:
            msgspec.convert(value, tp)
        except msgspec.ValidationError:
            raise mismatch(_type_name(tp), value) from None
        return _tag_dynamic(value)

    return tag


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp).replace("typing.", "")


def _tag_dynamic(value: Any) -> AttributeValue | None:
    """``Any`` fields: the value's own Python type picks the DynamoDB type."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | float | Decimal):
        return {"N": format_number(value)}
    if isinstance(value, enum.Enum):
        return _tag_scalar(value.value)
    if isinstance(value, datetime):
        return _tag_datetime(value)
    if isinstance(value, date):
        return _tag_date(value)
    if isinstance(value, uuid.UUID):
        return _tag_uuid(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return {"B": _b64(value)}
    if isinstance(value, Mapping):
        return {"M": _tag_map_values(value, _tag_dynamic, omit_empty=True)}
    if isinstance(value, list | tuple):
        return {"L": _tag_elements(value, _tag_dynamic)}
    if isinstance(value, set | frozenset):
        if not value:
            return None
        if all(isinstance(v, str) for v in value):
            return {"SS": sorted(value)}
        if all(isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in value):
            return {"NS": sorted(format_number(v) for v in value)}
        if all(isinstance(v, bytes) for v in value):
            return {"BS": sorted(_b64(v) for v in value)}
        raise ValidationError("a set must hold only strings, only numbers or only bytes")
    if isinstance(value, msgspec.Struct):
        return _struct_tagger(type(value))(value)
    raise ValidationError(f"cannot store a value of type {type(value).__name__}")


def _nullable(tagger: Tagger) -> Tagger:
    def tag(value: Any) -> AttributeValue | None:
        return {"NULL": True} if value is None else tagger(value)

    return tag


_SET_TYPES = (set, frozenset)
_only_str = frozenset({str}).issuperset
_only_int = frozenset({int}).issuperset


def _set_tagger(tag: str, element: Tagger) -> Tagger:
    """SS/NS/BS of elements tagged by ``element``, sorted so equal sets encode equally."""

    def tag_set(value: Any) -> AttributeValue | None:
        if not isinstance(value, set | frozenset):
            raise mismatch("a set", value)
        if not value:
            return None  # DynamoDB has no empty sets: the field decides (see codec.py)
        return {tag: sorted({_element(element, e) for e in value})}

    return tag_set


def _element(element: Tagger, value: Any) -> Any:
    av = element(value)
    assert av is not None  # scalar taggers never omit
    for inner in av.values():
        return inner
    raise AssertionError("empty attribute value")  # pragma: no cover - taggers return one tag


def _string_set_tagger(element: Tagger) -> Tagger:
    slow = _set_tagger("SS", element)

    def tag(value: Any) -> AttributeValue | None:
        # Plain strings need no rendering: one C-level type check covers every element.
        if value.__class__ in _SET_TYPES and _only_str(map(type, value)):
            return {"SS": sorted(value)} if value else None
        return slow(value)

    return tag


def _int_set_tagger(element: Tagger) -> Tagger:
    slow = _set_tagger("NS", element)

    def tag(value: Any) -> AttributeValue | None:
        if value.__class__ in _SET_TYPES and _only_int(map(type, value)):
            if not value:
                return None
            texts = sorted(map(str, value))
            if max(map(len, texts)) < 39:  # <= 38 digits: within DynamoDB's precision and range
                return {"NS": texts}
        return slow(value)

    return tag


_SCALAR_TAGGERS: dict[Any, Tagger] = {
    str: _tag_str,
    int: _tag_int,
    float: _tag_float,
    Decimal: _tag_decimal,
    bool: _tag_bool,
    bytes: _tag_binary,
    bytearray: _tag_binary,
    datetime: _tag_datetime,
    date: _tag_date,
    uuid.UUID: _tag_uuid,
    type(None): _tag_null,
}


@cache
def tagger_for(tp: Any, *, epoch: bool = False) -> Tagger:
    """Compile the function that turns a value of annotation ``tp`` into an AttributeValue.

    The tagger accepts exactly the values that read back equal (see the section comment) and
    returns ``None`` for values DynamoDB cannot hold (empty sets), leaving it to the field to
    decide. ``epoch`` (or an :data:`EPOCH_SECONDS` marker) stores datetimes as epoch seconds,
    the format of TTL attributes.
    """
    if epoch or _is_epoch(tp):
        # An int field holds the seconds itself; a datetime field is converted to them.
        base = unwrap_optional(tp)
        seconds = _tag_int if base is int else _epoch_seconds
        return _nullable(seconds) if base is not strip_annotated(tp) else seconds
    tp = strip_annotated(tp)
    args = _non_none_args(tp)
    if args is not None:
        inner = tagger_for(args[0]) if len(args) == 1 else _union_tagger(Union[args])  # noqa: UP007
        return _nullable(inner) if type(None) in get_args(tp) else inner
    kind = kind_of(tp)  # raises ModelError for what DynamoDB cannot store
    if tp is Any or kind is TypeKind.ANY:
        return _tag_dynamic
    scalar = _SCALAR_TAGGERS.get(tp)
    if scalar is not None:
        return scalar
    origin = get_origin(tp)
    if origin is Literal:
        return _literal_tagger(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_tagger(tp)
    if origin in _SET_TYPES:
        (element,) = get_args(tp) or (Any,)
        element_tagger = tagger_for(element)
        if strip_annotated(element) is str:
            return _string_set_tagger(element_tagger)
        if strip_annotated(element) is int:
            return _int_set_tagger(element_tagger)
        return _set_tagger(kind.value, element_tagger)
    if kind is TypeKind.LIST:
        return _list_tagger(tp)
    if kind is TypeKind.MAP:
        if _is_struct(tp):
            return _struct_tagger(tp)
        map_args = get_args(tp)
        value_tagger = tagger_for(map_args[1]) if map_args else _tag_dynamic
        return _map_tagger(value_tagger, omit_empty=not map_args)
    if isinstance(tp, type):
        # Subclasses of the scalar types (str/int subclasses, datetime subclasses) store as
        # their base and read back as it.
        for base, tagger in _SCALAR_TAGGERS.items():
            if isinstance(base, type) and issubclass(tp, base):
                return tagger
    raise ModelError(f"unsupported field type {tp!r}")


_EMPTY_MAP_KEY = "a map key is empty: DynamoDB rejects empty attribute names"
_EMPTY_SET = (
    "an empty set cannot be stored here: DynamoDB has no empty sets, and the value would "
    "read back as something else"
)


def _map_tagger(value_tagger: Tagger, *, omit_empty: bool) -> Tagger:
    def tag(value: Any) -> AttributeValue:
        if not isinstance(value, dict):
            raise mismatch("a dict", value)
        return {"M": _tag_map_values(value, value_tagger, omit_empty=omit_empty)}

    return tag


def _tag_map_values(value: Any, value_tagger: Tagger, *, omit_empty: bool) -> dict[str, Any]:
    """Tag each value of a map; errors carry the key that holds the bad value."""
    out: dict[str, Any] = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise at(mismatch("a str map key", k), f"[{short_repr(k)}]")
        if k == "":
            raise ValidationError(_EMPTY_MAP_KEY)
        try:
            tagged = value_tagger(v)
        except ValidationError as exc:
            raise at(exc, f"[{short_repr(k)}]") from None
        if tagged is not None:
            out[k] = tagged
        elif not omit_empty:
            # A typed map would read back without the key.
            raise at(ValidationError(_EMPTY_SET), f"[{short_repr(k)}]")
    return out


def _tag_elements(values: Any, element: Tagger) -> list[AttributeValue]:
    """Tag each element of a list; errors carry the index of the bad element."""
    try:
        return [_or_null(element(e)) for e in values]
    except ValidationError:
        pass
    for index, e in enumerate(values):
        try:
            _or_null(element(e))
        except ValidationError as exc:
            raise at(exc, f"[{index}]") from None
    raise AssertionError("unreachable")  # pragma: no cover - the first pass raised


def _list_tagger(tp: Any) -> Tagger:
    args = get_args(tp)
    container = get_origin(tp) or tp
    if container is tuple and args and (len(args) != 2 or args[1] is not Ellipsis):
        taggers = [tagger_for(a) for a in args]

        def tag_tuple(v: Any) -> AttributeValue:
            if not isinstance(v, tuple) or len(v) != len(taggers):
                raise mismatch(f"a tuple of {len(taggers)} items", v)
            out = []
            for index, (t, e) in enumerate(zip(taggers, v, strict=True)):
                try:
                    out.append(_or_null(t(e)))
                except ValidationError as exc:
                    raise at(exc, f"[{index}]") from None
            return {"L": out}

        return tag_tuple
    elem = tagger_for(args[0]) if args else _tag_dynamic
    name = "a list" if container is list else "a tuple"

    def tag_list(v: Any) -> AttributeValue:
        # A tuple in a list field (or a list in a tuple field) would read back as the other.
        if not isinstance(v, container):
            raise mismatch(name, v)
        return {"L": _tag_elements(v, elem)}

    return tag_list


def _or_null(av: AttributeValue | None) -> AttributeValue:
    # Inside a list an empty set can be neither dropped (positions shift) nor stored.
    if av is None:
        raise ValidationError(_EMPTY_SET)
    return av


def at(exc: ValidationError, step: str) -> ValidationError:
    """``exc`` one step further down a value (``.field``, ``[3]``, ``['key']``).

    The steps collect in ``exc.field_path`` as the error travels up; the struct or model that
    finally reports it prefixes its own name (``Order.lines[1].qty``).
    """
    exc.field_path = (step, *exc.field_path)
    return exc


#: Makes the tagger of a nested struct class (stored as M). Struct values are encoded by their
#: compiled codec, which is built on the taggers here, so :mod:`.codec` installs the factory when
#: it is imported (the package imports it before any model exists) and this module does not
#: import it.
_struct_tagger: Callable[[type[msgspec.Struct]], Tagger]


def install_struct_tagger(factory: Callable[[type[msgspec.Struct]], Tagger]) -> None:
    """Set how :func:`tagger_for` tags struct annotations; :mod:`.codec` calls this once."""
    global _struct_tagger
    _struct_tagger = factory


def to_wire_value(tp: Any, value: Any) -> AttributeValue:
    """Encode an expression operand or key value as an AttributeValue using annotation ``tp``.

    Operands are compared with stored values, not stored, so they may also be spelled the
    way a read would accept them (a UUID's text, an enum's value); such a spelling is
    converted to the field's type first and must then be a valid stored value.
    """
    if value is None and tp is not None and kind_of(tp) is not TypeKind.NULL:
        base = strip_annotated(tp)
        if base is not Any and _non_none_args(base) is None:
            raise ValidationError(
                "None is not a stored value here (None fields are left out of items): "
                "test for a missing attribute with .not_exists()"
            )
    if tp is None:
        tagged = _tag_dynamic(value)
    else:
        tagger = tagger_for(tp)
        try:
            tagged = tagger(value)
        except ValidationError:
            try:
                converted = msgspec.convert(value, strip_annotated(tp))
            except (msgspec.ValidationError, TypeError):
                raise mismatch(_type_name(strip_annotated(tp)), value) from None
            tagged = tagger(converted)
    if tagged is None:
        raise ValidationError("an empty set cannot be used as a value: DynamoDB rejects it")
    return tagged


# --- decoding -----------------------------------------------------------------------------


def untag(av: Mapping[str, Any]) -> Any:
    """Strip DynamoDB type tags: N -> int/Decimal, B -> base64 str, sets -> lists."""
    for tag, value in av.items():
        if tag == "S":
            return value
        if tag == "N":
            return parse_number(value)
        if tag == "M":
            return {k: untag(v) for k, v in value.items()}
        if tag == "L":
            return [untag(v) for v in value]
        if tag == "BOOL":
            return value
        if tag == "B":
            return _b64(value)
        if tag == "NULL":
            return None
        if tag == "SS":
            return value
        if tag == "NS":
            return [parse_number(v) for v in value]
        if tag == "BS":
            return [_b64(v) for v in value]
    raise ValidationError(f"unknown attribute value {short_repr(dict(av))}")


def from_wire_value(tp: Any, av: Mapping[str, Any]) -> Any:
    """Decode one AttributeValue into annotation ``tp``."""
    if tp is not None and _is_epoch(tp) and "N" in av:
        return _epoch_datetime(av["N"])
    value = untag(av)
    if tp is None:
        return value
    try:
        return msgspec.convert(value, tp)
    except msgspec.ValidationError as exc:
        raise ItemDecodeError(
            f"stored value {short_repr(dict(av))} does not fit {tp!r}: {exc}"
        ) from exc
