"""Typed attribute paths (the mypy plugin, ``dynamorm_async.mypy``, enabled in pyproject.toml).

Class attributes are ``AttributePath[T]``: comparisons on Optional fields and on fields of
Optional structs type-check, conditions stay conditions through ``& | ~``, and an update's value
must fit the field (mypy then lists the one signature the path takes, e.g. ``def set(self,
path: AttributePath[Decimal], value: Decimal | int)``). Each ``# type: ignore[code]`` line is a
mistake mypy must catch: under ``--strict`` an ignore that is not needed is itself an error.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, assert_type

from typing_models import Address, Line, Order, Status

import dynamorm_async as dm
from dynamorm_async import AttributePath, Condition, ConditionFailed, ItemExists, Session, path
from dynamorm_async._expressions.core import Compare


def class_attributes(order: Order) -> None:
    assert_type(Order.total, AttributePath[Decimal])
    assert_type(Order.placed_at, AttributePath[datetime | None])
    assert_type(Order.ship_to, AttributePath[Address | None])
    assert_type(Order.ship_to.city, AttributePath[str])
    assert_type(Order.ship_to.zip, AttributePath[str | None])
    assert_type(Order.items[2], AttributePath[Line])
    assert_type(Order.items[2].qty, AttributePath[int])
    assert_type(Order.notes["gift"].sku, AttributePath[str])
    assert_type(Order.ship_to["city"], AttributePath[str])
    # On an instance a field is its value.
    assert_type(order.total, Decimal)
    assert_type(order.placed_at, datetime | None)

    dm.exists(Order.ship_to.country)  # type: ignore[attr-defined]
    dm.exists(Order.total.amount)  # type: ignore[attr-defined]


def optional_comparisons(since: datetime) -> None:
    assert_type(Order.placed_at > since, Compare)
    assert_type(Order.placed_at <= since, Compare)
    assert_type(Order.ship_to.city == "Lyon", Compare)
    assert_type(Order.items[0].qty >= 2, Compare)
    recent: Condition = (Order.placed_at > since) & (Order.ship_to.city == "Lyon")
    del recent


def connectives(since: datetime) -> None:
    assert_type(~(Order.total > 10), Condition)
    assert_type(~(Order.placed_at > since), Condition)
    assert_type(path(Order.ship_to).exists() & (Order.total > 1), Condition)
    assert_type((Order.total > 1) | path(Order.ship_to).exists(), Condition)
    assert_type(Order.ship_to.exists() | ~Order.placed_at.not_exists(), Condition)
    assert_type(Order.order_id.begins_with("2025-") & Order.tags.contains("gift"), Condition)
    assert_type(Order.items.size() > 1, Compare)
    assert_type(dm.exists(Order.ship_to.city) & (dm.size(Order.items) < 5), Condition)


def path_function() -> None:
    assert_type(path(Order.total), AttributePath[Decimal])
    assert_type(path(Order.ship_to).city, AttributePath[str])
    # A plain value (what a class attribute is without the plugin) becomes a typed path.
    assert_type(path(Decimal(1)), AttributePath[Decimal])


async def updates(db: Session, since: datetime) -> None:
    update = db.update(Order, customer="c1", order_id="o1")
    update.set(Order.total, Decimal("9.50")).set(Order.total, 10).set(Order.qty, 2)
    update.set(Order.status, Status.PAID).set(Order.placed_at, since).set(Order.placed_at, None)
    update.set(Order.ship_to.city, "Lyon").set(Order.items[0].qty, 3)
    update.set(Order.ship_to, Address(city="Lyon")).set(Order.lines, ["a"])
    update.set_if_not_exists(Order.total, Decimal(0)).add(Order.tags, {"gift"}).add(Order.qty, 1)
    update.increment(Order.qty).append(Order.items, [Line(sku="s", qty=1)]).remove(Order.ship_to)

    update.set(Order.total, "x")  # type: ignore[call-overload]
    update.set(Order.status, "paid")  # type: ignore[call-overload]
    update.set(Order.placed_at, "2025-01-01")  # type: ignore[call-overload]
    update.set(Order.ship_to.city, 3)  # type: ignore[call-overload]
    update.set(Order.items[0].qty, "3")  # type: ignore[call-overload]
    update.set(Order.lines, [1])  # type: ignore[list-item]
    update.set_if_not_exists(Order.qty, "1")  # type: ignore[call-overload]
    update.add(Order.tags, {1})  # type: ignore[arg-type]


def stored_items(failed: ConditionFailed[Order], exists: ItemExists[Order]) -> None:
    assert_type(failed.item, Order | None)
    assert_type(exists.item, Order | None)
    if failed.item is not None:
        assert_type(failed.item.total, Decimal)


def unannotated(exc: ConditionFailed) -> None:
    assert_type(exc.item, Any | None)
