"""dynamorm-async quickstart: runs end to end against a DynamoDB Local it starts by itself.

    make demo            # or: python examples/quickstart.py

Set DYNAMODB_ENDPOINT to use a DynamoDB you already run instead.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

import msgspec

from dynamorm_async import (
    TTL,
    Avg,
    ConditionFailed,
    Count,
    CreatedAt,
    GlobalIndex,
    HashKey,
    ItemExists,
    ItemNotFound,
    LocalIndex,
    Max,
    Min,
    Model,
    RangeKey,
    Session,
    Sum,
    TransactionCanceled,
    UpdatedAt,
    Version,
    migrate,
    path,
)
from dynamorm_async.testing import dynamodb_endpoint_context


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
    expires_at: Annotated[datetime | None, TTL()] = None
    created_at: Annotated[datetime | None, CreatedAt()] = None
    updated_at: Annotated[datetime | None, UpdatedAt()] = None

    __indexes__ = (
        GlobalIndex("by_status", hash_key="status", range_key="total"),
        LocalIndex("by_qty", range_key="qty"),
    )


class OrderV2(Model, table="orders_v2"):
    """The same orders with totals in integer cents, as a migration target."""

    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    status: str
    total_cents: int


def step(title: str) -> None:
    print(f"\n== {title}")


async def tour(db: Session) -> None:
    step("tables")
    await db.ensure_table(Order)
    print("created", db.table_name(Order), "with GSI by_status, LSI by_qty and TTL")

    step("items: put, create, get, conditions, optimistic locking")
    order = Order(
        customer="alice",
        order_id="2025-001",
        total=Decimal("19.99"),
        tags={"gift"},
        ship_to=Address(city="Lisbon"),
        expires_at=datetime.now(UTC) + timedelta(days=30),
    )
    await db.put(order)
    print(f"put {order.order_id}: version={order.version} created_at={order.created_at:%H:%M:%S}")
    try:
        await db.create(Order(customer="alice", order_id="2025-001"))
    except ItemExists as exc:
        print("create() refused a duplicate:", exc.message)
    stored = await db.get(Order, customer="alice", order_id="2025-001", consistent=True)
    print("get ->", stored.status, stored.total, stored.ship_to)
    stale = msgspec.structs.replace(stored, status="shipped")
    await db.put(stored)  # bumps the stored version; `stale` still holds the old one
    try:
        await db.put(stale)
    except ConditionFailed:
        print("a stale write lost the optimistic-locking race, as it should")
    try:
        await db.get(Order, customer="alice", order_id="nope")
    except ItemNotFound:
        print("get() of a missing key raised ItemNotFound")

    step("batch put, query, filters, index, pagination")
    orders = [
        Order(
            customer="bob",
            order_id=f"2025-{i:03d}",
            status="paid" if i % 3 else "new",
            total=Decimal(i) + Decimal("0.50"),
            qty=i % 7,
            tags={"gift"} if i % 4 == 0 else set(),
        )
        for i in range(1, 61)
    ]
    result = await db.batch_put(orders)
    print(f"batch_put wrote {result.processed} items")
    q = db.query(Order).where(Order.customer == "bob", path(Order.order_id).begins_with("2025-0"))
    print("count:", await q.count())
    gifts = await q.filter(path(Order.tags).contains("gift") & (Order.total > 10)).all()
    print("gift orders over 10:", [o.order_id for o in gifts])
    page = await q.page(size=10)
    page2 = await q.page(size=10, cursor=page.next_cursor)
    back = await q.page(size=10, cursor=page2.prev_cursor)
    print("page 2 starts at", page2.items[0].order_id, "| back to page 1:",
          [o.order_id for o in back.items] == [o.order_id for o in page.items])
    paid = await db.query(Order).where(Order.status == "paid", Order.total > 50).all()
    print("paid over 50 via the by_status GSI:", len(paid))
    first = await db.query(Order).where(Order.customer == "bob").reverse().first()
    print("latest order:", first and first.order_id)
    rows = await db.scan(Order).segments(4).select(Order.order_id, Order.total).limit(3).all()
    print("parallel scan, projected:", rows)

    step("updates, also from a query chain")
    updated = await (
        db.update(Order, customer="bob", order_id="2025-001")
        .set(Order.status, "shipped")
        .increment(Order.qty, 2)
        .append(Order.lines, ["express"])
        .condition(Order.status == "paid")
        .returning("ALL_NEW")
        .execute()
    )
    print("updated:", updated.status, updated.qty, updated.lines)
    await (
        db.query(Order)
        .where(Order.customer == "bob", Order.order_id == "2025-002")
        .update()
        .add(Order.tags, {"rush"})
        .execute()
    )
    print("tags after add:", (await db.get(Order, customer="bob", order_id="2025-002")).tags)

    step("transactions")
    async with db.transaction() as tx:
        tx.update(Order, customer="bob", order_id="2025-003").set(Order.status, "paid")
        tx.condition_check(
            Order, customer="alice", order_id="2025-001", condition=Order.total > 0
        )
    print("transaction committed")
    try:
        async with db.transaction() as tx:
            tx.update(Order, customer="bob", order_id="2025-004").set(Order.status, "void")
            tx.condition_check(
                Order, customer="alice", order_id="2025-001", condition=Order.total > 1000
            )
    except TransactionCanceled as exc:
        reason = exc.failed_reasons[0]
        print(f"transaction cancelled by action #{reason.index} ({reason.code}); nothing written")

    step("aggregation: group by status")
    groups = await (
        db.scan(Order)
        .segments(2)
        .group_by(Order.status)
        .aggregate(n=Count(), total=Sum(Order.total), avg=Avg(Order.total),
                   lo=Min(Order.total), hi=Max(Order.total))
        .having(Count() > 1)
    )
    for row in groups:
        print(f"  {row.key!s:8} n={row['n']:3} total={row['total']} avg={row['avg']:.2f} "
              f"min={row['lo']} max={row['hi']}")

    step("migration with a transform function")

    def to_cents(old: Order) -> OrderV2 | None:
        if old.status == "void":
            return None
        return OrderV2(customer=old.customer, order_id=old.order_id, status=old.status,
                       total_cents=int(old.total * 100))

    report = await migrate(db, source=Order, target=OrderV2, transform=to_cents, segments=2)
    print(f"scanned={report.scanned} written={report.written} skipped={report.skipped} "
          f"failed={len(report.failed)}")

    step("batch delete through a query")
    deleted = await db.query(Order).where(Order.customer == "bob").delete()
    print("deleted", deleted, "of bob's orders; left:",
          await db.query(Order).where(Order.customer == "bob").count())


async def main() -> None:
    with dynamodb_endpoint_context() as endpoint:
        print("DynamoDB at", endpoint)
        async with Session(
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            table_prefix="quickstart_",
        ) as db:
            try:
                await tour(db)
            finally:
                for name in await db.list_tables():
                    await db.delete_table(name)
    print("\ndone.")


if __name__ == "__main__":
    asyncio.run(main())
