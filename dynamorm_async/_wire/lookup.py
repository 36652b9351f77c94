"""Reading aggregation inputs out of DynamoDB wire items (pure, no I/O).

Aggregates and group keys read attribute values straight from wire items
(``{"total": {"N": "12.50"}}``), never from model instances: :func:`resolve` follows a path to
its AttributeValue (None when missing or NULL), :func:`item_key` names an item in error
messages, and :func:`decode_value` decodes a value with the path's annotation (e.g. back to
``datetime``). N and B values are parsed by ``_wire`` (``parse_decimal``, ``decode_binary``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .._errors import DynamormError, ModelError
from .taggers import TypeKind, from_wire_value, kind_of, untag, unwrap_optional
from .values import epoch_datetime

__all__ = [
    "WireItem",
    "decode_value",
    "item_key",
    "kind_or_none",
    "resolve",
]

WireItem = Mapping[str, Mapping[str, Any]]
"""An item as DynamoDB returns it: attribute name -> tagged AttributeValue."""


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
        return epoch_datetime(av["N"])
    return from_wire_value(target, av)
