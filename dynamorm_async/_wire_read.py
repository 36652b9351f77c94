"""Reading aggregation inputs out of DynamoDB wire items (pure, no I/O).

Aggregates and group keys read attribute values straight from wire items
(``{"total": {"N": "12.50"}}``), never from model instances: :func:`resolve` follows a path to
its AttributeValue (None when missing or NULL), :func:`wire_decimal` and :func:`wire_binary`
parse N and B values, :func:`item_key` names an item in error messages, and
:func:`decode_value` decodes a value with the path's annotation (e.g. back to ``datetime``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ._errors import DynamormError, ItemDecodeError, ModelError
from ._marshal import TypeKind, from_wire_value, kind_of, parse_number, untag, unwrap_optional

__all__ = [
    "TYPE_NAMES",
    "WireItem",
    "decode_value",
    "item_key",
    "kind_or_none",
    "resolve",
    "tag_of",
    "wire_binary",
    "wire_decimal",
]

WireItem = Mapping[str, Mapping[str, Any]]
"""An item as DynamoDB returns it: attribute name -> tagged AttributeValue."""

TYPE_NAMES = {
    "S": "string",
    "N": "number",
    "B": "binary",
    "BOOL": "bool",
    "SS": "string set",
    "NS": "number set",
    "BS": "binary set",
    "L": "list",
    "M": "map",
}


def resolve(item: WireItem, elements: tuple[str | int, ...]) -> Mapping[str, Any] | None:
    """The AttributeValue at ``elements``, or None when missing or NULL."""
    av: Mapping[str, Any] | None = item.get(str(elements[0]))
    for element in elements[1:]:
        if av is None:
            return None
        if isinstance(element, int):
            values = av.get("L")
            av = values[element] if isinstance(values, list) and element < len(values) else None
        else:
            fields = av.get("M")
            av = fields.get(element) if isinstance(fields, Mapping) else None
    if av is None or "NULL" in av:
        return None
    return av


def tag_of(av: Mapping[str, Any]) -> str:
    """The type tag of an AttributeValue (``"S"``, ``"N"``, ...)."""
    for tag in av:
        return str(tag)
    raise ItemDecodeError("empty attribute value on the wire")


def item_key(item: WireItem, key_attributes: tuple[str, ...]) -> dict[str, Any] | None:
    """The item's key attributes, untagged, to name the item in errors (None when absent)."""
    key: dict[str, Any] = {}
    for attribute in key_attributes:
        av = item.get(attribute)
        if av is not None:
            try:
                key[attribute] = untag(av)
            except DynamormError:
                key[attribute] = dict(av)
    return key or None


def wire_decimal(text: object) -> Decimal:
    """The finite Decimal an N value holds."""
    try:
        number = Decimal(str(text))
    except InvalidOperation as exc:
        raise ItemDecodeError(f"malformed number {text!r} on the wire") from exc
    if not number.is_finite():
        raise ItemDecodeError(f"malformed number {text!r} on the wire")
    return number


def wire_binary(value: object) -> bytes:
    """The bytes a B value holds (raw bytes or base64 text)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ItemDecodeError(f"malformed binary value {value!r} on the wire") from exc


def kind_or_none(annotation: Any) -> TypeKind | None:
    """The annotation's TypeKind, or None when it is not a supported field type."""
    try:
        return kind_of(annotation)
    except ModelError:
        return None


def decode_value(annotation: Any, av: Mapping[str, Any]) -> Any:
    """Decode one AttributeValue with the path's annotation (untag when it has none)."""
    if annotation is None:
        return untag(av)
    target = unwrap_optional(annotation)
    if "N" in av and isinstance(target, type) and issubclass(target, datetime):
        # TTL datetimes travel as epoch seconds.
        return datetime.fromtimestamp(int(parse_number(av["N"])), tz=UTC)
    return from_wire_value(target, av)
