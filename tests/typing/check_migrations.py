"""A migration's report is typed by its source and target models."""

from __future__ import annotations

from typing import Annotated, Any, assert_type

from typing_models import Order

from dynamorm_async import HashKey, MigrationReport, Model, RangeKey, Session, migrate


class OrderV2(Model, table="orders_v2"):
    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    total_cents: int


def upgrade(old: Order) -> OrderV2 | None:
    if old.status == "void":
        return None
    return OrderV2(customer=old.customer, order_id=old.order_id, total_cents=int(old.total * 100))


async def upgrade_async(old: Order) -> OrderV2 | None:
    return upgrade(old)


async def migrations(db: Session) -> None:
    report = await migrate(db, source=Order, target=OrderV2, transform=upgrade, dry_run=True)
    assert_type(report, MigrationReport[Order, OrderV2])
    assert_type(report.scanned, int)
    assert_type(report.failed, list[tuple[dict[str, Any], str]])
    assert_type(report.samples, list[tuple[Order, OrderV2]])
    again = await migrate(db, source=Order, target=OrderV2, transform=upgrade_async, segments=8)
    assert_type(again, MigrationReport[Order, OrderV2])
