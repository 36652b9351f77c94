"""An update's result is typed by its ``returning`` mode."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, assert_type

from typing_models import Order, Status

from dynamorm_async import ReturningUpdate, Session, UpdateBuilder


async def updates(db: Session, order: Order) -> None:
    builder = db.update(Order, customer="c1", order_id="o1").set(Order.status, Status.PAID)
    assert_type(builder, UpdateBuilder[Order])
    assert_type(db.update(order), UpdateBuilder[Order])
    assert_type(db.query(Order).where(Order.customer == "c1").update(), UpdateBuilder[Order])
    assert_type(await builder.execute(), None)
    assert_type(await builder, None)

    new = builder.increment(Order.qty, 1).returning("ALL_NEW")
    assert_type(new, ReturningUpdate[Order, Order])
    assert_type(await new.execute(), Order)
    assert_type(await new, Order)
    assert_type(await builder.returning("ALL_OLD").execute(), Order | None)
    assert_type(await builder.returning("UPDATED_NEW").execute(), dict[str, Any])
    assert_type(await builder.returning("UPDATED_OLD").execute(), dict[str, Any])
    assert_type(builder.returning("NONE"), UpdateBuilder[Order])

    chained = (
        db.update(order)
        .add(Order.tags, {"gift"})
        .delete(Order.tags, {"old"})
        .append(Order.lines, ["x"])
        .remove(Order.ship_to)
        .set_if_not_exists(Order.total, Decimal(0))
        .condition(Order.status == "new")
    )
    assert_type(chained, UpdateBuilder[Order])
    assert_type(builder.must_exist(), UpdateBuilder[Order])
    assert_type(new.must_exist(), ReturningUpdate[Order, Order])

    builder.returning("EVERYTHING")  # type: ignore[call-overload]
