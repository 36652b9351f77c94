"""Placeholders: every attribute name and value of one request behind ``#nX``/``:vX`` (pure).

One :class:`Placeholders` allocator renders all expressions of a request (condition, filter,
key, projection, update), so equal names and values share a placeholder and reserved words,
dots and dashes in names just work.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from .._wire.taggers import AttributeValue

__all__ = ["Elements", "Placeholders"]

_json = msgspec.json.Encoder(order="deterministic")


class Elements(Protocol):
    """What renders as a document path: attribute names and list indexes (an AttributePath)."""

    @property
    def _elements(self) -> tuple[str | int, ...]: ...


class Placeholders:
    """Allocates ``#n``/``:v`` placeholders, de-duplicated, for one request."""

    __slots__ = ("_value_ids", "names", "values")

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, AttributeValue] = {}
        self._value_ids: dict[bytes, str] = {}

    def name(self, attribute: str) -> str:
        """Placeholder for one attribute name (one path element)."""
        for placeholder, existing in self.names.items():
            if existing == attribute:
                return placeholder
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, av: AttributeValue) -> str:
        """Placeholder for one AttributeValue; equal values share a placeholder."""
        fingerprint = _json.encode(av)
        placeholder = self._value_ids.get(fingerprint)
        if placeholder is None:
            placeholder = f":v{len(self.values)}"
            self._value_ids[fingerprint] = placeholder
            self.values[placeholder] = av
        return placeholder

    def path(self, path: Elements) -> str:
        """Render an attribute path with every name element behind a placeholder."""
        out: list[str] = []
        for element in path._elements:
            if isinstance(element, int):
                out.append(f"[{element}]")
            else:
                out.append(("." if out else "") + self.name(element))
        return "".join(out)

    def apply(self, request: dict[str, Any]) -> dict[str, Any]:
        """Add ExpressionAttributeNames/Values to a request payload when any were allocated."""
        if self.names:
            request["ExpressionAttributeNames"] = dict(self.names)
        if self.values:
            request["ExpressionAttributeValues"] = dict(self.values)
        return request
