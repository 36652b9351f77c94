"""DynamoDB's wire-format rules, each in one place (pure: values in, values out, no I/O).

- type tags: :class:`TypeKind`, :data:`TYPE_NAMES`, :data:`SET_TAGS`, :data:`KEY_KINDS`,
  :func:`tag_of`;
- numbers: :func:`format_number` (Python number -> N text within DynamoDB's limits),
  :func:`number_problem` (the limits: 38 significant digits, 1E-130 .. 9.9E+125),
  :func:`parse_number` / :func:`parse_decimal` (N text -> exact value), :func:`number_size`;
- binary: :func:`encode_binary` / :func:`decode_binary` (B values travel as base64 text);
- datetimes: :func:`format_datetime` / :func:`decode_datetime` / :func:`decode_date` (S text),
  :func:`epoch_seconds` / :func:`epoch_datetime` (N epoch seconds, the format of TTL attributes);
- equality: :func:`canonical` (values DynamoDB holds equal have equal forms: ``1``, ``1.0`` and
  ``1E+0`` alike), :func:`canonical_order`, :func:`key_fingerprint`.

Marshalling, codecs, keys, batches, transactions, migrations and aggregation all use these.
"""

from __future__ import annotations

import binascii
import enum
import math
from collections.abc import Hashable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal, InvalidOperation
from typing import Any

import msgspec

from .._errors import ItemDecodeError, ValidationError, short_repr

__all__ = [
    "EPOCH",
    "KEY_KINDS",
    "MAX_DIGITS",
    "MAX_EXPONENT",
    "MIN_EXPONENT",
    "SET_TAGS",
    "TYPE_NAMES",
    "TypeKind",
    "canonical",
    "canonical_number",
    "canonical_order",
    "decode_binary",
    "decode_date",
    "decode_datetime",
    "describe",
    "encode_binary",
    "epoch_datetime",
    "epoch_seconds",
    "format_datetime",
    "format_number",
    "key_fingerprint",
    "malformed",
    "mismatch",
    "number_problem",
    "number_size",
    "parse_decimal",
    "parse_number",
    "tag_of",
]


def describe(value: Any) -> str:
    """``type value`` for error messages, the value's repr shortened."""
    return f"{type(value).__name__} {short_repr(value)}"


def mismatch(expected: str, value: Any) -> ValidationError:
    """The error of a value that is not what its annotation stores."""
    return ValidationError(f"expected {expected}, got {describe(value)}")


def malformed(what: str, value: object) -> ItemDecodeError:
    """The error for a value on the wire that breaks the format (``malformed number '1x'``):
    stored data, not the caller's input."""
    return ItemDecodeError(f"malformed {what} {short_repr(value)} on the wire")


# --- type tags ----------------------------------------------------------------------------


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


TYPE_NAMES: dict[str, str] = {
    "S": "string",
    "SS": "string set",
    "N": "number",
    "NS": "number set",
    "B": "binary",
    "BS": "binary set",
    "BOOL": "bool",
    "NULL": "null",
    "L": "list",
    "M": "map",
}
"""Every AttributeValue type tag, in DynamoDB's documented order, with its name in messages."""

SET_TAGS = ("SS", "NS", "BS")
"""The tags of DynamoDB's sets."""

KEY_KINDS = (TypeKind.STRING, TypeKind.NUMBER, TypeKind.BINARY)
"""The types a key attribute may have; ``kind.value`` is its AttributeType."""


def tag_of(av: Mapping[str, Any]) -> str:
    """The type tag of an AttributeValue (``"S"``, ``"N"``, ...)."""
    for tag in av:
        return str(tag)
    raise malformed("attribute value", dict(av))


# --- numbers ------------------------------------------------------------------------------

MAX_DIGITS = 38
"""DynamoDB keeps at most 38 significant digits of a number."""
MIN_EXPONENT = -130
MAX_EXPONENT = 125
"""Non-zero numbers lie between 1E-130 and 9.9...E+125: ``Decimal.adjusted()`` in this range."""


def number_problem(number: Decimal) -> str | None:
    """Why DynamoDB cannot store the finite ``number`` exactly, or None when it can.

    The text completes a sentence about the number: ``f"{number} {problem}"``.
    """
    if number.is_zero():
        return None
    digits = len("".join(map(str, number.as_tuple().digits)).strip("0"))
    if digits > MAX_DIGITS:
        return (
            f"has {digits} significant digits; DynamoDB keeps {MAX_DIGITS}, so storing it "
            "would round it"
        )
    if not MIN_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
        return "is outside DynamoDB's number range (1E-130 .. 9.9E+125)"
    return None


def _check_number(number: Decimal, text: str) -> None:
    problem = number_problem(number)
    if problem is not None:
        raise ValidationError(f"number {text} {problem}")


def format_number(value: Any) -> str:
    """Render an int/float/Decimal as a DynamoDB number string, enforcing DynamoDB's limits."""
    if isinstance(value, bool):
        raise ValidationError("a bool is not a number; use a bool field (BOOL)")
    if isinstance(value, int):
        text = str(value)
        if len(text) > MAX_DIGITS:  # up to 38 characters is up to 38 digits: always storable
            _check_number(Decimal(text), text)
        return text
    if isinstance(value, float):
        if value != value or value in (math.inf, -math.inf):
            raise ValidationError(f"{value} cannot be stored: DynamoDB has no NaN or Infinity")
        text = repr(value)
        number = Decimal(text)
        _check_number(number, text)
        # repr() writes exponents as 'e-07'; the Decimal spelling ('1E-7') is the canonical one.
        return str(number) if "e" in text else text
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError(f"{value} cannot be stored: DynamoDB has no NaN or Infinity")
        text = str(value)
        _check_number(value, text)
        return text
    raise ValidationError(f"expected a number, got {type(value).__name__}: {value!r}")


def parse_decimal(text: object) -> Decimal:
    """The finite Decimal an N value holds, exactly."""
    try:
        number = Decimal(str(text))
    except InvalidOperation:
        raise malformed("number", text) from None
    if not number.is_finite():
        raise malformed("number", text)
    return number


def parse_number(text: str) -> int | Decimal:
    """Parse a DynamoDB number string exactly: int when integral, Decimal otherwise."""
    try:
        return int(text)
    except ValueError:
        number = parse_decimal(text)
        if number == number.to_integral_value() and abs(number.adjusted()) < 40:
            return int(number)
        return number


def number_size(text: str) -> int:
    """Bytes DynamoDB counts for an N value: one per two significant digits, plus one."""
    mantissa = text.lstrip("-").split("E")[0].split("e")[0].replace(".", "").strip("0")
    return (len(mantissa) + 1) // 2 + 1


# --- binary -------------------------------------------------------------------------------

_b2a = binascii.b2a_base64
_a2b = binascii.a2b_base64


def encode_binary(value: Any) -> str:
    """The base64 text a B value travels as (text is taken as already encoded)."""
    if isinstance(value, str):
        return value  # to_builtins already base64-encoded it
    if isinstance(value, bytes | bytearray | memoryview):
        return _b2a(value, newline=False).decode("ascii")
    raise ValidationError(f"expected bytes, got {type(value).__name__}")


def decode_binary(value: object) -> bytes:
    """A B/BS element as bytes: base64 text from the wire, or raw bytes from boto3 shapes."""
    if isinstance(value, str):
        try:
            return _a2b(value, strict_mode=True)
        except binascii.Error:
            raise malformed("binary value", value) from None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise malformed("binary value", value)


# --- datetimes ----------------------------------------------------------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_to_builtins = msgspec.to_builtins


def format_datetime(value: Any) -> str:
    """The S text of an aware datetime: fixed-width RFC 3339 in UTC."""
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
    raise mismatch("a datetime", value)


def decode_datetime(text: str) -> datetime:
    """The datetime of an S value."""
    # The canonical form format_datetime writes parses in C; any other text gets msgspec's rules.
    if len(text) == 27 and text[26] == "Z":
        return datetime.fromisoformat(text)
    return msgspec.convert(text, datetime)


def decode_date(text: str) -> date:
    """The date of an S value."""
    if len(text) == 10:
        return date.fromisoformat(text)
    return msgspec.convert(text, date)


def epoch_seconds(value: Any) -> dict[str, Any]:
    """An aware datetime as epoch seconds (N), the format of TTL attributes.

    A fraction of a second is dropped toward the past, exactly as ``epoch_datetime`` reads it
    back: ``epoch_datetime(epoch_seconds(dt)["N"]) == dt.replace(microsecond=0)``.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError("naive datetime for a TTL field: attach a timezone")
        return {"N": str((value - EPOCH) // _SECOND)}
    raise mismatch("a datetime", value)


def epoch_datetime(value: object) -> datetime:
    """The aware UTC datetime of epoch seconds (N text, or its untagged int/Decimal).

    A fraction (written by other clients) is dropped toward the past, as TTL deletion ignores it.
    """
    number = parse_number(value) if isinstance(value, str) else value
    if isinstance(number, bool) or not isinstance(number, int | Decimal):
        raise malformed("epoch seconds", value)
    try:
        return EPOCH + timedelta(seconds=math.floor(number))
    except (OverflowError, ValueError):
        raise malformed("epoch seconds", value) from None


# --- equality -----------------------------------------------------------------------------

# Wide enough that normalising any number on the wire never rounds it.
_NORMALIZE = Context(prec=400)
_ZERO = Decimal(0)


def canonical_number(text: object) -> Decimal:
    """The one spelling of an N value's number (``"1.50"``, ``"1.5"``, ``"15E-1"`` -> ``1.5``)."""
    number = parse_decimal(text)
    return number.normalize(_NORMALIZE) if number else _ZERO


def canonical(av: Mapping[str, Any] | None) -> Hashable:
    """A hashable form of an AttributeValue in which values DynamoDB holds equal are equal.

    Numbers by value (``1``, ``1.0``, ``1E+0``), binaries by their bytes, sets and maps in any
    order; NULL and a missing value (None) are None. Forms are ``(tag, value)`` tuples.
    """
    if av is None:
        return None
    tag = tag_of(av)
    value = av[tag]
    if tag == "S":
        return ("S", value)
    if tag == "N":
        return ("N", canonical_number(value))
    if tag == "B":
        return ("B", decode_binary(value))
    if tag == "BOOL":
        return ("BOOL", bool(value))
    if tag == "NULL":
        return None
    if tag == "SS":
        return ("SS", frozenset(value))
    if tag == "NS":
        return ("NS", frozenset(map(canonical_number, value)))
    if tag == "BS":
        return ("BS", frozenset(map(decode_binary, value)))
    if tag == "L":
        return ("L", tuple(map(canonical, value)))
    if tag == "M":
        return ("M", frozenset((k, canonical(v)) for k, v in value.items()))
    raise malformed("attribute value", dict(av))


_ORDER_RANK = {"BOOL": 1, "N": 2, "S": 3, "B": 4, "SS": 5, "NS": 6, "BS": 7, "L": 8, "M": 9}


def canonical_order(form: Any) -> tuple[Any, ...]:
    """Sort key of a :func:`canonical` form: None first, then by type, then by value."""
    if form is None:
        return (0,)
    tag, value = form
    rank = _ORDER_RANK[tag]
    if tag in SET_TAGS:
        return (rank, tuple(sorted(value)))
    if tag == "L":
        return (rank, tuple(canonical_order(v) for v in value))
    if tag == "M":
        return (rank, tuple(sorted((k, canonical_order(v)) for k, v in value)))
    return (rank, value)


_json_encode = msgspec.json.Encoder().encode


def key_fingerprint(
    table: str, key_attributes: Sequence[str], item: Mapping[str, Mapping[str, Any]]
) -> bytes:
    """The identity of the primary key of ``item`` (a wire item or key) in ``table``.

    Equal for every spelling DynamoDB treats as the same key (``{"N": "1.0"}`` and
    ``{"N": "1"}``), whatever other attributes ``item`` holds. Raises ValidationError when a
    key attribute is missing from ``item``.
    """
    parts: list[Any] = [table]
    for attribute in key_attributes:
        av = item.get(attribute)
        if not av:
            raise ValidationError(
                f"key attribute {attribute!r} is missing from {dict(item)!r}", table=table
            )
        parts.append(canonical(av))
    return _json_encode(parts)


# --- item size ---------------------------------------------------------------------------------

MAX_ITEM_BYTES = 400 * 1024


def _value_size(av: Mapping[str, Any]) -> int:
    size = 0
    for tag, value in av.items():
        if tag == "S":
            size += len(value.encode("utf-8"))
        elif tag == "N":
            size += number_size(value)
        elif tag == "B":
            size += len(decode_binary(value))
        elif tag in ("BOOL", "NULL"):
            size += 1
        elif tag == "SS":
            size += sum(len(v.encode("utf-8")) for v in value)
        elif tag == "NS":
            size += sum(number_size(v) for v in value)
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


def check_item_size(item: Mapping[str, Mapping[str, Any]], *, table: str | None = None) -> bytes:
    """Reject an item above DynamoDB's 400 KB limit before it is sent.

    Returns the item's JSON text, which batch writes keep (and size their requests by) instead
    of encoding the item again.
    """
    # The JSON text is never smaller than DynamoDB's accounting, so most items pass on one
    # C-speed encode and only large ones pay for the exact walk.
    try:
        text = _json_encode(item)
    except UnicodeEncodeError as exc:  # a lone surrogate: not valid UTF-8, DynamoDB refuses it
        raise ValidationError(f"a string is not valid UTF-8: {exc.reason}", table=table) from None
    if len(text) <= MAX_ITEM_BYTES:
        return text
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise ValidationError(
            f"item is {size} bytes, over DynamoDB's 400 KB limit; store large data in S3",
            table=table,
        )
    return text
