"""Path functions as free functions (pure, no I/O).

A struct field always wins over a path method of the same name: with a nested field called
``size``, ``Order.product.size`` is the path of that field, not the method. These functions reach
every path function whatever the struct's fields are called (``size(Order.product.size) > 2``),
and take model class attributes as they are, so they also type-check under ``mypy --strict``
without a :func:`~dynamorm_async.path` wrapper. Each calls the base class's method, which no
field can shadow.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .core import AttributePath, Condition, Size, as_path

__all__ = [
    "attribute_type",
    "begins_with",
    "between",
    "contains",
    "exists",
    "is_in",
    "not_exists",
    "size",
]


def exists(attribute: object) -> Condition:
    """``attribute_exists(path)``: ``exists(Order.ship_to)``."""
    return AttributePath.exists(as_path(attribute))


def not_exists(attribute: object) -> Condition:
    """``attribute_not_exists(path)``: ``not_exists(Order.ship_to)``."""
    return AttributePath.not_exists(as_path(attribute))


def begins_with(attribute: object, prefix: str | bytes) -> Condition:
    """``begins_with(path, prefix)`` for strings or binary."""
    return AttributePath.begins_with(as_path(attribute), prefix)


def contains(attribute: object, value: Any) -> Condition:
    """``contains(path, value)``: substring of a string, element of a set or list."""
    return AttributePath.contains(as_path(attribute), value)


def attribute_type(attribute: object, type_name: str) -> Condition:
    """``attribute_type(path, T)`` for T in S SS N NS B BS BOOL NULL L M (``.is_type()``)."""
    return AttributePath.is_type(as_path(attribute), type_name)


def size(attribute: object) -> Size:
    """``size(path)``, compared as a number: ``size(Order.lines) > 2``."""
    return AttributePath.size(as_path(attribute))


def between(subject: object, low: Any, high: Any) -> Condition:
    """Inclusive range ``low <= subject <= high`` of a path or of a :func:`size`."""
    if isinstance(subject, Size):
        return subject.between(low, high)
    return AttributePath.between(as_path(subject), low, high)


def is_in(subject: object, values: Iterable[Any]) -> Condition:
    """A path (or a :func:`size`) equal to one of ``values`` (1 to 100 values)."""
    if isinstance(subject, Size):
        return subject.is_in(values)
    return AttributePath.is_in(as_path(subject), values)
