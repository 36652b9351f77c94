"""Field types that several test modules store: one declaration each.

Models built from them live in ``tests/models.py``.
"""

from __future__ import annotations

import enum

import msgspec


class Status(enum.Enum):
    NEW = "new"
    PAID = "paid"


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Line(msgspec.Struct):
    sku: str
    qty: int


class Address(msgspec.Struct):
    city: str
    zip: str | None = None
