"""Batches and transactions."""

from __future__ import annotations

from typing import Any, assert_type

from typing_models import Order, OrderSummary

from dynamorm_async import (
    BatchGetError,
    BatchResult,
    BatchWriteError,
    BatchWriter,
    Session,
    Transaction,
)


async def batches(db: Session, orders: list[Order]) -> None:
    keys = [{"customer": "c1", "order_id": "o1"}]
    assert_type(await db.batch_get(Order, keys), list[Order])
    assert_type(await db.batch_put(orders), BatchResult)
    assert_type(await db.batch_delete(Order, keys), BatchResult)
    async with db.batch_writer() as writer:
        assert_type(writer, BatchWriter)
        writer.put(orders[0])
        writer.delete(orders[1])


async def projected_batches(db: Session) -> None:
    keys = [{"customer": "c1", "order_id": "o1"}]
    assert_type(await db.batch_get(Order, keys, select=OrderSummary), list[OrderSummary])
    assert_type(await db.batch_get(Order, keys, select=[Order.total]), list[dict[str, Any]])


def batch_errors(exc: BatchWriteError, get_error: BatchGetError) -> None:
    assert_type(exc.unprocessed, list[Any])
    assert_type(exc.processed, int)
    assert_type(get_error.found, list[Any])


async def transactions(db: Session, order: Order) -> None:
    async with db.transaction() as tx:
        assert_type(tx, Transaction)
        tx.put(order)
        tx.update(Order, customer="c1", order_id="o2").increment(Order.qty, 1)
        tx.condition_check(Order, customer="c1", order_id="o3", condition=Order.status == "open")
        tx.delete(order)
    found = await db.transact_get([(Order, {"customer": "c1", "order_id": "o1"})])
    assert_type(found, list[Any])
