"""Batch get/put/delete, the batch writer and streaming deletes against DynamoDB Local.

Requests are counted through the Session's public ``on_request`` hook; request parameters are
observed through a recording transport (``Session(transport=...)``), never by patching.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, assert_type

import anyio
import anyio.lowlevel
import msgspec
import pytest

from dynamorm_async import (
    BatchProgress,
    BatchResult,
    BatchWriteError,
    ConditionFailed,
    CreatedAt,
    HashKey,
    Model,
    RangeKey,
    RequestEvent,
    Session,
    TableError,
    UpdatedAt,
    ValidationError,
    Version,
)
from dynamorm_async._batch.run import delete_keys
from dynamorm_async.testing import RecordingTransport, local_session, local_transport
from tests.shared_types import Address

pytestmark = pytest.mark.timeout(120)


class Item(Model, table="batch_items"):
    pk: Annotated[str, HashKey()]
    sk: Annotated[int, RangeKey()]
    body: str = ""
    n: int = 0
    tags: set[str] = msgspec.field(default_factory=set)
    ship_to: Address | None = None
    version: Annotated[int, Version()] = 0
    created_at: Annotated[datetime | None, CreatedAt()] = None
    updated_at: Annotated[datetime | None, UpdatedAt()] = None


class Other(Model, table="batch_other"):
    id: Annotated[str, HashKey()]
    value: Decimal = Decimal(0)


class Pinned(Model, table="batch_pinned", frozen=True):
    id: Annotated[str, HashKey()]
    version: Annotated[int, Version()] = 0


class ItemSummary(msgspec.Struct):
    pk: str
    sk: int
    body: str


def items(count: int, pk: str = "p", start: int = 0) -> list[Item]:
    return [Item(pk=pk, sk=i, body=f"body {i}", n=i) for i in range(start, start + count)]


def key(item: Item) -> dict[str, object]:
    return {"pk": item.pk, "sk": item.sk}


async def stored(db: Session, model: type[Model]) -> Counter[tuple[Any, ...]]:
    """Every primary key in the model's table (consistent scan), with how often it occurs."""
    info = model.__dynamorm__
    table = db.table_name(model)
    found: Counter[tuple[Any, ...]] = Counter()
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = await db.call("Scan", request, table=table)
        for raw in page.get("Items", []):
            decoded = info.decode(raw)
            found[tuple(getattr(decoded, info.by_attribute[a].name)
                        for a in info.key_attributes)] += 1
        last = page.get("LastEvaluatedKey")
        if not last:
            return found
        request["ExclusiveStartKey"] = last


@asynccontextmanager
async def counted(
    endpoint: str, prefix: str, **options: Any
) -> AsyncIterator[tuple[Session, list[RequestEvent]]]:
    """A second Session on the same tables whose requests are recorded."""
    events: list[RequestEvent] = []
    async with local_session(
        endpoint, table_prefix=prefix, on_request=events.append, **options
    ) as db:
        yield db, events


def calls(events: list[RequestEvent], operation: str) -> int:
    return sum(1 for e in events if e.operation == operation)


@pytest.fixture
async def db(dynamodb_session: Session) -> Session:
    await dynamodb_session.create_table(Item)
    return dynamodb_session


# --- batch_get --------------------------------------------------------------------------------


async def test_batch_get_follows_key_order_leaves_out_missing_and_reads_duplicates_once(
    db: Session, dynamodb_endpoint: str
) -> None:
    await db.batch_put(items(150))
    wanted = [{"pk": "p", "sk": i} for i in (149, 3, 77, 3, 500, 0, 149, 120, 121)]
    async with counted(dynamodb_endpoint, db.table_prefix) as (probe, events):
        found = await probe.batch_get(Item, wanted)
    assert_type(found, list[Item])
    assert [i.sk for i in found] == [149, 3, 77, 0, 120, 121]
    assert all(isinstance(i, Item) and i.body == f"body {i.sk}" for i in found)
    assert calls(events, "BatchGetItem") == 1

    shuffled = [{"pk": "p", "sk": i} for i in reversed(range(150))]
    assert [i.sk for i in await db.batch_get(Item, shuffled)] == list(reversed(range(150)))
    assert await db.batch_get(Item, []) == []


async def test_chunk_limits_are_25_writes_and_100_keys(db: Session, dynamodb_endpoint: str) -> None:
    async with counted(dynamodb_endpoint, db.table_prefix) as (probe, events):
        result = await probe.batch_put(items(60))
        assert isinstance(result, BatchResult)
        assert (result.processed, result.unprocessed, result.retries) == (60, (), 0)
        assert calls(events, "BatchWriteItem") == 3  # 25 + 25 + 10
        found = await probe.batch_get(Item, [{"pk": "p", "sk": i} for i in range(250)])
        assert len(found) == 60
        assert calls(events, "BatchGetItem") == 3  # 100 + 100 + 50
        deleted = await probe.batch_delete(Item, [{"pk": "p", "sk": i} for i in range(26)])
        assert deleted.processed == 26
        assert calls(events, "BatchWriteItem") == 5  # 25 + 1
        empty = await probe.batch_put([])
        assert empty.processed == 0
        assert calls(events, "BatchWriteItem") == 5
    assert len(await stored(db, Item)) == 34


async def test_consistent_reads_and_projections_are_sent(
    db: Session, dynamodb_endpoint: str
) -> None:
    await db.batch_put(items(3))
    transport = RecordingTransport(local_transport(dynamodb_endpoint))
    async with Session(transport=transport, table_prefix=db.table_prefix) as probe:
        keys = [{"pk": "p", "sk": i} for i in range(3)]
        assert len(await probe.batch_get(Item, keys, consistent=True)) == 3
        assert len(await probe.batch_get(Item, keys)) == 3
    sent = transport.payloads("BatchGetItem")
    (table,) = sent[0]["RequestItems"]
    assert sent[0]["RequestItems"][table]["ConsistentRead"] is True
    assert sent[1]["RequestItems"][table]["ConsistentRead"] is False
    assert "ProjectionExpression" not in sent[0]["RequestItems"][table]


async def test_projections_yield_dicts_structs_or_named_fields(db: Session) -> None:
    await db.batch_put(
        [Item(pk="p", sk=i, body=f"b{i}", n=i, ship_to=Address(city=f"c{i}", zip="z"))
         for i in range(3)]
    )
    keys = [{"pk": "p", "sk": i} for i in (2, 0)]

    paths = [Item.body, Item.ship_to.city]  # type: ignore[union-attr]
    rows = await db.batch_get(Item, keys, select=paths)
    assert_type(rows, list[dict[str, Any]])
    # The same shapes as Query.select: dicts keyed by field-name paths, values decoded.
    assert rows == [{"body": "b2", "ship_to.city": "c2"}, {"body": "b0", "ship_to.city": "c0"}]
    named = await db.batch_get(Item, keys, select=["n", Item.pk])
    assert named == [{"n": 2, "pk": "p"}, {"n": 0, "pk": "p"}]

    summaries = await db.batch_get(Item, keys, consistent=True, select=ItemSummary)
    assert_type(summaries, list[ItemSummary])
    assert summaries == [ItemSummary(pk="p", sk=2, body="b2"), ItemSummary(pk="p", sk=0, body="b0")]

    with pytest.raises(ValidationError, match="no field 'nope'"):
        await db.batch_get(Item, keys, select=["nope"])
    with pytest.raises(ValidationError, match="overlap"):
        await db.batch_get(Item, keys, select=[Item.ship_to, *paths[1:]])
    with pytest.raises(ValidationError, match="sequence of attributes"):
        await db.batch_get(Item, keys, select="body")


async def test_batch_get_rejects_bad_keys_before_any_request(
    db: Session, dynamodb_endpoint: str
) -> None:
    async with counted(dynamodb_endpoint, db.table_prefix) as (probe, events):
        with pytest.raises(ValidationError, match="key needs exactly"):
            await probe.batch_get(Item, [{"pk": "p", "sk": 1}, {"pk": "p"}])
        # Instances name their keys (as in batch_delete), but only the model's own.
        with pytest.raises(ValidationError, match="takes instances or key mappings"):
            await probe.batch_get(Item, ["p"])  # type: ignore[list-item]
        with pytest.raises(ValidationError, match="expected a Item instance, got Other"):
            await probe.batch_get(Item, [Item(pk="p", sk=1), Other(id="o")])
    assert events == []


# --- batch_put / batch_delete -------------------------------------------------------------------


async def test_duplicate_put_keys_raise_before_any_request(
    db: Session, dynamodb_endpoint: str
) -> None:
    batch = [*items(30), Item(pk="p", sk=7, body="again")]
    async with counted(dynamodb_endpoint, db.table_prefix) as (probe, events):
        with pytest.raises(ValidationError) as caught:
            await probe.batch_put(batch)
    assert "positions 7 and 30" in str(caught.value)
    assert caught.value.key == {"pk": "p", "sk": 7}
    assert events == []
    assert await stored(db, Item) == Counter()


async def test_a_bad_item_fails_before_any_request(db: Session, dynamodb_endpoint: str) -> None:
    batch = [*items(40), Item(pk="", sk=1)]
    async with counted(dynamodb_endpoint, db.table_prefix) as (probe, events):
        with pytest.raises(ValidationError, match="empty"):
            await probe.batch_put(batch)
        with pytest.raises(ValidationError, match="model instances"):
            await probe.batch_put([{"pk": "p", "sk": 1}])  # type: ignore[list-item]
    assert events == []


async def test_batch_put_spans_models_and_tables(db: Session, dynamodb_endpoint: str) -> None:
    await db.create_table(Other)
    mixed: list[Model] = []
    for i in range(40):
        mixed.append(Item(pk="m", sk=i))
        mixed.append(Other(id=f"o{i}", value=Decimal(i) / 4))
    async with counted(dynamodb_endpoint, db.table_prefix) as (probe, events):
        result = await probe.batch_put(mixed)
    assert result.processed == 80
    assert calls(events, "BatchWriteItem") == 4  # chunks mix tables
    assert len(await stored(db, Item)) == 40
    others = await db.batch_get(Other, [{"id": f"o{i}"} for i in range(40)])
    assert [o.value for o in others] == [Decimal(i) / 4 for i in range(40)]


async def test_batch_put_stamps_timestamps_and_bumps_versions_without_checking(
    db: Session,
) -> None:
    fresh = items(30)
    await db.batch_put(fresh)
    assert all(i.version == 1 and i.created_at is not None for i in fresh)
    assert all(i.updated_at == i.created_at for i in fresh)
    (read,) = await db.batch_get(Item, [key(fresh[4])], consistent=True)
    assert (read.version, read.created_at) == (1, fresh[4].created_at)

    # No version check in a batch: a stale instance overwrites (last writer wins)...
    stale = Item(pk="p", sk=4, body="stale", version=0)
    await db.batch_put([stale])
    assert stale.version == 1
    # ...and the instances it returns stay usable for conditional single writes.
    await db.put(stale)
    assert stale.version == 2
    with pytest.raises(ConditionFailed):
        await db.put(fresh[4])

    await db.create_table(Pinned)
    pinned = Pinned(id="a")
    await db.batch_put([pinned])
    assert pinned.version == 0  # frozen: unchanged in place
    assert (await db.get(Pinned, id="a")).version == 1


async def test_batch_delete_takes_instances_and_keys_and_sends_duplicates_once(
    db: Session, dynamodb_endpoint: str
) -> None:
    written = items(40)
    await db.batch_put(written)
    targets: list[Item | dict[str, object]] = [*written[:10], *(key(i) for i in written[5:20])]
    targets.append({"pk": "p", "sk": 999})  # no such item: deleting it is fine
    async with counted(dynamodb_endpoint, db.table_prefix) as (probe, events):
        result = await probe.batch_delete(Item, targets)
    assert result.processed == 21  # 20 distinct stored keys, plus the absent one
    assert calls(events, "BatchWriteItem") == 1
    assert sorted(sk for _, sk in await stored(db, Item)) == list(range(20, 40))

    with pytest.raises(ValidationError, match="expected a Item instance, got Other"):
        await db.batch_delete(Item, [Other(id="x")])
    with pytest.raises(ValidationError, match="instances or key mappings"):
        await db.batch_delete(Item, ["p"])  # type: ignore[list-item]


# --- batch writer -----------------------------------------------------------------------------


async def test_batch_writer_flushes_full_buffers_in_the_background_and_the_rest_on_exit(
    db: Session, dynamodb_endpoint: str
) -> None:
    await db.batch_put(items(10, pk="gone"))
    async with counted(dynamodb_endpoint, db.table_prefix) as (probe, events):
        async with probe.batch_writer() as w:
            for item in items(60):
                w.put(item)
            for i in range(5):
                w.delete(Item, pk="gone", sk=i)
            w.delete(Item(pk="gone", sk=5))
            await anyio.sleep(0.5)
            assert calls(events, "BatchWriteItem") == 2  # two full buffers, sent meanwhile
        assert calls(events, "BatchWriteItem") == 3
    assert w.result.processed == 66
    assert w.result.unprocessed == ()
    keys = await stored(db, Item)
    assert len(keys) == 64 and all(n == 1 for n in keys.values())
    assert {sk for pk, sk in keys if pk == "gone"} == {6, 7, 8, 9}


async def test_batch_writer_last_write_to_a_key_wins(db: Session) -> None:
    async with db.batch_writer() as w:
        w.put(Item(pk="p", sk=1, body="first"))
        w.put(Item(pk="p", sk=1, body="second"))  # same buffer: replaces the first
        w.put(Item(pk="p", sk=2, body="first"))
        for item in items(40, start=100):  # pushes the first buffer out
            w.put(item)
        w.put(Item(pk="p", sk=2, body="second"))  # waits for the buffer holding "first"
        w.put(Item(pk="p", sk=3, body="kept"))
        w.delete(Item, pk="p", sk=3)
    found = await db.batch_get(Item, [{"pk": "p", "sk": i} for i in (1, 2, 3)], consistent=True)
    assert [(i.sk, i.body) for i in found] == [(1, "second"), (2, "second")]
    assert w.result.processed == 44  # sk=2 twice (two buffers); sk=3 once (replaced)


async def test_batch_writer_flush_waits_for_everything_sent(db: Session) -> None:
    async with db.batch_writer() as w:
        for item in items(30):
            w.put(item)
        await w.flush()
        assert w.progress.processed == 30
        assert len(await stored(db, Item)) == 30
        w.put(Item(pk="p", sk=500))
    assert w.result.processed == 31
    with pytest.raises(ValidationError, match="inside 'async with"):
        w.put(Item(pk="p", sk=501))


async def test_batch_writer_discards_its_buffer_when_the_block_raises(db: Session) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with db.batch_writer() as w:
            for item in items(30):
                w.put(item)
            raise RuntimeError("boom")
    # The full buffer of 25 had been sent; the 5 still buffered were not.
    assert w.result.processed == 25
    assert len(await stored(db, Item)) == 25


async def test_batch_writer_validates_at_the_call(db: Session) -> None:
    async with db.batch_writer() as w:
        with pytest.raises(ValidationError, match="empty"):
            w.put(Item(pk="", sk=1))
        with pytest.raises(ValidationError, match="either an instance"):
            w.delete(Item(pk="p", sk=1), pk="p")  # type: ignore[call-overload]
        w.put(Item(pk="p", sk=1))
    assert w.result.processed == 1


# --- streaming deletes ------------------------------------------------------------------------


async def test_delete_keys_streams_with_bounded_read_ahead(
    db: Session, dynamodb_endpoint: str
) -> None:
    await db.batch_put(items(500))
    consumed = 0
    ahead: list[int] = []

    async with counted(dynamodb_endpoint, db.table_prefix, max_concurrency=2) as (probe, events):

        async def wire_keys() -> AsyncIterator[dict[str, Any]]:
            nonlocal consumed
            for i in range(500):
                # Keys as a query projecting the key would yield them, with an extra attribute.
                yield {"pk": {"S": "p"}, "sk": {"N": str(i)}, "body": {"S": "ignored"}}
                consumed += 1
                ahead.append(consumed - 25 * calls(events, "BatchWriteItem"))

        deleted = await delete_keys(probe, Item, wire_keys())
    assert deleted == 500
    assert await stored(db, Item) == Counter()
    # Two workers, a queue of two chunks and the chunk being built: memory stays bounded
    # however many keys stream through.
    assert max(ahead) <= 6 * 25


async def test_delete_keys_raises_the_source_error_after_finishing_queued_chunks(
    db: Session,
) -> None:
    await db.batch_put(items(60))

    async def failing() -> AsyncIterator[dict[str, Any]]:
        for i in range(50):
            yield {"pk": {"S": "p"}, "sk": {"N": str(i)}}
        raise LookupError("source failed")

    with pytest.raises(LookupError, match="source failed"):
        await delete_keys(db, Item, failing())
    # Both full chunks were handed out before the failure and were written.
    assert sorted(sk for _, sk in await stored(db, Item)) == list(range(50, 60))

    async def missing_key() -> AsyncIterator[dict[str, Any]]:
        yield {"pk": {"S": "p"}}

    with pytest.raises(ValidationError, match="'sk' is missing"):
        await delete_keys(db, Item, missing_key())


# --- cancellation ------------------------------------------------------------------------------


async def test_cancelling_a_batch_leaves_no_task_and_reports_confirmed_items(
    db: Session, dynamodb_endpoint: str
) -> None:
    before = asyncio.all_tasks()
    progress = BatchProgress()
    batch = items(2000)
    with anyio.CancelScope() as scope:

        def cancel_after_three(event: RequestEvent) -> None:
            if event.operation == "BatchWriteItem" and progress.processed >= 3 * 25:
                scope.cancel()

        async with local_session(
            dynamodb_endpoint, table_prefix=db.table_prefix, max_concurrency=4,
            on_request=cancel_after_three,
        ) as probe:
            await probe.batch_put(batch, progress=progress)
    assert scope.cancelled_caught
    await anyio.lowlevel.checkpoint()
    assert asyncio.all_tasks() == before
    confirmed = progress.processed_items
    assert 75 <= len(confirmed) < 2000
    assert progress.processed == len(confirmed)
    keys = await stored(db, Item)
    assert {("p", i.sk) for i in confirmed if isinstance(i, Item)} <= set(keys)
    # Requests in flight at the cancellation may have landed too, but nothing beyond them.
    assert len(keys) <= len(confirmed) + 4 * 25


# --- query / scan .delete() -----------------------------------------------------------------


async def test_query_and_parallel_scan_delete_stream_into_batch_deletes(
    db: Session, dynamodb_endpoint: str
) -> None:
    await db.batch_put([*items(120, pk="a"), *items(80, pk="b"), *items(30, pk="c")])
    async with counted(dynamodb_endpoint, db.table_prefix) as (probe, events):
        assert await probe.query(Item).where(Item.pk == "a").delete() == 120
        assert calls(events, "BatchWriteItem") == 5  # 120 keys in chunks of 25
        filtered = probe.scan(Item).filter(Item.n < 40).segments(4)
        assert await filtered.delete() == 70  # n < 40: 40 rows of "b", all 30 of "c"
    left = await stored(db, Item)
    assert sorted(left) == [("b", i) for i in range(40, 80)]
    assert await db.scan(Item).segments(3).delete() == 40
    assert await stored(db, Item) == Counter()


# --- rejected calls -------------------------------------------------------------------------


async def test_a_rejected_call_is_not_retried_and_its_items_are_reported(
    dynamodb_session: Session, dynamodb_endpoint: str
) -> None:
    # No table was created: DynamoDB rejects every call, which no retry can fix.
    batch = items(30)
    async with counted(dynamodb_endpoint, dynamodb_session.table_prefix) as (probe, events):
        with pytest.raises(BatchWriteError) as caught:
            await probe.batch_put(batch)
        assert calls(events, "BatchWriteItem") == 2  # one per chunk, no retries
        with pytest.raises(TableError):
            await probe.batch_get(Item, [key(i) for i in batch])
        assert calls(events, "BatchGetItem") == 1
    error = caught.value
    assert error.unprocessed == batch
    assert error.processed == 0
    assert isinstance(error.__cause__, TableError)
    assert error.code == "ResourceNotFoundException"
    assert "DynamoDB rejected them" in str(error)
    assert all(i.version == 0 for i in batch)  # nothing confirmed, nothing changed
