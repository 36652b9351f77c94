"""Attribute paths: the free path functions take model class attributes as they are (no
``path()`` wrapper), and nested fields named like path methods are reachable."""

from __future__ import annotations

from typing import Annotated, assert_type

import msgspec
from typing_models import Order

import dynamorm_async as dm
from dynamorm_async import AttributePath, Condition, HashKey, Model, Session, Size, path
from dynamorm_async._expressions.core import Compare


class Product(msgspec.Struct):
    name: str
    size: int = 0
    contains: list[str] = msgspec.field(default_factory=list)


class Listing(Model, table="listings"):
    pk: Annotated[str, HashKey()]
    product: Product
    maybe: Product | None = None


def free_functions() -> None:
    assert_type(dm.size(Order.lines), Size)
    assert_type(dm.size(Order.lines) > 2, Compare)
    assert_type(dm.exists(Order.ship_to), Condition)
    assert_type(dm.not_exists(Order.created_at), Condition)
    assert_type(dm.begins_with(Order.order_id, "2025-"), Condition)
    assert_type(dm.begins_with(Order.order_id, b"\x00"), Condition)
    assert_type(dm.contains(Order.tags, "gift"), Condition)
    assert_type(dm.attribute_type(Order.total, "N"), Condition)
    assert_type(dm.between(Order.qty, 1, 5), Condition)
    assert_type(dm.between(dm.size(Order.lines), 1, 5), Condition)
    assert_type(dm.is_in(Order.status, ["new", "paid"]), Condition)
    assert_type(dm.is_in(dm.size(Order.tags), [1, 2]), Condition)
    condition = (dm.size(Order.lines) > 2) & dm.contains(Order.tags, "gift")
    condition = condition & dm.exists(Order.ship_to)
    assert_type(condition, Condition)

    dm.begins_with(Order.order_id, 2025)  # type: ignore[arg-type]
    dm.is_in(Order.status, "new", "paid")  # type: ignore[call-arg]
    dm.size()  # type: ignore[call-arg]


def shadowing_fields() -> None:
    # The mypy plugin types a nested field as its path. A field named like a path method
    # (``size``, ``contains``) is the method for a type checker, but the field at runtime:
    # subscripting reaches it under both, and the free functions take it either way.
    condition = (dm.size(Listing.product["contains"]) > 1) & (Listing.product["size"] == 3)
    assert_type(condition, Condition)
    assert_type(Listing.product["size"], AttributePath[int])
    assert_type(dm.contains(Listing.product["contains"], "red"), Condition)
    assert_type(Listing.product.name, AttributePath[str])
    # Through an optional struct too, with or without path().
    assert_type(Listing.maybe.name, AttributePath[str])
    assert_type(path(Listing.maybe).name, AttributePath[str])
    assert_type(dm.exists(path(Listing.maybe).name), Condition)
    assert_type(path(Listing.maybe), AttributePath[Product | None])
    dm.exists(Listing.product.colour)  # type: ignore[attr-defined]


async def in_queries(db: Session) -> None:
    found = await db.scan(Listing).filter(dm.contains(Listing.product["contains"], "red")).all()
    assert_type(found, list[Listing])
    await db.update(Listing, pk="p").set(Listing.product["size"], 2).condition(
        dm.exists(Listing.product.name) & (dm.size(Listing.product["contains"]) < 5)
    )
    db.update(Listing, pk="p").set(Listing.product["size"], "2")  # type: ignore[call-overload]
