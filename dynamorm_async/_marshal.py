"""Marshalling between Python values and DynamoDB's wire format (pure, no I/O).

Encoding runs ``msgspec.to_builtins`` (C speed) and then tags each value with its DynamoDB type
using a tagger compiled once per annotation. Decoding strips the tags and hands the builtins to
``msgspec.convert``, which rebuilds structs, datetimes, UUIDs, enums, sets and base64 bytes.
Binary values travel base64-encoded because the transport passes item JSON through untouched.
"""

from __future__ import annotations

import base64
import enum
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Context, Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec

from ._errors import ModelError, ValidationError

__all__ = [
    "AttributeValue",
    "Item",
    "TypeKind",
    "check_item_size",
    "format_number",
    "from_wire_value",
    "item_size",
    "kind_of",
    "strip_annotated",
    "tagger_for",
    "to_wire_value",
    "untag",
    "untag_item",
]

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]
Tagger = Callable[[Any], AttributeValue | None]

MAX_ITEM_BYTES = 400 * 1024
_MAX_DIGITS = 38
_NUMBER_CONTEXT = Context(prec=_MAX_DIGITS)


class TypeKind(enum.Enum):
    """The DynamoDB scalar family an annotation maps to; used for key and set validation."""

    STRING = "S"
    NUMBER = "N"
    BINARY = "B"
    BOOL = "BOOL"
    NULL = "NULL"
    LIST = "L"
    MAP = "M"
    STRING_SET = "SS"
    NUMBER_SET = "NS"
    BINARY_SET = "BS"
    ANY = "ANY"


def strip_annotated(tp: Any) -> Any:
    """Return the annotation without ``Annotated`` metadata."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _non_none_args(tp: Any) -> tuple[Any, ...] | None:
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return tuple(a for a in get_args(tp) if a is not type(None))
    return None


def unwrap_optional(tp: Any) -> Any:
    """``X | None`` -> ``X``; other annotations unchanged."""
    tp = strip_annotated(tp)
    args = _non_none_args(tp)
    if args is not None and len(args) == 1:
        return strip_annotated(args[0])
    return tp


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def kind_of(tp: Any) -> TypeKind:
    """Classify an annotation by the DynamoDB type it is stored as (raises ModelError)."""
    tp = unwrap_optional(tp)
    if tp is Any:
        return TypeKind.ANY
    if tp is type(None):
        return TypeKind.NULL
    if _non_none_args(tp) is not None:
        kinds = {kind_of(a) for a in _non_none_args(tp) or ()}
        if len(kinds) == 1:
            return kinds.pop()
        if kinds <= {TypeKind.STRING, TypeKind.NUMBER, TypeKind.BOOL}:
            return TypeKind.ANY
        raise ModelError(f"union {tp!r} mixes types that cannot be told apart on the wire")
    origin = get_origin(tp)
    if origin is Literal:
        kinds = {kind_of(type(v)) for v in get_args(tp)}
        if len(kinds) != 1:
            raise ModelError(f"Literal {tp!r} must hold values of one DynamoDB type")
        return kinds.pop()
    if origin in (set, frozenset):
        (elem,) = get_args(tp) or (Any,)
        elem_kind = kind_of(elem)
        sets = {
            TypeKind.STRING: TypeKind.STRING_SET,
            TypeKind.NUMBER: TypeKind.NUMBER_SET,
            TypeKind.BINARY: TypeKind.BINARY_SET,
        }
        if elem_kind not in sets:
            raise ModelError(f"{tp!r}: DynamoDB sets hold only strings, numbers or bytes")
        return sets[elem_kind]
    if origin in (list, tuple):
        for a in get_args(tp):
            if a is not Ellipsis:
                kind_of(a)
        return TypeKind.LIST
    if origin is dict:
        args = get_args(tp)
        if args:
            if strip_annotated(args[0]) is not str:
                raise ModelError(f"{tp!r}: map keys must be str")
            kind_of(args[1])
        return TypeKind.MAP
    if tp in (list, tuple):
        return TypeKind.LIST
    if tp is dict:
        return TypeKind.MAP
    if isinstance(tp, type):
        if issubclass(tp, bool):
            return TypeKind.BOOL
        if issubclass(tp, enum.Enum):
            kinds = {kind_of(type(m.value)) for m in tp}
            if len(kinds) != 1 or not kinds <= {TypeKind.STRING, TypeKind.NUMBER}:
                raise ModelError(f"enum {tp.__name__} needs all-str or all-number values")
            return kinds.pop()
        if issubclass(tp, str | datetime | date | uuid.UUID):
            return TypeKind.STRING
        if issubclass(tp, int | float | Decimal):
            return TypeKind.NUMBER
        if issubclass(tp, bytes | bytearray):
            return TypeKind.BINARY
        if _is_struct(tp):
            return TypeKind.MAP
    raise ModelError(f"unsupported field type {tp!r}")


# --- numbers ------------------------------------------------------------------------------


def format_number(value: Any) -> str:
    """Render an int/float/Decimal as a DynamoDB number string, enforcing DynamoDB's limits."""
    if isinstance(value, bool):
        raise ValidationError("a bool is not a number; use a bool field (BOOL)")
    if isinstance(value, int):
        text = str(value)
        digits = text.lstrip("-").rstrip("0")
        if len(digits) > _MAX_DIGITS:
            raise ValidationError(f"number {text} has more than 38 significant digits")
        if len(text.lstrip("-")) > 126:
            raise ValidationError(f"number {text} exceeds DynamoDB's range (1E+126)")
        return text
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationError(f"{value} cannot be stored: DynamoDB has no NaN or Infinity")
        text = repr(value)
        _check_decimal(Decimal(text), text)
        return text
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError(f"{value} cannot be stored: DynamoDB has no NaN or Infinity")
        text = str(value)
        _check_decimal(value, text)
        return text
    raise ValidationError(f"expected a number, got {type(value).__name__}: {value!r}")


def _check_decimal(value: Decimal, text: str) -> None:
    if value.is_zero():
        return
    sign, digits, exponent = value.as_tuple()
    significant = "".join(map(str, digits)).strip("0")
    if len(significant) > _MAX_DIGITS:
        raise ValidationError(f"number {text} has more than 38 significant digits")
    adjusted = value.adjusted()
    if adjusted > 125 or adjusted < -130:
        raise ValidationError(f"number {text} is outside DynamoDB's range (1E-130 .. 9.9E+125)")


def parse_number(text: str) -> int | Decimal:
    """Parse a DynamoDB number string exactly: int when integral, Decimal otherwise."""
    try:
        return int(text)
    except ValueError:
        try:
            number = Decimal(text)
        except InvalidOperation as exc:
            raise ValidationError(f"malformed number {text!r} on the wire") from exc
        if number == number.to_integral_value() and abs(number.adjusted()) < 40:
            return int(number)
        return number


# --- encoding -----------------------------------------------------------------------------


def _format_datetime(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(
                f"naive datetime {value.isoformat()} cannot be stored: attach a timezone "
                "(datetime.now(UTC))"
            )
        # Fixed-width UTC text keeps lexicographic order equal to time order (range keys).
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, str):
        return value
    raise ValidationError(f"expected a datetime, got {type(value).__name__}")


def _tag_string(value: Any) -> AttributeValue:
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, datetime):
        return {"S": _format_datetime(value)}
    if isinstance(value, date):
        return {"S": value.isoformat()}
    if isinstance(value, uuid.UUID | enum.Enum):
        return {"S": str(value.value if isinstance(value, enum.Enum) else value)}
    raise ValidationError(f"expected a string, got {type(value).__name__}: {value!r}")


def _tag_number(value: Any) -> AttributeValue:
    if isinstance(value, enum.Enum):
        value = value.value
    return {"N": format_number(value)}


def _b64(value: Any) -> str:
    if isinstance(value, str):
        return value  # to_builtins already base64-encoded it
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")
    raise ValidationError(f"expected bytes, got {type(value).__name__}")


def _tag_binary(value: Any) -> AttributeValue:
    return {"B": _b64(value)}


def _tag_bool(value: Any) -> AttributeValue:
    if not isinstance(value, bool):
        raise ValidationError(f"expected a bool, got {type(value).__name__}")
    return {"BOOL": value}


def _tag_dynamic(value: Any) -> AttributeValue | None:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | float | Decimal):
        return {"N": format_number(value)}
    if isinstance(value, datetime | date | uuid.UUID | enum.Enum):
        return _tag_string(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return {"B": _b64(value)}
    if isinstance(value, Mapping):
        return {"M": {str(k): _tag_dynamic(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [_tag_dynamic(v) for v in value]}
    if isinstance(value, set | frozenset):
        if not value:
            return None
        if all(isinstance(v, str) for v in value):
            return {"SS": sorted(value)}
        if all(isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in value):
            return {"NS": [format_number(v) for v in value]}
        if all(isinstance(v, bytes) for v in value):
            return {"BS": [_b64(v) for v in value]}
        raise ValidationError("a set must hold only strings, only numbers or only bytes")
    if isinstance(value, msgspec.Struct):
        return _tag_dynamic(msgspec.to_builtins(value, builtin_types=_PASSTHROUGH))
    raise ValidationError(f"cannot store a value of type {type(value).__name__}")


_PASSTHROUGH = (Decimal, datetime)


def _nullable(tagger: Tagger) -> Tagger:
    def tag(value: Any) -> AttributeValue | None:
        return {"NULL": True} if value is None else tagger(value)

    return tag


@lru_cache(maxsize=None)
def tagger_for(tp: Any, *, epoch: bool = False) -> Tagger:
    """Compile the function that turns a builtin value of annotation ``tp`` into an AttributeValue.

    The input is what ``msgspec.to_builtins(..., builtin_types=(Decimal, datetime))`` produced
    (or the plain Python value). Returns ``None`` for values DynamoDB cannot hold (empty sets).
    """
    if epoch:
        return _tag_epoch
    tp = strip_annotated(tp)
    args = _non_none_args(tp)
    if args is not None:
        inner = tagger_for(args[0]) if len(args) == 1 else _tag_dynamic
        return _nullable(inner)
    kind = kind_of(tp)
    origin = get_origin(tp)
    if kind is TypeKind.STRING:
        if isinstance(tp, type) and issubclass(tp, datetime):
            return lambda v: {"S": _format_datetime(v)}
        return _tag_string
    if kind is TypeKind.NUMBER:
        return _tag_number
    if kind is TypeKind.BINARY:
        return _tag_binary
    if kind is TypeKind.BOOL:
        return _tag_bool
    if kind is TypeKind.NULL:
        return lambda v: {"NULL": True}
    if kind is TypeKind.STRING_SET:
        elem = tagger_for(get_args(tp)[0])
        return lambda v: {"SS": sorted(elem(e)["S"] for e in v)} if v else None  # type: ignore[index]
    if kind is TypeKind.NUMBER_SET:
        return lambda v: {"NS": [format_number(_enum_value(e)) for e in v]} if v else None
    if kind is TypeKind.BINARY_SET:
        return lambda v: {"BS": [_b64(e) for e in v]} if v else None
    if kind is TypeKind.LIST:
        return _list_tagger(tp, origin)
    if kind is TypeKind.MAP:
        if _is_struct(tp):
            return struct_tagger(tp)
        args = get_args(tp)
        value_tagger = tagger_for(args[1]) if args else _tag_dynamic
        return lambda v: {"M": _tag_map_values(v, value_tagger)}
    return _tag_dynamic


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _tag_epoch(value: Any) -> AttributeValue:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValidationError("naive datetime for a TTL field: attach a timezone")
        return {"N": str(int(value.timestamp()))}
    return {"N": format_number(value)}


def _tag_map_values(value: Mapping[str, Any], value_tagger: Tagger) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in value.items():
        tagged = value_tagger(v)
        if tagged is not None:
            out[k] = tagged
    return out


def _list_tagger(tp: Any, origin: Any) -> Tagger:
    args = get_args(tp)
    if origin is tuple and args and (len(args) != 2 or args[1] is not Ellipsis):
        taggers = [tagger_for(a) for a in args]

        def tag_tuple(v: Any) -> AttributeValue:
            if len(v) != len(taggers):
                raise ValidationError(f"expected a tuple of {len(taggers)} items, got {len(v)}")
            return {"L": [_or_null(t(e)) for t, e in zip(taggers, v, strict=True)]}

        return tag_tuple
    elem = tagger_for(args[0]) if args else _tag_dynamic
    return lambda v: {"L": [_or_null(elem(e)) for e in v]}


def _or_null(av: AttributeValue | None) -> AttributeValue:
    # Inside a list an empty set cannot be dropped without shifting positions.
    return {"NULL": True} if av is None else av


@lru_cache(maxsize=None)
def struct_tagger(cls: type[msgspec.Struct]) -> Tagger:
    """Tagger for a nested struct (stored as M); None fields are omitted like at top level."""
    fields = _field_taggers(cls)

    def tag(value: Any) -> AttributeValue:
        if isinstance(value, msgspec.Struct):
            value = msgspec.to_builtins(value, builtin_types=_PASSTHROUGH)
        return {"M": encode_fields(value, fields)}

    return tag


def _field_taggers(
    cls: type[msgspec.Struct], epoch_fields: frozenset[str] = frozenset()
) -> tuple[tuple[str, Tagger], ...]:
    hints = typing.get_type_hints(cls, include_extras=True)
    return tuple(
        (f.encode_name, tagger_for(hints[f.name], epoch=f.name in epoch_fields))
        for f in msgspec.structs.fields(cls)
    )


def encode_fields(
    builtins: Mapping[str, Any], fields: tuple[tuple[str, Tagger], ...]
) -> dict[str, Any]:
    """Tag the builtin form of a struct field by field, omitting None and empty sets."""
    out: dict[str, Any] = {}
    for name, tagger in fields:
        value = builtins.get(name)
        if value is None:
            continue
        tagged = tagger(value)
        if tagged is not None:
            out[name] = tagged
    return out


def to_wire_value(tp: Any, value: Any) -> AttributeValue:
    """Encode one Python value as an AttributeValue using annotation ``tp`` (for expressions)."""
    builtin = msgspec.to_builtins(value, builtin_types=_PASSTHROUGH) if _needs_builtins(
        value
    ) else value
    tagged = tagger_for(tp)(builtin) if tp is not None else _tag_dynamic(builtin)
    if tagged is None:
        raise ValidationError("an empty set cannot be used as a value: DynamoDB rejects it")
    return tagged


def _needs_builtins(value: Any) -> bool:
    return isinstance(value, msgspec.Struct | list | tuple | dict | set | frozenset | bytes)


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
        if tag == "BOOL" or tag == "B":
            return _b64(value) if tag == "B" else value
        if tag == "NULL":
            return None
        if tag == "SS":
            return value
        if tag == "NS":
            return [parse_number(v) for v in value]
        if tag == "BS":
            return [_b64(v) for v in value]
    raise ValidationError(f"unknown attribute value {dict(av)!r}")


def untag_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Untag every attribute of a wire item."""
    return {k: untag(v) for k, v in item.items()}


def from_wire_value(tp: Any, av: Mapping[str, Any]) -> Any:
    """Decode one AttributeValue into annotation ``tp``."""
    value = untag(av)
    if tp is None:
        return value
    try:
        return msgspec.convert(value, tp)
    except msgspec.ValidationError as exc:
        raise ValidationError(f"stored value {dict(av)!r} does not fit {tp!r}: {exc}") from exc


def b64decode(text: str) -> bytes:
    """Decode a base64 binary value as it arrives on the fast wire path."""
    return base64.b64decode(text)


# --- size ---------------------------------------------------------------------------------


def _value_size(av: Mapping[str, Any]) -> int:
    size = 0
    for tag, value in av.items():
        if tag == "S":
            size += len(value.encode("utf-8"))
        elif tag == "N":
            size += (len(value.strip("-").replace(".", "").lstrip("0")) + 1) // 2 + 1
        elif tag == "B":
            size += len(value) * 3 // 4
        elif tag in ("BOOL", "NULL"):
            size += 1
        elif tag == "SS":
            size += sum(len(v.encode("utf-8")) for v in value)
        elif tag == "NS":
            size += sum(_value_size({"N": v}) for v in value)
        elif tag == "BS":
            size += sum(len(v) * 3 // 4 for v in value)
        elif tag == "L":
            size += 3 + sum(_value_size(v) + 1 for v in value)
        elif tag == "M":
            size += 3 + sum(len(k.encode("utf-8")) + _value_size(v) + 1 for k, v in value.items())
    return size


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """DynamoDB's accounting of an item's size in bytes (names plus values)."""
    return sum(len(k.encode("utf-8")) + _value_size(v) for k, v in item.items())


_json_encode = msgspec.json.Encoder().encode


def check_item_size(item: Mapping[str, Mapping[str, Any]], *, table: str | None = None) -> None:
    """Reject an item above DynamoDB's 400 KB limit before it is sent."""
    # The JSON text is never smaller than DynamoDB's accounting, so most items pass on one
    # C-speed encode and only large ones pay for the exact walk.
    if len(_json_encode(item)) <= MAX_ITEM_BYTES:
        return
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise ValidationError(
            f"item is {size} bytes, over DynamoDB's 400 KB limit; store large data in S3",
            table=table,
        )


@dataclass(frozen=True, slots=True)
class FieldCodec:
    """How one top-level field is stored: its wire name, annotation and tagger."""

    name: str
    attribute: str
    annotation: Any
    tagger: Tagger
