"""Models that several test modules use: one declaration each.

A test that needs another shape declares its own model under a name of its own (``QueryOrder``,
``ExprOrder``...), so one name always means one shape. Each test gives its tables a prefix of
their own, so modules sharing a model never share its table.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import msgspec

from dynamorm_async import TTL, CreatedAt, HashKey, Model, RangeKey, UpdatedAt, Version
from tests.shared_types import Address


class Order(Model, table="orders"):
    """Every kind of field an update or a transaction touches, with every managed field."""

    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    status: str = "new"
    total: Decimal = Decimal(0)
    qty: int = 0
    tags: set[str] = msgspec.field(default_factory=set)
    scores: set[int] = msgspec.field(default_factory=set)
    blobs: set[bytes] = msgspec.field(default_factory=set)
    lines: list[str] = msgspec.field(default_factory=list)
    ship_to: Address | None = None
    note: str | None = None
    version: Annotated[int, Version()] = 0
    expires_at: Annotated[datetime | None, TTL()] = None
    created_at: Annotated[datetime | None, CreatedAt()] = None
    updated_at: Annotated[datetime | None, UpdatedAt()] = None


class Counter(Model, table="counters"):
    """Nothing required: every update may create it."""

    name: Annotated[str, HashKey()]
    hits: int = 0


class Strict(Model, table="strict"):
    """Two required fields besides the key: an update may create it only by setting both."""

    pk: Annotated[str, HashKey()]
    amount: Decimal
    name: str


class Reading(Model, table="readings"):
    sensor: Annotated[str, HashKey()]
    at: Annotated[int, RangeKey()]
    value: Decimal = Decimal(0)
