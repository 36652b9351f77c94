"""Items, tables and errors are typed by the model."""

from __future__ import annotations

from typing import Any, assert_type

from typing_models import Order

from dynamorm_async import (
    AttributePath,
    BillingMode,
    Condition,
    ConditionFailed,
    ItemNotFound,
    RequestEvent,
    Session,
    SyncResult,
    TableDiff,
    path,
)


async def items(db: Session, order: Order) -> None:
    assert_type(await db.put(order), Order)
    assert_type(await db.put(order, condition=Order.status == "new"), Order)
    assert_type(await db.create(order), Order)
    assert_type(await db.get(Order, customer="c1", order_id="o1"), Order)
    assert_type(await db.get(Order, customer="c1", order_id="o1", consistent=True), Order)
    assert_type(await db.get_or_none(Order, customer="c1", order_id="o1"), Order | None)
    assert_type(await db.delete(order), None)
    assert_type(await db.delete(Order, customer="c1", order_id="o1"), None)
    # ALL_OLD: the deleted item, or None when there was none.
    assert_type(await db.delete(order, returning="ALL_OLD"), Order | None)
    gone = await db.delete(Order, customer="c1", order_id="o1", returning="ALL_OLD")
    assert_type(gone, Order | None)
    assert_type(await db.delete(order, returning="NONE"), None)
    await db.delete(order, returning="ALL_NEW")  # type: ignore[call-overload]

    # A model's instance is not the model class, and get() needs a model class.
    await db.get(order, customer="c1")  # type: ignore[arg-type]
    wrong: str = await db.get(Order, customer="c1", order_id="o1")  # type: ignore[assignment]
    del wrong


async def tables(db: Session, billing: BillingMode) -> None:
    assert_type(await db.ensure_table(Order), bool)
    assert_type(await db.create_table(Order), dict[str, Any])
    # ensure_table takes create_table's options, each typed.
    await db.ensure_table(Order, billing_mode=billing, read_capacity=1, write_capacity=1)
    await db.ensure_table(Order, wait=False)
    await db.ensure_table(Order, billing_mode="ON_DEMAND")  # type: ignore[arg-type]
    await db.ensure_table(Order, read_units=1)  # type: ignore[call-arg]
    assert_type(await db.list_tables(), list[str])
    diff = await db.diff_table(Order)
    assert_type(diff, TableDiff)
    assert_type(diff.missing_indexes, tuple[str, ...])
    synced = await db.sync_table(Order, drop_extra_indexes=True, dry_run=True)
    assert_type(synced, SyncResult)
    assert_type(synced.remaining, TableDiff)
    await db.sync_table(Order, drop_extra=True)  # type: ignore[call-arg]
    await db.sync_table(Order, True)  # type: ignore[call-arg]
    assert_type(db.table_name(Order), str)


def wire_format(order: Order) -> None:
    assert_type(Order.from_dynamodb(order.to_dynamodb()), Order)


def errors(exc: ConditionFailed, missing: ItemNotFound) -> None:
    assert_type(exc.table, str | None)
    assert_type(exc.code, str | None)
    assert_type(missing.key, dict[str, Any] | None)


def hook(event: RequestEvent) -> None:
    assert_type(event.operation, str)
    assert_type(event.table, str | None)
    assert_type(event.duration, float)
    assert_type(event.retries, int)


def session_with_hook(events: list[RequestEvent]) -> Session:
    return Session(endpoint_url="http://localhost:8000", on_request=events.append)


def check_path_helper() -> None:
    assert_type(path(Order.order_id), AttributePath[str])
    condition = path(Order.order_id).begins_with("2025-") & path(Order.tags).contains("gift")
    assert_type(condition, Condition)
