"""Batches and transactions."""

from __future__ import annotations

from typing import Any, assert_type

from typing_models import Order, OrderSummary, Status, Stock

from dynamorm_async import (
    BatchGetError,
    BatchResult,
    BatchWriteError,
    BatchWriter,
    Model,
    Session,
    Transaction,
)


async def batches(db: Session, orders: list[Order]) -> None:
    keys = [{"customer": "c1", "order_id": "o1"}]
    assert_type(await db.batch_get(Order, keys), list[Order])
    assert_type(await db.batch_put(orders), BatchResult)
    assert_type(await db.batch_delete(Order, keys), BatchResult)
    # Instances name their own keys, in reads as in deletes.
    assert_type(await db.batch_get(Order, orders), list[Order])
    assert_type(await db.batch_get(Order, [orders[0], *keys]), list[Order])
    assert_type(await db.batch_delete(Order, orders), BatchResult)
    await db.batch_get(Order, ["c1"])  # type: ignore[list-item]
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



async def transactional_reads(db: Session) -> None:
    # One model: its instances. Several models: their common base, narrowed by isinstance.
    orders = await db.transact_get([(Order, {"customer": "c1", "order_id": "o1"})])
    assert_type(orders, list[Order | None])
    mixed = await db.transact_get(
        [(Order, {"customer": "c1", "order_id": "o1"}), (Stock, {"sku": "pen"})]
    )
    assert_type(mixed, list[Model | None])
    first = mixed[0]
    if isinstance(first, Order):
        assert_type(first.status, Status)
    await db.transact_get([(Order(customer="c", order_id="o"), {})])  # type: ignore[arg-type]
