"""Models shared by the typing checks (never executed by pytest: these files are for mypy)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import msgspec

from dynamorm_async import CreatedAt, GlobalIndex, HashKey, Model, RangeKey, Version


class Address(msgspec.Struct):
    city: str
    zip: str | None = None


class Status(StrEnum):
    NEW = "new"
    PAID = "paid"
    VOID = "void"


class Line(msgspec.Struct):
    sku: str
    qty: int


class Order(Model, table="orders"):
    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    status: Status = Status.NEW
    total: Decimal = Decimal(0)
    qty: int = 0
    tags: set[str] = msgspec.field(default_factory=set)
    lines: list[str] = msgspec.field(default_factory=list)
    ship_to: Address | None = None
    version: Annotated[int, Version()] = 0
    created_at: Annotated[datetime | None, CreatedAt()] = None
    placed_at: datetime | None = None
    items: list[Line] = msgspec.field(default_factory=list)
    notes: dict[str, Line] = msgspec.field(default_factory=dict)

    __indexes__ = (GlobalIndex("by_status", hash_key="status", range_key="total"),)


class OrderSummary(msgspec.Struct):
    """A typed partial: what ``.select(OrderSummary)`` decodes into."""

    order_id: str
    total: Decimal


class Stock(Model, table="stock"):
    """A second model, for calls that mix models."""

    sku: Annotated[str, HashKey()]
    available: int = 0
