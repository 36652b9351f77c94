"""Marshalling between Python values and DynamoDB's wire format (pure, no I/O).

Taggers (:func:`tagger_for`), one per annotation, turn a value into an AttributeValue. They
accept plain Python values as well as what ``msgspec.to_builtins(..., builtin_types=
(Decimal, datetime))`` makes of them, and enforce DynamoDB's limits (number range and
precision, no NaN, aware datetimes, no empty sets). Expressions, updates, keys and the compiled
struct codecs (``_codec``) use them. Decoding (:func:`untag`, :func:`from_wire_value`) and item
size accounting (:func:`check_item_size`) follow the same rules.

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
import types
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec

from ._errors import ModelError, ValidationError
from ._wire import (
    TypeKind,
    decode_binary,
    format_number,
    parse_number,
)
from ._wire import encode_binary as _b64
from ._wire import epoch_datetime as _epoch_datetime
from ._wire import epoch_seconds as _epoch_seconds
from ._wire import format_datetime as _format_datetime
from ._wire import number_size as _number_size

__all__ = [
    "EPOCH_SECONDS",
    "AttributeValue",
    "EpochSeconds",
    "Item",
    "Tagger",
    "TypeKind",
    "check_item_size",
    "decode_binary",
    "format_number",
    "from_wire_value",
    "install_struct_tagger",
    "item_size",
    "kind_of",
    "parse_number",
    "strip_annotated",
    "tagger_for",
    "to_wire_value",
    "untag",
    "untag_item",
    "unwrap_optional",
]

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]
Tagger = Callable[[Any], AttributeValue | None]

MAX_ITEM_BYTES = 400 * 1024
# Types msgspec.to_builtins should hand over unchanged: the taggers render them exactly.
_PASSTHROUGH = (Decimal, datetime)
_to_builtins = msgspec.to_builtins


class EpochSeconds:
    """``Annotated`` marker: a datetime stored as epoch seconds (N), as TTL attributes are."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "EPOCH_SECONDS"


EPOCH_SECONDS = EpochSeconds()


def strip_annotated(tp: Any) -> Any:
    """Return the annotation without ``Annotated`` metadata."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _is_epoch(tp: Any) -> bool:
    return get_origin(tp) is Annotated and any(isinstance(m, EpochSeconds) for m in tp.__metadata__)


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
    """Classify an annotation by the DynamoDB type its Python values map to (raises ModelError).

    Datetimes classify as strings even when an ``EPOCH_SECONDS`` marker stores them as
    numbers: callers compare Python values, and ModelInfo records TTL fields as N itself.
    """
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
        if issubclass(tp, msgspec.Struct):
            if tp.__struct_config__.array_like:
                raise ModelError(
                    f"struct {tp.__name__} is array_like; DynamoDB maps need named fields"
                )
            return TypeKind.MAP
    raise ModelError(f"unsupported field type {tp!r}")


# --- taggers ------------------------------------------------------------------------------


def _tag_string(value: Any) -> AttributeValue:
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, datetime):
        return {"S": _format_datetime(value)}
    if isinstance(value, date):
        return {"S": value.isoformat()}
    if isinstance(value, enum.Enum):
        return _tag_string(value.value)
    if isinstance(value, uuid.UUID):
        return {"S": str(value)}
    raise ValidationError(f"expected a string, got {type(value).__name__}: {value!r}")


def _tag_datetime(value: Any) -> AttributeValue:
    return {"S": _format_datetime(value)}


def _tag_number(value: Any) -> AttributeValue:
    if isinstance(value, enum.Enum):
        value = value.value
    return {"N": format_number(value)}


def _tag_binary(value: Any) -> AttributeValue:
    return {"B": _b64(value)}


def _tag_bool(value: Any) -> AttributeValue:
    if not isinstance(value, bool):
        raise ValidationError(f"expected a bool, got {type(value).__name__}")
    return {"BOOL": value}


def _tag_null(value: Any) -> AttributeValue:
    return {"NULL": True}


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
        if "" in value:
            raise ValidationError(_EMPTY_MAP_KEY)
        # Like typed maps, entries DynamoDB cannot hold (empty sets) are left out.
        return {"M": {str(k): t for k, v in value.items() if (t := _tag_dynamic(v)) is not None}}
    if isinstance(value, list | tuple):
        return {"L": [_or_null(_tag_dynamic(v)) for v in value]}
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


def _tag_set(tag: str, elem: Callable[[Any], str], value: Any) -> AttributeValue | None:
    """SS/NS/BS value with elements rendered by ``elem``, sorted so equal sets encode equally."""
    if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
        raise ValidationError(f"expected a set, got {type(value).__name__}")
    if not value:
        return None  # DynamoDB has no empty sets: the attribute is omitted
    return {tag: sorted({elem(e) for e in value})}


def _tag_string_set(value: Any) -> AttributeValue | None:
    # Plain strings need no rendering: one C-level type check covers every element.
    if value.__class__ in _SET_TYPES and _only_str(map(type, value)):
        return {"SS": sorted(value)} if value else None
    return _tag_set("SS", _string_element, value)


def _tag_number_set(value: Any) -> AttributeValue | None:
    if value.__class__ in _SET_TYPES and _only_int(map(type, value)):
        if not value:
            return None
        texts = sorted(map(str, value))
        if max(map(len, texts)) < 39:  # <= 38 digits: within DynamoDB's precision and range
            return {"NS": texts}
    return _tag_set("NS", _number_element, value)


def _tag_binary_set(value: Any) -> AttributeValue | None:
    return _tag_set("BS", _b64, value)


def _string_element(value: Any) -> str:
    text: str = _tag_string(value)["S"]
    return text


def _number_element(value: Any) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    return format_number(value)


@cache
def tagger_for(tp: Any, *, epoch: bool = False) -> Tagger:
    """Compile the function that turns a value of annotation ``tp`` into an AttributeValue.

    The value may be the plain Python value or its ``msgspec.to_builtins(..., builtin_types=
    (Decimal, datetime))`` form. The tagger returns ``None`` for values DynamoDB cannot hold
    (empty sets). ``epoch`` (or an :data:`EPOCH_SECONDS` marker) stores datetimes as epoch
    seconds, the format of TTL attributes.
    """
    if epoch or _is_epoch(tp):
        return _epoch_seconds
    tp = strip_annotated(tp)
    args = _non_none_args(tp)
    if args is not None:
        inner = tagger_for(args[0]) if len(args) == 1 else _tag_dynamic
        return _nullable(inner)
    kind = kind_of(tp)
    if kind is TypeKind.STRING:
        if isinstance(tp, type) and issubclass(tp, datetime):
            return _tag_datetime
        return _tag_string
    if kind is TypeKind.NUMBER:
        return _tag_number
    if kind is TypeKind.BINARY:
        return _tag_binary
    if kind is TypeKind.BOOL:
        return _tag_bool
    if kind is TypeKind.NULL:
        return _tag_null
    if kind is TypeKind.STRING_SET:
        return _tag_string_set
    if kind is TypeKind.NUMBER_SET:
        return _tag_number_set
    if kind is TypeKind.BINARY_SET:
        return _tag_binary_set
    if kind is TypeKind.LIST:
        return _list_tagger(tp)
    if kind is TypeKind.MAP:
        if _is_struct(tp):
            return _struct_tagger(tp)
        map_args = get_args(tp)
        value_tagger = tagger_for(map_args[1]) if map_args else _tag_dynamic
        return lambda v: {"M": _tag_map_values(v, value_tagger)}
    return _tag_dynamic


_EMPTY_MAP_KEY = "a map key is empty: DynamoDB rejects empty attribute names"


def _tag_map_values(value: Any, value_tagger: Tagger) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(f"expected a dict, got {type(value).__name__}")
    out: dict[str, Any] = {}
    for k, v in value.items():
        if k == "":
            raise ValidationError(_EMPTY_MAP_KEY)
        tagged = value_tagger(v)
        if tagged is not None:
            out[k] = tagged
    return out


def _list_tagger(tp: Any) -> Tagger:
    args = get_args(tp)
    if get_origin(tp) is tuple and args and (len(args) != 2 or args[1] is not Ellipsis):
        taggers = [tagger_for(a) for a in args]

        def tag_tuple(v: Any) -> AttributeValue:
            if not isinstance(v, list | tuple) or len(v) != len(taggers):
                raise ValidationError(f"expected a tuple of {len(taggers)} items, got {v!r}")
            return {"L": [_or_null(t(e)) for t, e in zip(taggers, v, strict=True)]}

        return tag_tuple
    elem = tagger_for(args[0]) if args else _tag_dynamic

    def tag_list(v: Any) -> AttributeValue:
        if not isinstance(v, list | tuple):
            raise ValidationError(f"expected a list, got {type(v).__name__}")
        return {"L": [_or_null(elem(e)) for e in v]}

    return tag_list


def _or_null(av: AttributeValue | None) -> AttributeValue:
    # Inside a list an empty set cannot be dropped without shifting positions.
    return {"NULL": True} if av is None else av


#: Makes the tagger of a nested struct class (stored as M). Struct values are encoded by their
#: compiled codec, which is built on the taggers here, so ``_codec`` installs the factory when
#: it is imported (the package imports it before any model exists) and this module does not
#: import it.
_struct_tagger: Callable[[type[msgspec.Struct]], Tagger]


def install_struct_tagger(factory: Callable[[type[msgspec.Struct]], Tagger]) -> None:
    """Set how :func:`tagger_for` tags struct annotations; ``_codec`` calls this once."""
    global _struct_tagger
    _struct_tagger = factory


def to_wire_value(tp: Any, value: Any) -> AttributeValue:
    """Encode one Python value as an AttributeValue using annotation ``tp`` (for expressions)."""
    if value is None and tp is not None and kind_of(tp) is not TypeKind.NULL:
        base = strip_annotated(tp)
        if base is not Any and _non_none_args(base) is None:
            raise ValidationError(
                "None is not a stored value here (None fields are left out of items): "
                "test for a missing attribute with .not_exists()"
            )
    tagged = tagger_for(tp)(value) if tp is not None else _tag_dynamic(value)
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
    raise ValidationError(f"unknown attribute value {dict(av)!r}")


def untag_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Untag every attribute of a wire item."""
    return {k: untag(v) for k, v in item.items()}


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
        raise ValidationError(f"stored value {dict(av)!r} does not fit {tp!r}: {exc}") from exc


# --- size ---------------------------------------------------------------------------------


def _value_size(av: Mapping[str, Any]) -> int:
    size = 0
    for tag, value in av.items():
        if tag == "S":
            size += len(value.encode("utf-8"))
        elif tag == "N":
            size += _number_size(value)
        elif tag == "B":
            size += len(decode_binary(value))
        elif tag in ("BOOL", "NULL"):
            size += 1
        elif tag == "SS":
            size += sum(len(v.encode("utf-8")) for v in value)
        elif tag == "NS":
            size += sum(_number_size(v) for v in value)
        elif tag == "BS":
            size += sum(len(decode_binary(v)) for v in value)
        elif tag == "L":
            size += 3 + sum(_value_size(v) + 1 for v in value)
        elif tag == "M":
            size += 3 + sum(len(k.encode("utf-8")) + _value_size(v) + 1 for k, v in value.items())
    return size


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """DynamoDB's accounting of an item's size in bytes (names plus values)."""
    return sum(len(k.encode("utf-8")) + _value_size(v) for k, v in item.items())


_json_encode = msgspec.json.Encoder().encode


def check_item_size(item: Mapping[str, Mapping[str, Any]], *, table: str | None = None) -> int:
    """Reject an item above DynamoDB's 400 KB limit before it is sent.

    Returns the length of the item's JSON text, which batch chunking reuses for the request
    size limit instead of encoding the item again.
    """
    # The JSON text is never smaller than DynamoDB's accounting, so most items pass on one
    # C-speed encode and only large ones pay for the exact walk.
    json_size = len(_json_encode(item))
    if json_size <= MAX_ITEM_BYTES:
        return json_size
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise ValidationError(
            f"item is {size} bytes, over DynamoDB's 400 KB limit; store large data in S3",
            table=table,
        )
    return json_size
