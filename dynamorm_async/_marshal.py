"""Marshalling between Python values and DynamoDB's wire format (pure, no I/O).

Two layers share one set of rules:

* Taggers (:func:`tagger_for`), one per annotation, turn a value into an AttributeValue. They
  accept plain Python values as well as what ``msgspec.to_builtins(..., builtin_types=
  (Decimal, datetime))`` makes of them, and enforce DynamoDB's limits (number range and
  precision, no NaN, aware datetimes, no empty sets). Expressions, updates and keys use them.
* Struct codecs (:func:`struct_codec`), compiled once per struct class into straight-line Python
  source, encode an instance attribute by attribute and decode a wire map into an instance
  without the generic walk. They handle the common shapes inline and call the taggers (encode)
  or ``msgspec.convert`` (decode) for everything else, so they produce exactly what the generic
  path produces. A decoder that meets anything unexpected raises, and the caller re-runs the
  generic path (``untag`` + ``msgspec.convert``), which reports the error with the field path.

Binary values travel base64-encoded because the transport passes item JSON through untouched;
decoding also accepts raw bytes, as boto3-shaped stream images carry them.
"""

from __future__ import annotations

import binascii
import enum
import itertools
import keyword
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec

from ._errors import DynamormError, ModelError, ValidationError

__all__ = [
    "EPOCH_SECONDS",
    "AttributeValue",
    "DECODE_ERRORS",
    "EpochSeconds",
    "Item",
    "StructCodec",
    "Tagger",
    "TypeKind",
    "check_item_size",
    "decode_binary",
    "encode_fields",
    "format_number",
    "from_wire_value",
    "item_size",
    "kind_of",
    "parse_number",
    "strip_annotated",
    "struct_codec",
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
_MAX_DIGITS = 38
# Types msgspec.to_builtins should hand over unchanged: the taggers render them exactly.
_PASSTHROUGH = (Decimal, datetime)
_to_builtins = msgspec.to_builtins


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
        number = Decimal(text)
        _check_decimal(number, text)
        # repr() writes exponents as 'e-07'; the Decimal spelling ('1E-7') is the canonical one.
        return str(number) if "e" in text else text
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
    _sign, digits, _exponent = value.as_tuple()
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


# --- scalars ------------------------------------------------------------------------------


def _format_datetime(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(
                f"naive datetime {value.isoformat()} cannot be stored: attach a timezone "
                "(datetime.now(UTC))"
            )
        if value.tzinfo is not UTC:
            try:
                value = value.astimezone(UTC)
            except OverflowError:
                raise ValidationError(f"datetime {value.isoformat()} is out of range") from None
        # msgspec renders a UTC datetime as RFC 3339 with 'Z' in C (isoformat() is far
        # slower). Fixed width (always microseconds) keeps lexicographic order equal to time
        # order, which range keys and between() rely on.
        text: str = _to_builtins(value)
        return text if len(text) == 27 else text[:19] + ".000000Z"
    if isinstance(value, str):
        return value
    raise ValidationError(f"expected a datetime, got {type(value).__name__}")


def _parse_datetime(text: str) -> datetime:
    # The canonical form this module writes parses in C; any other text gets msgspec's rules.
    if len(text) == 27 and text[26] == "Z":
        return datetime.fromisoformat(text)
    return msgspec.convert(text, datetime)


def _parse_date(text: str) -> date:
    if len(text) == 10:
        return date.fromisoformat(text)
    return msgspec.convert(text, date)


def _epoch_seconds(value: Any) -> AttributeValue:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError("naive datetime for a TTL field: attach a timezone")
        return {"N": str(int(value.timestamp()))}
    return {"N": format_number(value)}


def _epoch_datetime(text: str) -> datetime:
    return datetime.fromtimestamp(int(text), tz=UTC)


def _b64(value: Any) -> str:
    if isinstance(value, str):
        return value  # to_builtins already base64-encoded it
    if isinstance(value, bytes | bytearray | memoryview):
        return binascii.b2a_base64(value, newline=False).decode("ascii")
    raise ValidationError(f"expected bytes, got {type(value).__name__}")


def decode_binary(value: str | bytes) -> bytes:
    """A B/BS element as bytes: base64 text from the wire, or raw bytes from boto3 shapes."""
    if isinstance(value, str):
        return binascii.a2b_base64(value, strict_mode=True)
    return bytes(value)


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
        return {"M": struct_codec(type(value)).encode(value)}
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


def _struct_tagger(cls: type[msgspec.Struct]) -> Tagger:
    """Tagger for a nested struct (stored as M); the codec is looked up at call time so
    recursive struct types compile."""

    def tag(value: Any) -> AttributeValue:
        if isinstance(value, cls):
            # A subclass instance keeps its extra fields: it is encoded by its own codec.
            return {"M": struct_codec(type(value)).encode(value)}
        if isinstance(value, Mapping):  # the to_builtins form
            return {"M": encode_fields(value, struct_codec(cls).field_taggers)}
        raise ValidationError(f"expected a {cls.__name__}, got {type(value).__name__}")

    return tag


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


# --- compiled struct codecs ---------------------------------------------------------------

#: What a compiled decoder may raise on input it does not handle; callers then run the
#: generic path, which either copes (unusual but valid spellings) or reports the error.
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    LookupError,
    TypeError,
    ValueError,
    AttributeError,
    ArithmeticError,
    DynamormError,
)


class StructCodec:
    """Compiled encoder/decoder of one struct class.

    ``encode(obj)`` returns the wire map of an instance (None fields and empty sets omitted;
    invalid values raise ValidationError). ``decode(map)`` builds an instance from a wire map
    and raises one of :data:`DECODE_ERRORS` on anything it does not handle. ``source`` is the
    generated code, kept for debugging.
    """

    __slots__ = ("cls", "decode", "encode", "field_taggers", "source")

    def __init__(self, cls: type[msgspec.Struct]) -> None:
        self.cls = cls
        self.field_taggers: tuple[tuple[str, Tagger], ...] = ()
        self.source = ""
        self.encode: Callable[[Any], dict[str, Any]] = _not_ready
        self.decode: Callable[[Mapping[str, Any]], Any] = _not_ready


def _not_ready(value: Any) -> Any:
    raise ModelError("a struct codec was used while its class was still being compiled")


_codecs: dict[tuple[type[msgspec.Struct], frozenset[str]], StructCodec] = {}


def struct_codec(
    cls: type[msgspec.Struct], epoch_fields: frozenset[str] = frozenset()
) -> StructCodec:
    """The compiled codec of ``cls`` (cached); ``epoch_fields`` are stored as epoch seconds.

    Raises ModelError when a field (at any depth) has a type DynamoDB cannot store.
    """
    key = (cls, epoch_fields)
    codec = _codecs.get(key)
    if codec is None:
        # Registered before compiling so that recursive struct types refer to themselves.
        codec = _codecs[key] = StructCodec(cls)
        try:
            _compile(codec, epoch_fields)
        except BaseException:
            del _codecs[key]
            raise
    return codec


_CODEC_HELPERS: dict[str, Any] = {
    "_Decimal": Decimal,
    "_UTC": UTC,
    "_datetime": datetime,
    "_to_builtins": _to_builtins,
    "_b2a": binascii.b2a_base64,
    "_bin": decode_binary,
    "_dt": _parse_datetime,
    "_date": _parse_date,
    "_epoch": _epoch_datetime,
    "_untag": untag,
}


class _Source:
    """Lines of generated code and the objects they refer to by name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = dict(_CODEC_HELPERS)
        self._ids = itertools.count()

    def ref(self, obj: Any) -> str:
        name = f"_r{next(self._ids)}"
        self.env[name] = obj
        return name

    def temp(self) -> str:
        return f"_t{next(self._ids)}"


def _has_constraints(tp: Any) -> bool:
    """True when ``tp`` carries msgspec.Meta constraints, which only msgspec can check."""
    if get_origin(tp) is Annotated:
        if any(isinstance(m, msgspec.Meta) for m in tp.__metadata__):
            return True
        return _has_constraints(get_args(tp)[0])
    return any(_has_constraints(a) for a in get_args(tp) if a is not Ellipsis)


def _plain_struct(tp: Any) -> bool:
    """A struct whose fields map 1:1 to map keys (no array_like, omit_defaults or strict keys)."""
    if not _is_struct(tp):
        return False
    config = tp.__struct_config__
    return not (config.array_like or config.omit_defaults or config.forbid_unknown_fields)


def _converter(tp: Any) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        return msgspec.convert(value, tp)

    return convert


def _structs_in(tp: Any) -> list[type[msgspec.Struct]]:
    """Struct classes named anywhere in an annotation (not inside those structs)."""
    if _is_struct(tp):
        return [tp]
    return [s for a in get_args(tp) if a is not Ellipsis for s in _structs_in(a)]


def _compile(codec: StructCodec, epoch_fields: frozenset[str]) -> None:
    cls = codec.cls
    try:
        # msgspec's own check (e.g. unions of structs with different tag fields).
        msgspec.json.Decoder(cls)
    except TypeError as exc:
        raise ModelError(f"{cls.__name__}: {exc}") from None
    hints = typing.get_type_hints(cls, include_extras=True)
    config = cls.__struct_config__
    enc, dec = _Source(), _Source()
    enc.lines += ["def encode(obj):", "    out = {}"]
    if config.tag is not None:
        tag_av = {"S": config.tag} if isinstance(config.tag, str) else {"N": str(config.tag)}
        enc.lines.append(f"    out[{config.tag_field!r}] = {tag_av!r}")
    dec.lines += ["def decode(m):"]
    arguments: list[str] = []
    taggers: list[tuple[str, Tagger]] = []
    for i, f in enumerate(msgspec.structs.fields(cls)):
        try:
            tagger = tagger_for(hints[f.name], epoch=f.name in epoch_fields)
            for struct in _structs_in(strip_annotated(hints[f.name])):
                struct_codec(struct)  # compile (and so validate) nested structs now
            _encode_field(enc, f, hints[f.name], tagger, f.name in epoch_fields)
            arguments.append(_decode_field(dec, i, f, hints[f.name], f.name in epoch_fields))
        except ModelError as exc:
            raise ModelError(f"{cls.__name__}.{f.name}: {exc.message}") from None
        taggers.append((f.encode_name, tagger))
    codec.field_taggers = tuple(taggers)
    if arguments:
        # One C-level pass looks every attribute up (None when absent).
        wire_names = tuple(f.encode_name for f in msgspec.structs.fields(cls))
        lookups = ", ".join(f"a{i}" for i in range(len(wire_names)))
        dec.lines.insert(1, f"    {lookups}, = map(m.get, {dec.ref(wire_names)})")
    enc.lines.append("    return out")
    # One call with every field as a keyword: cheaper than collecting a kwargs dict.
    dec.lines.append(f"    return {dec.ref(cls)}(")
    dec.lines += [f"        {argument}," for argument in arguments]
    dec.lines.append("    )")
    codec.source = "\n".join([*enc.lines, "", *dec.lines])
    # to_builtins knows which values equal their defaults; keep its omissions.
    codec.encode = (
        _builtins_encoder(codec.field_taggers) if config.omit_defaults else _build(enc, cls)
    )
    codec.decode = _build(dec, cls) if _plain_struct(cls) else _generic_decoder(cls)


def _encode_field(
    enc: _Source, f: msgspec.structs.FieldInfo, annotation: Any, tagger: Tagger, epoch: bool
) -> None:
    """Append the statements that store one field of ``obj`` into ``out``."""
    getter = f"obj.{f.name}" if _is_name(f.name) else f"getattr(obj, {f.name!r})"
    key = repr(f.encode_name)
    enc.lines += [f"    v = {getter}", "    if v is not None:"]
    base = unwrap_optional(annotation)
    inline = None if epoch else _encode_expr(enc, base, "v", tagger_for(base))
    if inline is not None:
        enc.lines.append(f"        out[{key}] = {inline}")
    else:
        enc.lines.append(f"        if (a := {enc.ref(tagger)}(v)) is not None:")
        enc.lines.append(f"            out[{key}] = a")


def _decode_field(
    dec: _Source, i: int, f: msgspec.structs.FieldInfo, annotation: Any, epoch: bool
) -> str:
    """The keyword argument that decodes one field from its attribute ``a<i>``."""
    av = f"a{i}"
    if epoch:
        expr = f'int({av}["N"])' if unwrap_optional(annotation) is int else f'_epoch({av}["N"])'
        if _non_none_args(strip_annotated(annotation)) is not None:
            expr = f'(None if "NULL" in {av} else {expr})'
    else:
        expr = _decode_expr(dec, annotation, av)
    if f.default is not msgspec.NODEFAULT:
        missing = dec.ref(f.default)  # shared, exactly as the struct's __init__ shares it
    elif f.default_factory is not msgspec.NODEFAULT:
        missing = f"{dec.ref(f.default_factory)}()"
    elif _admits_none(annotation):
        missing = "None"  # a required Optional field stored as None was omitted on write
    else:
        missing = None  # required: subscripting None raises, and the caller falls back
    value = expr if missing is None else f"({expr} if {av} is not None else {missing})"
    return f"{f.name}={value}" if _is_name(f.name) else f"**{{{f.name!r}: {value}}}"


def _admits_none(annotation: Any) -> bool:
    tp = strip_annotated(annotation)
    return tp is type(None) or (
        _non_none_args(tp) is not None and type(None) in get_args(tp)
    ) or tp is Any


def _is_name(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def _build(src: _Source, cls: type) -> Any:
    """Run the generated definition and return the function it defines."""
    name = src.lines[0].split()[1].split("(")[0]
    namespace = dict(src.env)
    code = compile("\n".join(src.lines), f"<dynamorm {cls.__qualname__}.{name}>", "exec")
    exec(code, namespace)
    return namespace[name]


def _builtins_encoder(field_taggers: tuple[tuple[str, Tagger], ...]) -> Callable[[Any], Any]:
    def encode(obj: Any) -> dict[str, Any]:
        builtins = msgspec.to_builtins(obj, builtin_types=(Decimal, datetime))
        return encode_fields(builtins, field_taggers)

    return encode


def _generic_decoder(cls: type) -> Callable[[Mapping[str, Any]], Any]:
    def decode(m: Mapping[str, Any]) -> Any:
        return msgspec.convert({k: untag(v) for k, v in m.items()}, cls)

    return decode


_SCALAR_KINDS = frozenset(
    {TypeKind.STRING, TypeKind.NUMBER, TypeKind.BINARY, TypeKind.BOOL, TypeKind.NULL}
)


def _codec_function(src: _Source, cls: type[msgspec.Struct], name: str) -> str:
    """Reference to a nested struct's compiled encode/decode; a struct still being compiled
    (a recursive type) is reached through its codec when called."""
    codec = struct_codec(cls)
    function = getattr(codec, name)
    return src.ref(function) if function is not _not_ready else f"{src.ref(codec)}.{name}"


def _variadic(origin: Any, args: tuple[Any, ...]) -> bool:
    """``list[X]`` or ``tuple[X, ...]`` (not a fixed-length tuple, not a bare list)."""
    return bool(args) and (origin is list or (len(args) == 2 and args[1] is Ellipsis))


def _encode_expr(src: _Source, tp: Any, var: str, tagger: Tagger) -> str | None:
    """An inline expression encoding the non-None value in ``var`` as an AttributeValue, or
    None when the generic ``tagger`` has to do it (and may return None).

    Every inline form checks the exact type first and defers to the tagger otherwise, so
    subclasses, enums and invalid values get the tagger's handling and errors.
    """
    tp = strip_annotated(tp)
    slow = f"{src.ref(tagger)}({var})"
    t = src.temp()
    if tp is str:
        return f'({{"S": {var}}} if {var}.__class__ is str else {slow})'
    if tp is bool:
        return f'({{"BOOL": {var}}} if {var}.__class__ is bool else {slow})'
    if tp is int:
        # <= 38 characters means <= 38 digits, inside DynamoDB's precision and range.
        return (
            f'({{"N": {t}}} if {var}.__class__ is int and len({t} := str({var})) < 39 else {slow})'
        )
    if tp is float:
        # repr() without an exponent is between 1e-4 and 1e16: in range; 'n' marks nan/inf.
        return (
            f'({{"N": {t}}} if {var}.__class__ is float and "e" not in ({t} := repr({var})) '
            f'and "n" not in {t} else {slow})'
        )
    if tp is Decimal:
        return (
            f'({{"N": {t}}} if {var}.__class__ is _Decimal and {var}.is_finite() '
            f'and len({t} := str({var})) < 39 and "E" not in {t} else {slow})'
        )
    if tp is bytes:
        return (
            f'({{"B": _b2a({var}, newline=False).decode()}} if {var}.__class__ is bytes '
            f"else {slow})"
        )
    if tp is datetime:
        # The common case, a UTC datetime with microseconds, is already fixed-width text.
        return (
            f'({{"S": {t}}} if {var}.__class__ is _datetime and {var}.tzinfo is _UTC '
            f"and len({t} := _to_builtins({var})) == 27 else {slow})"
        )
    if kind_of(tp) in _SCALAR_KINDS:
        return slow  # dates, UUIDs, enums, literals: never None
    if _is_struct(tp):
        return (
            f'({{"M": {_codec_function(src, tp, "encode")}({var})}} '
            f"if {var}.__class__ is {src.ref(tp)} else {slow})"
        )
    origin, args = get_origin(tp), get_args(tp)
    if origin in (list, tuple) and _variadic(origin, args):
        x = src.temp()
        elem = _encode_element(src, args[0], x)
        if elem is not None:
            container = "list" if origin is list else "tuple"
            return (
                f'({{"L": [{elem} for {x} in {var}]}} if {var}.__class__ is {container} '
                f"else {slow})"
            )
    if origin is dict and args:
        k, x = src.temp(), src.temp()
        elem = _encode_element(src, args[1], x)
        if elem is not None:
            return (
                f'({{"M": {{{k}: {elem} for {k}, {x} in {var}.items()}}}} '
                f'if {var}.__class__ is dict and "" not in {var} else {slow})'
            )
    return None


def _encode_element(src: _Source, tp: Any, var: str) -> str | None:
    """Inline encoding of a list element or map value (never None), or None."""
    tp = strip_annotated(tp)
    args = _non_none_args(tp)
    optional = args is not None and len(args) == 1
    base = strip_annotated(args[0]) if optional and args else tp
    if _non_none_args(base) is not None or kind_of(base) in (
        TypeKind.STRING_SET,
        TypeKind.NUMBER_SET,
        TypeKind.BINARY_SET,
        TypeKind.ANY,
    ):
        return None  # may yield None (empty set) or needs dynamic tagging
    expr = _encode_expr(src, base, var, tagger_for(base))
    if expr is None:
        return None
    return f'({{"NULL": True}} if {var} is None else {expr})' if optional else expr


def _decode_expr(src: _Source, tp: Any, var: str) -> str:
    """An expression decoding the AttributeValue in ``var`` into annotation ``tp``.

    Common shapes are decoded inline; anything else is untagged and handed to
    ``msgspec.convert``, which applies every rule (unions, constraints, tagged structs).
    """
    if _is_epoch(tp):
        return f"{src.ref(_epoch_or_none)}({var})"
    if _has_constraints(tp):
        return f"{src.ref(_converter(tp))}(_untag({var}))"
    tp = strip_annotated(tp)
    args = _non_none_args(tp)
    if args is not None:
        if len(args) == 1:
            return f'(None if "NULL" in {var} else {_decode_expr(src, args[0], var)})'
        return f"{src.ref(_converter(tp))}(_untag({var}))"
    origin, targs = get_origin(tp), get_args(tp)
    if tp is str:
        return f'{var}["S"]'
    if tp is int:
        return f'int({var}["N"])'
    if tp is float:
        return f'float({var}["N"])'
    if tp is Decimal:
        return f'_Decimal({var}["N"])'
    if tp is bool:
        return f'{var}["BOOL"]'
    if tp is bytes:
        return f'_bin({var}["B"])'
    if tp is datetime:
        return f'_dt({var}["S"])'
    if tp is date:
        return f'_date({var}["S"])'
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        members = {m.value: m for m in tp}
        if all(type(v) is str for v in members):
            return f'{src.ref(members)}[{var}["S"]]'
        if all(type(v) is int for v in members):
            return f'{src.ref(members)}[int({var}["N"])]'
    if origin is Literal:
        values = {v: v for v in targs}
        if all(type(v) is str for v in values):
            return f'{src.ref(values)}[{var}["S"]]'
        if all(type(v) is int for v in values):
            return f'{src.ref(values)}[int({var}["N"])]'
    if origin in (set, frozenset) and targs:
        elem = strip_annotated(targs[0])
        make = origin.__name__
        if elem is str:
            return f'{make}({var}["SS"])'
        if elem in (int, float):
            return f'{make}(map({elem.__name__}, {var}["NS"]))'
        if elem is Decimal:
            return f'{make}(map(_Decimal, {var}["NS"]))'
        if elem is bytes:
            return f'{make}(map(_bin, {var}["BS"]))'
    if origin in (list, tuple) and _variadic(origin, targs):
        x = src.temp()
        elem_expr = _decode_expr(src, targs[0], x)
        listcomp = f'[{elem_expr} for {x} in {var}["L"]]'
        return listcomp if origin is list else f"tuple({listcomp})"
    if origin is dict and targs:
        k, x = src.temp(), src.temp()
        return f'{{{k}: {_decode_expr(src, targs[1], x)} for {k}, {x} in {var}["M"].items()}}'
    if _plain_struct(tp) and tp.__struct_config__.tag is None:
        return f'{_codec_function(src, tp, "decode")}({var}["M"])'
    return f"{src.ref(_converter(tp))}(_untag({var}))"


def _epoch_or_none(av: Mapping[str, Any]) -> datetime | None:
    return None if "NULL" in av else _epoch_datetime(av["N"])


# --- size ---------------------------------------------------------------------------------


def _number_size(text: str) -> int:
    mantissa = text.lstrip("-").split("E")[0].split("e")[0].replace(".", "").strip("0")
    return (len(mantissa) + 1) // 2 + 1


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
