"""Transactions against DynamoDB Local: TransactWriteItems from an ``async with`` block (every
action kind, cancellation naming the failing action, nothing written or sent on failure,
validation before sending, Version/timestamp semantics) and TransactGetItems."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

import pytest

from dynamorm_async import (
    HashKey,
    Model,
    RequestEvent,
    Session,
    TransactionCanceled,
    ValidationError,
)
from dynamorm_async.testing import local_session
from tests.models import Order

pytestmark = pytest.mark.timeout(60)


class Stock(Model, table="stock"):
    sku: Annotated[str, HashKey()]
    available: int = 0


@dataclass
class Counted:
    db: Session
    events: list[RequestEvent]

    def operations(self) -> list[str]:
        return [e.operation for e in self.events]


@pytest.fixture
async def db(dynamodb_session: Session, dynamodb_endpoint: str) -> AsyncIterator[Counted]:
    """A Session on fresh tables whose requests are recorded from here on."""
    await dynamodb_session.create_table(Order)
    await dynamodb_session.create_table(Stock)
    events: list[RequestEvent] = []
    async with local_session(
        dynamodb_endpoint, table_prefix=dynamodb_session.table_prefix, on_request=events.append
    ) as session:
        yield Counted(session, events)


async def get_order(db: Session, order_id: str) -> Order | None:
    return await db.get_or_none(Order, customer="c1", order_id=order_id, consistent=True)


async def test_every_action_commits_together(db: Counted) -> None:
    s = db.db
    await s.put(Stock(sku="k1", available=5))
    updated = await s.put(Order(customer="c1", order_id="o2", qty=1))
    doomed = await s.put(Order(customer="c1", order_id="o3"))
    await s.put(Order(customer="c1", order_id="o4", status="open"))
    await s.put(Order(customer="c1", order_id="o6", qty=1))
    db.events.clear()

    new = Order(customer="c1", order_id="o1", total=Decimal("9.5"))
    async with s.transaction() as tx:
        tx.put(new)
        tx.update(Order, customer="c1", order_id="o2").increment(Order.qty, 2).set(
            Order.status, "paid"
        )
        tx.delete(doomed)
        tx.condition_check(
            Order, customer="c1", order_id="o4", condition=Order.status == "open"
        )
        tx.update(Stock, sku="k1").decrement(Stock.available).condition(Stock.available > 0)
        tx.create(Order(customer="c1", order_id="o5"))
        tx.update(await s.get(Order, customer="c1", order_id="o6")).increment(Order.qty)
        tx.delete(Stock, sku="gone")
        assert len(tx) == 8
        assert db.operations() == ["GetItem"]  # nothing is sent inside the block
    assert db.operations() == ["GetItem", "TransactWriteItems"]

    assert new.version == 1  # applied after the commit
    assert new.created_at is not None
    assert new.created_at == new.updated_at
    assert await get_order(s, "o1") == new
    o2 = await get_order(s, "o2")
    assert o2 is not None
    assert (o2.qty, o2.status, o2.version) == (3, "paid", 2)
    assert o2.created_at == updated.created_at
    assert o2.updated_at is not None
    assert updated.updated_at is not None
    assert o2.updated_at > updated.updated_at
    assert await get_order(s, "o3") is None
    assert (await s.get(Stock, sku="k1", consistent=True)).available == 4
    o5 = await get_order(s, "o5")
    assert o5 is not None
    assert o5.version == 1
    o6 = await get_order(s, "o6")
    assert o6 is not None
    assert (o6.qty, o6.version) == (2, 2)


async def test_failed_condition_cancels_everything_and_names_the_action(db: Counted) -> None:
    s = db.db
    await s.put(Stock(sku="k1", available=0))
    existing = await s.put(Order(customer="c1", order_id="o2", qty=1))
    new = Order(customer="c1", order_id="o1")
    with pytest.raises(TransactionCanceled) as caught:
        async with s.transaction() as tx:
            tx.put(new)
            tx.update(existing).increment(Order.qty)
            tx.update(Stock, sku="k1").decrement(Stock.available).condition(
                Stock.available > 0
            )
            tx.delete(Order, customer="c1", order_id="o9")
    error = caught.value
    stock_table = s.table_name(Stock)
    assert [(r.index, r.operation, r.table, r.key) for r in error.reasons] == [
        (0, "Put", s.table_name(Order), {"customer": "c1", "order_id": "o1"}),
        (1, "Update", s.table_name(Order), {"customer": "c1", "order_id": "o2"}),
        (2, "Update", stock_table, {"sku": "k1"}),
        (3, "Delete", s.table_name(Order), {"customer": "c1", "order_id": "o9"}),
    ]
    assert [r.code for r in error.reasons] == ["None", "None", "ConditionalCheckFailed", "None"]
    (failed,) = error.failed_reasons
    assert failed.index == 2
    assert "action 2 (Update on" in str(error)
    assert (error.operation, error.table, error.key) == (
        "TransactWriteItems",
        stock_table,
        {"sku": "k1"},
    )
    assert error.code == "TransactionCanceledException"
    assert error.__cause__ is not None
    # nothing was written, and the put's instance did not take a version
    assert new.version == 0
    assert new.created_at is None
    assert await get_order(s, "o1") is None
    assert await get_order(s, "o2") == existing
    assert (await s.get(Stock, sku="k1", consistent=True)).available == 0


async def test_stale_version_cancels_the_transaction(db: Counted) -> None:
    s = db.db
    order = await s.put(Order(customer="c1", order_id="o1"))
    stale = Order(**{f: getattr(order, f) for f in order.__struct_fields__})
    await s.put(order)
    stale.status = "overwritten"
    with pytest.raises(TransactionCanceled) as caught:
        async with s.transaction() as tx:
            tx.put(stale)
    assert caught.value.failed_reasons[0].operation == "Put"
    assert stale.version == 1
    with pytest.raises(TransactionCanceled):
        async with s.transaction() as tx:
            tx.update(stale).set(Order.status, "overwritten")
    with pytest.raises(TransactionCanceled):
        async with s.transaction() as tx:
            tx.delete(stale)
    assert await get_order(s, "o1") == order


async def test_create_of_an_existing_item_cancels(db: Counted) -> None:
    s = db.db
    await s.put(Order(customer="c1", order_id="o1"))
    with pytest.raises(TransactionCanceled) as caught:
        async with s.transaction() as tx:
            tx.create(Order(customer="c1", order_id="o1", status="dup"))
    assert caught.value.reasons[0].code == "ConditionalCheckFailed"
    stored = await get_order(s, "o1")
    assert stored is not None
    assert stored.status == "new"


async def test_nothing_is_sent_when_the_block_raises(db: Counted) -> None:
    order = Order(customer="c1", order_id="o1")
    with pytest.raises(RuntimeError, match="boom"):
        async with db.db.transaction() as tx:
            tx.put(order)
            builder = tx.update(Stock, sku="k1").increment(Stock.available)
            raise RuntimeError("boom")
    assert db.events == []
    assert order.version == 0
    with pytest.raises(ValidationError, match="transaction has finished"):
        builder.increment(Stock.available)
    with pytest.raises(ValidationError, match="transaction has finished"):
        tx.put(order)
    assert db.events == []
    assert await get_order(db.db, "o1") is None


async def test_empty_transaction_sends_nothing(db: Counted) -> None:
    async with db.db.transaction():
        pass
    assert db.events == []


async def test_more_than_100_actions_is_rejected_before_sending(db: Counted) -> None:
    with pytest.raises(ValidationError, match="at most 100 actions"):
        async with db.db.transaction() as tx:
            for i in range(101):
                tx.put(Stock(sku=f"k{i}", available=i))
    assert db.events == []


async def test_exactly_100_actions_commit(db: Counted) -> None:
    async with db.db.transaction() as tx:
        for i in range(100):
            tx.put(Stock(sku=f"k{i}", available=i))
    assert db.operations() == ["TransactWriteItems"]
    got = await db.db.transact_get([(Stock, {"sku": f"k{i}"}) for i in range(100)])
    assert [s.available for s in got if isinstance(s, Stock)] == list(range(100))


async def test_two_actions_on_one_item_are_rejected_before_sending(db: Counted) -> None:
    with pytest.raises(ValidationError, match="targets the same item as action 0"):
        async with db.db.transaction() as tx:
            tx.put(Order(customer="c1", order_id="o1"))
            tx.condition_check(
                Order, customer="c1", order_id="o1", condition=Order.qty > 0
            )
    with pytest.raises(ValidationError, match="same item"):
        async with db.db.transaction() as tx:
            tx.update(Stock, sku="k").increment(Stock.available)
            tx.delete(Stock, sku="k")
    assert db.events == []


async def test_update_validation_inside_a_transaction(db: Counted) -> None:
    with pytest.raises(ValidationError, match=r"action 1 \(Update on .*empty update of Stock"):
        async with db.db.transaction() as tx:
            tx.put(Order(customer="c1", order_id="o1"))
            tx.update(Stock, sku="k")
    with pytest.raises(ValidationError, match="overlaps"):
        async with db.db.transaction() as tx:
            tx.update(Stock, sku="k").increment(Stock.available).set(Stock.available, 1)
    with pytest.raises(ValidationError, match="cannot return values"):
        async with db.db.transaction() as tx:
            tx.update(Stock, sku="k").increment(Stock.available).returning("ALL_NEW")
    with pytest.raises(ValidationError, match="sent when its async with block exits"):
        async with db.db.transaction() as tx:
            await tx.update(Stock, sku="k").increment(Stock.available)
    with pytest.raises(ValidationError, match="builders are immutable"):
        async with db.db.transaction() as tx:
            builder = tx.update(Stock, sku="k")
            builder.increment(Stock.available)
            builder.set(Stock.available, 3)  # a branch would be lost silently otherwise
    with pytest.raises(ValidationError, match="missing \\['order_id'\\]"):
        async with db.db.transaction() as tx:
            tx.condition_check(Order, customer="c1", condition=Order.qty > 0)
    with pytest.raises(ValidationError, match="expected a condition"):
        async with db.db.transaction() as tx:
            tx.condition_check(Stock, sku="k", condition=True)
    assert db.events == []


async def test_chained_update_records_the_whole_chain(db: Counted) -> None:
    async with db.db.transaction() as tx:
        builder = tx.update(Stock, sku="k")
        builder = builder.increment(Stock.available, 5)
        builder.condition(Stock.sku.not_exists())
    assert (await db.db.get(Stock, sku="k", consistent=True)).available == 5


async def test_commit_without_the_block(db: Counted) -> None:
    tx = db.db.transaction()
    tx.put(Stock(sku="k", available=1))
    await tx.commit()
    with pytest.raises(ValidationError, match="transaction has finished"):
        await tx.commit()
    assert db.operations() == ["TransactWriteItems"]


async def test_transact_get_in_order_with_none_for_missing(db: Counted) -> None:
    s = db.db
    order = await s.put(Order(customer="c1", order_id="o1"))
    stock = await s.put(Stock(sku="k1", available=3))
    db.events.clear()
    got = await s.transact_get(
        [
            (Stock, {"sku": "k1"}),
            (Order, {"customer": "c1", "order_id": "missing"}),
            (Order, {"customer": "c1", "order_id": "o1"}),
        ]
    )
    assert got == [stock, None, order]
    assert isinstance(got[2], Order)
    assert db.operations() == ["TransactGetItems"]


async def test_transact_get_validation_before_sending(db: Counted) -> None:
    s = db.db
    assert await s.transact_get([]) == []
    with pytest.raises(ValidationError, match="at most 100 items"):
        await s.transact_get([(Stock, {"sku": f"k{i}"}) for i in range(101)])
    with pytest.raises(ValidationError, match="repeats action 0"):
        await s.transact_get([(Stock, {"sku": "k"}), (Stock, {"sku": "k"})])
    with pytest.raises(ValidationError, match="missing \\['order_id'\\]"):
        await s.transact_get([(Order, {"customer": "c1"})])
    assert db.events == []
