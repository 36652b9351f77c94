"""Batches through the fault-injecting proxy: partial answers, throttling, 500s and resets.

The Session under test talks to DynamoDB Local through ``tests.faultproxy.FaultProxy`` with
botocore's own retries off (``max_attempts=0``), so every fault reaches the batch retry loop.
What landed is checked through the fixture's direct Session.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pytest

from dynamorm_async import (
    BatchGetError,
    BatchProgress,
    BatchWriteError,
    HashKey,
    Model,
    RangeKey,
    Session,
)
from dynamorm_async._batch.retry import RetryPolicy
from dynamorm_async._batch.run import delete_keys
from dynamorm_async.testing import local_session
from tests.faultproxy import FaultConfig, FaultProxy

pytestmark = pytest.mark.timeout(120)

PATIENT = RetryPolicy(max_attempts=25, base_delay=0.005, max_delay=0.1, deadline=60.0)
HOPELESS = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.005, deadline=10.0)


class FaultRow(Model, table="batch_faults"):
    pk: Annotated[str, HashKey()]
    sk: Annotated[int, RangeKey()]
    body: str = ""


def rows(count: int, pk: str = "p") -> list[FaultRow]:
    return [FaultRow(pk=pk, sk=i, body=f"row {i}") for i in range(count)]


def cursed(target: Mapping[str, Any]) -> bool:
    """The proxy never processes these: every 37th row."""
    return int(target["sk"]["N"]) % 37 == 5


async def stored(db: Session) -> Counter[tuple[str, int]]:
    table = db.table_name(FaultRow)
    found: Counter[tuple[str, int]] = Counter()
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = await db.call("Scan", request, table=table)
        for item in page.get("Items", []):
            found[(item["pk"]["S"], int(item["sk"]["N"]))] += 1
        last = page.get("LastEvaluatedKey")
        if not last:
            return found
        request["ExclusiveStartKey"] = last


@asynccontextmanager
async def through_proxy(
    db: Session, endpoint: str, config: FaultConfig, policy: RetryPolicy = PATIENT
) -> AsyncIterator[tuple[Session, FaultProxy]]:
    async with (
        FaultProxy(upstream=endpoint, config=config) as proxy,
        local_session(
            proxy.endpoint_url, table_prefix=db.table_prefix, batch_retry=policy, max_attempts=0
        ) as faulty,
    ):
        yield faulty, proxy


@pytest.fixture
async def db(dynamodb_session: Session) -> Session:
    await dynamodb_session.create_table(FaultRow)
    return dynamodb_session


async def test_10000_items_with_30_percent_of_calls_faulted_all_land_exactly_once(
    db: Session, dynamodb_endpoint: str
) -> None:
    # Rolled in this order per call: reset, 500, throttle, partial; about 30% faulted overall.
    config = FaultConfig(
        reset_share=0.03, error_share=0.05, throttle_share=0.08, partial_share=0.17, seed=7
    )
    batch = rows(10_000)
    async with through_proxy(db, dynamodb_endpoint, config) as (faulty, proxy):
        result = await faulty.batch_put(batch)
    stats = proxy.stats
    faulted = stats.resets + stats.errors + stats.throttled + stats.partial
    assert 0.2 <= faulted / stats.calls <= 0.4
    assert stats.resets and stats.errors and stats.throttled and stats.partial
    assert result.processed == 10_000
    assert result.unprocessed == ()
    assert result.retries >= stats.resets + stats.errors + stats.throttled
    assert result.throttled == stats.throttled

    keys = await stored(db)
    assert len(keys) == 10_000
    assert set(keys.values()) == {1}
    assert set(keys) == {("p", i) for i in range(10_000)}
    spot = [{"pk": "p", "sk": i} for i in (0, 1, 4_999, 7_777, 9_999)]
    assert [r.body for r in await db.batch_get(FaultRow, spot)] == [
        f"row {i}" for i in (0, 1, 4_999, 7_777, 9_999)
    ]


async def test_budget_that_cannot_succeed_reports_exactly_the_absent_items(
    db: Session, dynamodb_endpoint: str
) -> None:
    config = FaultConfig(partial_share=0.3, throttle_share=0.1, never_process=cursed, seed=3)
    batch = rows(600)
    progress = BatchProgress()
    async with through_proxy(db, dynamodb_endpoint, config, HOPELESS) as (faulty, _proxy):
        with pytest.raises(BatchWriteError) as caught:
            await faulty.batch_put(batch, progress=progress)
    error = caught.value
    keys = await stored(db)
    absent = [row for row in batch if (row.pk, row.sk) not in keys]
    assert absent
    assert error.unprocessed == absent  # the caller's instances, in input order
    # Every cursed row is among them; an unlucky other row may be too (3 attempts only).
    assert {r.sk for r in batch if cursed({"sk": {"N": str(r.sk)}})} <= {
        r.sk for r in error.unprocessed
    }
    assert error.processed == len(keys) == 600 - len(absent)
    assert error.processed_items == [row for row in batch if (row.pk, row.sk) in keys]
    assert progress.unprocessed == error.unprocessed
    assert "retry the ones in .unprocessed" in str(error)
    assert error.operation == "BatchWriteItem"


async def test_batch_delete_reports_the_keys_it_could_not_delete(
    db: Session, dynamodb_endpoint: str
) -> None:
    batch = rows(300)
    await db.batch_put(batch)
    targets: list[FaultRow | dict[str, object]] = [
        row if row.sk % 2 else {"pk": row.pk, "sk": row.sk} for row in batch
    ]
    config = FaultConfig(error_share=0.1, reset_share=0.05, never_process=cursed, seed=5)
    async with through_proxy(db, dynamodb_endpoint, config, HOPELESS) as (faulty, _proxy):
        with pytest.raises(BatchWriteError) as caught:
            await faulty.batch_delete(FaultRow, targets)
    left = await stored(db)
    assert caught.value.unprocessed == [t for t, row in zip(targets, batch, strict=True)
                                        if (row.pk, row.sk) in left]
    assert caught.value.processed == 300 - len(left)


async def test_batch_get_through_faults_returns_every_item_in_order(
    db: Session, dynamodb_endpoint: str
) -> None:
    await db.batch_put(rows(1_000))
    wanted = [{"pk": "p", "sk": i} for i in range(999, -1, -1)]
    config = FaultConfig(partial_share=0.4, throttle_share=0.1, error_share=0.1, seed=11)
    async with through_proxy(db, dynamodb_endpoint, config) as (faulty, proxy):
        found = await faulty.batch_get(FaultRow, wanted)
    assert proxy.stats.partial and proxy.stats.throttled
    assert [r.sk for r in found] == list(range(999, -1, -1))


async def test_batch_get_keys_left_unprocessed_raise_with_the_items_found(
    db: Session, dynamodb_endpoint: str
) -> None:
    await db.batch_put(rows(250))
    wanted = [{"pk": "p", "sk": i} for i in range(250)]
    config = FaultConfig(partial_share=0.2, never_process=cursed, seed=13)
    async with through_proxy(db, dynamodb_endpoint, config, HOPELESS) as (faulty, _proxy):
        with pytest.raises(BatchGetError) as caught:
            await faulty.batch_get(FaultRow, wanted)
    unread = [k for k in wanted if cursed({"sk": {"N": str(k["sk"])}})]
    assert caught.value.unprocessed == unread
    assert [r.sk for r in caught.value.found] == [
        k["sk"] for k in wanted if k not in unread
    ]


async def test_batch_writer_surfaces_unprocessed_items_on_exit(
    db: Session, dynamodb_endpoint: str
) -> None:
    batch = rows(200)
    config = FaultConfig(partial_share=0.3, never_process=cursed, seed=17)
    async with through_proxy(db, dynamodb_endpoint, config, HOPELESS) as (faulty, _proxy):
        with pytest.raises(BatchWriteError) as caught:
            async with faulty.batch_writer() as w:
                for row in batch:
                    w.put(row)
    keys = await stored(db)
    assert caught.value.unprocessed == [row for row in batch if (row.pk, row.sk) not in keys]
    assert caught.value.unprocessed
    assert w.result.processed == len(keys)


async def test_streaming_deletes_retry_through_faults(
    db: Session, dynamodb_endpoint: str
) -> None:
    await db.batch_put(rows(500))

    async def wire_keys() -> AsyncIterator[dict[str, Any]]:
        for i in range(500):
            yield {"pk": {"S": "p"}, "sk": {"N": str(i)}}

    config = FaultConfig(partial_share=0.3, throttle_share=0.1, reset_share=0.05, seed=19)
    async with through_proxy(db, dynamodb_endpoint, config) as (faulty, proxy):
        deleted = await delete_keys(faulty, FaultRow, wire_keys())
    assert proxy.stats.partial
    assert deleted == 500
    assert await stored(db) == Counter()


async def test_streaming_deletes_report_the_wire_keys_left_unprocessed(
    db: Session, dynamodb_endpoint: str
) -> None:
    await db.batch_put(rows(200))
    passed: list[dict[str, Any]] = []

    async def wire_keys() -> AsyncIterator[dict[str, Any]]:
        for i in range(200):
            key = {"pk": {"S": "p"}, "sk": {"N": str(i)}}
            passed.append(key)
            yield key

    config = FaultConfig(partial_share=0.2, never_process=cursed, seed=23)
    async with through_proxy(db, dynamodb_endpoint, config, HOPELESS) as (faulty, _proxy):
        with pytest.raises(BatchWriteError) as caught:
            await delete_keys(faulty, FaultRow, wire_keys())
    left = await stored(db)
    assert caught.value.unprocessed == [k for k in passed if ("p", int(k["sk"]["N"])) in left]
    assert caught.value.processed == 200 - len(left)
    assert caught.value.processed_items == []  # streamed: only counted
