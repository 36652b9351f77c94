"""Aggregation builders: group_by gives ``list[Row[K]]``, keyed by the grouped paths' types (a
missing value is None); an ungrouped aggregate one ``Row`` whose key is ``()``."""

from __future__ import annotations

from typing import Any, assert_type

from typing_models import Order, Status

from dynamorm_async import Session
from dynamorm_async._aggregate.accumulator import Row
from dynamorm_async._aggregate.builders import Aggregation, GroupBy
from dynamorm_async._aggregate.functions import Avg, Count, HavingCondition, Max, Min, Sum


async def grouped(db: Session) -> None:
    builder = db.scan(Order).segments(4).filter(Order.status != "void").group_by(Order.status)
    assert_type(builder, GroupBy[Order, Status | None])
    having = (Sum(Order.total) > 100) & ~(Count() < 2)
    assert_type(having, HavingCondition)
    rows = await builder.aggregate(n=Count(), total=Sum(Order.total)).having(having)
    assert_type(rows, list[Row[Status | None]])
    assert_type(rows[0].key, Status | None)
    ordered = builder.aggregate(hi=Max(Order.total)).order_by("hi", desc=True).limit_groups(3)
    assert_type(ordered, GroupBy[Order, Status | None])
    assert_type(await ordered.max_groups(10).execute(), list[Row[Status | None]])
    by_query = db.query(Order).where(Order.customer == "c1").group_by(Order.status, Order.qty)
    pair = await by_query.aggregate(lo=Min(Order.total))
    assert_type(pair, list[Row[tuple[Status | None, int | None]]])
    # More than two paths, or untyped ones: the key is Any.
    three = db.scan(Order).group_by(Order.status, Order.qty, Order.customer)
    assert_type(await three.aggregate(n=Count()), list[Row[Any]])

    builder.aggregate(n="count")  # type: ignore[arg-type]
    builder.having(Order.total > 1)  # type: ignore[arg-type]


async def ungrouped(db: Session) -> None:
    builder = db.query(Order).where(Order.customer == "c1").aggregate(s=Sum(Order.total))
    assert_type(builder, Aggregation[Order])
    row = await builder.aggregate(mean=Avg(Order.total))
    assert_type(row, Row[tuple[()]])
    assert_type(await db.scan(Order).aggregate(n=Count()).execute(), Row[tuple[()]])
    # Grouped after the aggregates, the key is not typed: group the query itself for that.
    assert_type(await builder.group_by(Order.status), list[Row[Any]])


def builders(db: Session) -> None:
    assert_type(db.scan(Order).group_by(Order.status), GroupBy[Order, Status | None])
    assert_type(
        db.query(Order).where(Order.customer == "c1").aggregate(n=Count()), Aggregation[Order]
    )
