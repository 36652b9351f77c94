"""Updates never create an item that cannot be read (DynamoDB Local): an update that leaves a
required field unset, reaches inside an attribute, asks for ``must_exist()`` or starts from an
instance needs a stored item and raises ItemNotFound (nothing created) when there is none;
counters and complete updates still create their items. Single updates, transactions and query
chains follow the same rule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Annotated

import msgspec
import pytest

from dynamorm_async import (
    ConditionFailed,
    HashKey,
    ItemNotFound,
    Model,
    RequestEvent,
    Session,
    TransactionCanceled,
    Version,
)
from dynamorm_async.testing import local_session
from tests.models import Strict

pytestmark = pytest.mark.timeout(60)


class Meter(Model, table="counters"):
    """A counter with a Version and a set."""

    name: Annotated[str, HashKey()]
    hits: int = 0
    version: Annotated[int, Version()] = 0
    tags: set[str] = msgspec.field(default_factory=set)


@pytest.fixture
async def db(dynamodb_session: Session) -> AsyncIterator[Session]:
    for model in (Strict, Meter):
        await dynamodb_session.create_table(model)
    yield dynamodb_session


async def strict_items(db: Session) -> list[Strict]:
    return await db.scan(Strict).consistent().all()


async def test_the_strict_example_raises_item_not_found_and_creates_nothing(
    db: Session, dynamodb_endpoint: str
) -> None:
    sent: list[RequestEvent] = []
    async with local_session(
        dynamodb_endpoint, table_prefix=db.table_prefix, on_request=sent.append
    ) as watched:
        with pytest.raises(ItemNotFound, match="required field name") as caught:
            await watched.update(Strict, pk="new").set(Strict.amount, Decimal(1)).execute()
    assert [e.operation for e in sent] == ["UpdateItem"]
    assert caught.value.key == {"pk": "new"}
    assert caught.value.operation == "UpdateItem"
    assert isinstance(caught.value.__cause__, Exception)
    assert await strict_items(db) == []


async def test_an_update_setting_every_required_field_creates_a_readable_item(
    db: Session,
) -> None:
    await db.update(Strict, pk="new").set(Strict.name, "n").set(Strict.amount, Decimal(2))
    assert await strict_items(db) == [Strict(pk="new", name="n", amount=Decimal(2))]
    # Now stored, a partial update of it is fine.
    await db.update(Strict, pk="new").set(Strict.amount, Decimal(3))
    assert await strict_items(db) == [Strict(pk="new", name="n", amount=Decimal(3))]


async def test_counters_keep_working_as_upserts(db: Session) -> None:
    await db.update(Meter, name="page").increment(Meter.hits, 1)
    await db.update(Meter, name="page").increment(Meter.hits, 1)
    await db.update(Meter, name="tagged").add(Meter.tags, {"a"})
    page = await db.get(Meter, name="page", consistent=True)
    tagged = await db.get(Meter, name="tagged", consistent=True)
    assert (page.hits, page.version) == (2, 2)
    assert (tagged.hits, tagged.tags) == (0, {"a"})


async def test_must_exist_forces_the_check(db: Session) -> None:
    with pytest.raises(ItemNotFound, match=r"must_exist\(\) was asked for"):
        await db.update(Meter, name="page").increment(Meter.hits, 1).must_exist()
    assert await db.scan(Meter).consistent().all() == []
    await db.put(Meter(name="page"))
    new = await (
        db.update(Meter, name="page").must_exist().increment(Meter.hits, 5).returning("ALL_NEW")
    )
    assert new.hits == 5


async def test_a_false_condition_on_a_stored_item_stays_condition_failed(db: Session) -> None:
    stored = Strict(pk="p", name="n", amount=Decimal(1))
    await db.put(stored)
    update = db.update(Strict, pk="p").set(Strict.amount, Decimal(9))
    with pytest.raises(ConditionFailed) as caught:
        await update.condition(Strict.amount > 5)
    assert not isinstance(caught.value, ItemNotFound)
    assert caught.value.item == stored
    assert await strict_items(db) == [stored]


async def test_a_false_condition_on_a_missing_item_that_may_be_created(db: Session) -> None:
    # No existence check here: the missing item is simply what the condition saw.
    with pytest.raises(ConditionFailed) as caught:
        await db.update(Meter, name="c").increment(Meter.hits).condition(Meter.hits > 3)
    assert caught.value.item is None
    assert await db.scan(Meter).consistent().all() == []


async def test_a_missing_item_with_a_false_condition_is_item_not_found(db: Session) -> None:
    with pytest.raises(ItemNotFound):
        await db.update(Strict, pk="x").set(Strict.amount, Decimal(1)).condition(
            Strict.amount > 5
        )


async def test_a_nested_path_on_a_missing_item_is_item_not_found(db: Session) -> None:
    class Doc(Model, table="docs"):
        pk: Annotated[str, HashKey()]
        meta: dict[str, int] = msgspec.field(default_factory=dict)

    await db.create_table(Doc)
    with pytest.raises(ItemNotFound, match=r"set\(Doc.meta.a\) reaches inside"):
        await db.update(Doc, pk="d").set(Doc.meta["a"], 1)
    await db.put(Doc(pk="d"))
    await db.update(Doc, pk="d").set(Doc.meta["a"], 1)
    assert (await db.get(Doc, pk="d", consistent=True)).meta == {"a": 1}


async def test_an_update_from_an_instance_never_recreates_a_deleted_item(db: Session) -> None:
    counter = await db.put(Meter(name="gone"))
    await db.delete(Meter, name="gone")
    with pytest.raises(ItemNotFound, match="built from an instance"):
        await db.update(counter).increment(Meter.hits)
    assert await db.scan(Meter).consistent().all() == []


# --- transactions -----------------------------------------------------------------------------


async def test_a_transaction_update_that_cannot_create_cancels_it(db: Session) -> None:
    with pytest.raises(TransactionCanceled) as caught:
        async with db.transaction() as tx:
            tx.put(Meter(name="other"))
            tx.update(Strict, pk="new").set(Strict.amount, Decimal(1))
    reasons = caught.value.failed_reasons
    assert [(r.index, r.code, r.operation) for r in reasons] == [
        (1, "ConditionalCheckFailed", "Update")
    ]
    assert reasons[0].message is not None
    assert reasons[0].message.startswith("ItemNotFound: no Strict item under this key")
    assert "required field name" in reasons[0].message
    assert "ItemNotFound" in str(caught.value)
    assert await strict_items(db) == []
    assert await db.scan(Meter).consistent().all() == []


async def test_a_transaction_update_with_a_false_condition_keeps_dynamodbs_reason(
    db: Session,
) -> None:
    await db.put(Strict(pk="p", name="n", amount=Decimal(1)))
    with pytest.raises(TransactionCanceled) as caught:
        async with db.transaction() as tx:
            tx.update(Strict, pk="p").set(Strict.amount, Decimal(2)).condition(
                Strict.amount > 5
            )
    (reason,) = caught.value.failed_reasons
    assert reason.code == "ConditionalCheckFailed"
    assert reason.message is not None and "ItemNotFound" not in reason.message


async def test_transaction_counters_upsert_and_must_exist_applies(db: Session) -> None:
    async with db.transaction() as tx:
        tx.update(Meter, name="a").increment(Meter.hits, 2)
        tx.update(Strict, pk="s").set(Strict.name, "n").set(Strict.amount, Decimal(1))
    assert (await db.get(Meter, name="a", consistent=True)).hits == 2
    assert await strict_items(db) == [Strict(pk="s", name="n", amount=Decimal(1))]
    with pytest.raises(TransactionCanceled, match=r"must_exist\(\) was asked for"):
        async with db.transaction() as tx:
            tx.update(Meter, name="b").must_exist().increment(Meter.hits)
    assert await db.get_or_none(Meter, name="b", consistent=True) is None


# --- query chains -----------------------------------------------------------------------------


async def test_query_chain_updates_follow_the_rule(db: Session) -> None:
    with pytest.raises(ItemNotFound):
        await db.query(Strict).where(Strict.pk == "q").update().set(Strict.amount, Decimal(1))
    assert await strict_items(db) == []
    await db.query(Meter).where(Meter.name == "q").update().increment(Meter.hits)
    assert (await db.get(Meter, name="q", consistent=True)).hits == 1
    with pytest.raises(ItemNotFound):
        await db.query(Meter).where(Meter.name == "r").update().must_exist().increment(
            Meter.hits
        )
