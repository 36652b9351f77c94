"""Models shared by the typing checks (never executed by pytest: these files are for mypy)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import msgspec

from dynamorm_async import CreatedAt, GlobalIndex, HashKey, Model, RangeKey, Version


class Address(msgspec.Struct):
    city: str
    zip: str | None = None


class Order(Model, table="orders"):
    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    status: str = "new"
    total: Decimal = Decimal(0)
    qty: int = 0
    tags: set[str] = msgspec.field(default_factory=set)
    lines: list[str] = msgspec.field(default_factory=list)
    ship_to: Address | None = None
    version: Annotated[int, Version()] = 0
    created_at: Annotated[datetime | None, CreatedAt()] = None

    __indexes__ = (GlobalIndex("by_status", hash_key="status", range_key="total"),)


class OrderSummary(msgspec.Struct):
    """A typed partial: what ``.select(OrderSummary)`` decodes into."""

    order_id: str
    total: Decimal


class Stock(Model, table="stock"):
    """A second model, for calls that mix models."""

    sku: Annotated[str, HashKey()]
    available: int = 0
