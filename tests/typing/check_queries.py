"""Query and scan builders, their terminals and pages are typed by the model or projection."""

from __future__ import annotations

from typing import Any, assert_type

from typing_models import Order, OrderSummary

from dynamorm_async import Page, ProjectedQuery, ProjectedScan, Query, Scan, Session


async def queries(db: Session) -> None:
    q = db.query(Order).where(Order.customer == "c1").filter(Order.total > 10)
    assert_type(q, Query[Order])
    assert_type(q.limit(5).reverse().consistent().index("by_status").page_size(50), Query[Order])
    assert_type(await q.all(), list[Order])
    assert_type(await q.first(), Order | None)
    assert_type(await q.count(), int)
    async for order in q:
        assert_type(order, Order)

    page = await q.page(size=20)
    assert_type(page, Page[Order])
    assert_type(page.items, list[Order])
    assert_type(page.next_cursor, str | None)
    assert_type(page.prev_cursor, str | None)
    assert_type(await q.page(size=20, cursor=page.next_cursor), Page[Order])
    async for each in q.pages(size=20):
        assert_type(each, Page[Order])

    await q.page(size="20")  # type: ignore[arg-type]


async def projections(db: Session) -> None:
    q = db.query(Order).where(Order.customer == "c1")
    partial = q.select(OrderSummary)
    assert_type(partial, ProjectedQuery[OrderSummary])
    assert_type(await partial.all(), list[OrderSummary])
    assert_type((await partial.page(size=5)).items, list[OrderSummary])
    assert_type(await q.select(Order.order_id, Order.total).first(), dict[str, Any] | None)


async def scans(db: Session) -> None:
    s = db.scan(Order).filter(Order.status == "paid").segments(8)
    assert_type(s, Scan[Order])
    assert_type(await s.all(), list[Order])
    assert_type(await s.count(), int)
    assert_type(s.select(OrderSummary), ProjectedScan[OrderSummary])
    assert_type(await s.select(OrderSummary).all(), list[OrderSummary])
    assert_type(await s.select(Order.total).all(), list[dict[str, Any]])
    assert_type(await db.query(Order).where(Order.customer == "c1").delete(), int)
