"""Observability: the Session's ``on_request`` hook and the ``dynamorm_async`` logger.

The hook sees every DynamoDB call with its operation, table, duration, retries, consumed
capacity and error; the logger reports batch retries, unprocessed items, throttling and
give-ups. Faults come from ``tests.faultproxy`` in front of DynamoDB Local. Nothing is ever
printed. The hook wraps whatever transport the Session has, so it reports the same for an
injected one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest

from dynamorm_async import (
    BatchWriteError,
    ConditionFailed,
    RequestEvent,
    Session,
    ThrottledError,
)
from dynamorm_async._batch.retry import RetryPolicy
from dynamorm_async.testing import local_session, local_transport
from tests.faultproxy import FaultConfig, FaultProxy
from tests.models import Reading

pytestmark = pytest.mark.timeout(120)

LOGGER = "dynamorm_async"
QUICK = RetryPolicy(max_attempts=30, base_delay=0.001, max_delay=0.01, deadline=30.0)
HOPELESS = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.005, deadline=10.0)


def readings(count: int) -> list[Reading]:
    return [Reading(sensor="s1", at=i, value=Decimal(i)) for i in range(count)]


@asynccontextmanager
async def watched(
    endpoint: str, prefix: str, config: FaultConfig | None = None, **options: Any
) -> AsyncIterator[tuple[Session, list[RequestEvent], FaultProxy]]:
    """A Session with a recording hook, talking to DynamoDB Local through a fault proxy."""
    events: list[RequestEvent] = []
    async with (
        FaultProxy(upstream=endpoint, config=config) as proxy,
        local_session(
            proxy.endpoint_url, table_prefix=prefix, on_request=events.append, **options
        ) as db,
    ):
        yield db, events, proxy


@pytest.fixture
async def table(dynamodb_session: Session) -> str:
    await dynamodb_session.create_table(Reading)
    return dynamodb_session.table_name(Reading)


async def test_the_hook_sees_every_call_with_its_table_duration_and_capacity(
    dynamodb_endpoint: str,
    dynamodb_session: Session,
    table: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with watched(dynamodb_endpoint, dynamodb_session.table_prefix) as (db, events, _):
        await db.put(Reading(sensor="s1", at=1, value=Decimal("2.5")))
        await db.get(Reading, sensor="s1", at=1)
        await db.query(Reading).where(Reading.sensor == "s1").all()
        await db.update(Reading, sensor="s1", at=1).set(Reading.value, Decimal(3)).execute()
        await db.batch_put(readings(30))
        await db.delete(Reading, sensor="s1", at=1)
        with pytest.raises(ConditionFailed):
            await db.put(Reading(sensor="s1", at=2), condition=Reading.value > 100)

    operations = [e.operation for e in events]
    assert operations == [
        "PutItem",
        "GetItem",
        "Query",
        "UpdateItem",
        "BatchWriteItem",
        "BatchWriteItem",
        "DeleteItem",
        "PutItem",
    ]
    assert all(e.table == table for e in events)
    assert all(e.duration > 0 and e.retries == 0 for e in events)
    *succeeded, failed = events
    assert all(e.error is None for e in succeeded)
    for event in succeeded:
        capacity = event.consumed_capacity
        units = (
            sum(c["CapacityUnits"] for c in capacity)
            if isinstance(capacity, list)
            else capacity["CapacityUnits"]
        )
        assert units > 0, event
    # A failed call reports its error (the same one the caller got) and no capacity.
    assert isinstance(failed.error, ConditionFailed)
    assert failed.consumed_capacity is None
    assert capsys.readouterr() == ("", "")


async def test_retries_are_counted_per_call(
    dynamodb_endpoint: str, dynamodb_session: Session, table: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dynamorm_async")
    # A share of the PutItem calls answer HTTP 500; botocore retries them (up to 5 times).
    config = FaultConfig(error_share=0.3, operations=frozenset({"PutItem"}), seed=7)
    async with watched(
        dynamodb_endpoint, dynamodb_session.table_prefix, config, max_attempts=5
    ) as (db, events, proxy):
        for reading in readings(10):
            await db.put(reading)
    puts = [e for e in events if e.operation == "PutItem"]
    assert len(puts) == 10 and all(e.error is None for e in puts)
    assert sum(e.retries for e in puts) == proxy.stats.errors > 0
    assert any(e.retries == 0 for e in puts)
    assert await dynamodb_session.query(Reading).where(Reading.sensor == "s1").count() == 10
    retried = [r for r in caplog.records if "succeeded after" in r.getMessage()]
    assert len(retried) == sum(1 for e in puts if e.retries) and retried[0].levelname == "DEBUG"


async def test_throttling_after_retries_reaches_the_hook_and_the_caller(
    dynamodb_endpoint: str, dynamodb_session: Session, table: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dynamorm_async")
    config = FaultConfig(throttle_share=1.0, operations=frozenset({"GetItem"}))
    # max_attempts counts retries, as botocore's does: one retry, two calls.
    async with watched(
        dynamodb_endpoint, dynamodb_session.table_prefix, config, max_attempts=1
    ) as (db, events, proxy):
        with pytest.raises(ThrottledError) as caught:
            await db.get_or_none(Reading, sensor="s1", at=1)
    (event,) = events
    assert (event.operation, event.table, event.retries) == ("GetItem", table, 1)
    assert event.error is caught.value
    assert proxy.stats.throttled == 2
    assert caught.value.code == "ProvisionedThroughputExceededException"
    (record,) = [r for r in caplog.records if "throughput exceeded" in r.getMessage()]
    assert record.levelname == "DEBUG" and "GetItem" in record.getMessage()


async def test_batch_retries_and_unprocessed_items_are_logged(
    dynamodb_endpoint: str,
    dynamodb_session: Session,
    table: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = FaultConfig(partial_share=1.0, seed=3)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    async with watched(
        dynamodb_endpoint, dynamodb_session.table_prefix, config, batch_retry=QUICK
    ) as (db, events, proxy):
        result = await db.batch_put(readings(60))
    assert result.processed == 60
    ours = [r for r in caplog.records if r.name == LOGGER]
    unprocessed = [r for r in ours if "unprocessed" in r.getMessage()]
    retrying = [r for r in ours if "retrying" in r.getMessage()]
    assert unprocessed and retrying
    assert all(r.levelno == logging.DEBUG for r in unprocessed + retrying)
    assert all(table in r.getMessage() for r in unprocessed)
    # Every call the proxy answered partially shows up in the hook as a successful call.
    writes = [e for e in events if e.operation == "BatchWriteItem"]
    assert len(writes) == proxy.stats.operations["BatchWriteItem"] > 3
    assert all(e.error is None for e in writes)


async def test_batch_throttling_and_give_ups_are_warnings(
    dynamodb_endpoint: str,
    dynamodb_session: Session,
    table: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    throttling = FaultConfig(throttle_share=0.6, seed=11)
    async with watched(
        dynamodb_endpoint,
        dynamodb_session.table_prefix,
        throttling,
        batch_retry=QUICK,
        max_attempts=0,  # no botocore retries: every throttle reaches the batch executor
    ) as (db, _, proxy):
        await db.batch_put(readings(50))
    assert proxy.stats.throttled > 0
    throttled = [r for r in caplog.records if r.name == LOGGER and "throttled" in r.getMessage()]
    assert len(throttled) == proxy.stats.throttled
    # One warning per batch call; the repeats (one per throttled chunk) are debug records.
    levels = [r.levelno for r in throttled]
    assert levels == [logging.WARNING] + [logging.DEBUG] * (len(levels) - 1)

    caplog.clear()
    stuck = FaultConfig(always_unprocessed=True)
    async with watched(
        dynamodb_endpoint, dynamodb_session.table_prefix, stuck, batch_retry=HOPELESS
    ) as (db, _, _):
        with pytest.raises(BatchWriteError) as caught:
            await db.batch_put(readings(5))
    assert len(caught.value.unprocessed) == 5
    gave_up = [r for r in caplog.records if r.name == LOGGER and "giving up" in r.getMessage()]
    assert len(gave_up) == 1 and gave_up[0].levelno == logging.WARNING
    assert "5 requests" in gave_up[0].getMessage()


async def test_a_session_without_a_hook_asks_for_no_capacity(
    dynamodb_endpoint: str, dynamodb_session: Session, table: str
) -> None:
    async with local_session(dynamodb_endpoint, table_prefix=dynamodb_session.table_prefix) as db:
        item = {"sensor": {"S": "s"}, "at": {"N": "1"}}
        response = await db.call("PutItem", {"TableName": table, "Item": item})
    assert "ConsumedCapacity" not in response


async def test_the_hook_reports_the_same_for_an_injected_transport(
    dynamodb_endpoint: str, dynamodb_session: Session, table: str
) -> None:
    events: list[RequestEvent] = []
    flaky = FaultConfig(error_share=0.3, operations=frozenset({"PutItem"}), seed=7)
    async with FaultProxy(upstream=dynamodb_endpoint, config=flaky) as proxy:
        transport = local_transport(proxy.endpoint_url, max_attempts=5)
        async with Session(
            transport=transport,
            table_prefix=dynamodb_session.table_prefix,
            on_request=events.append,
        ) as db:
            for reading in readings(10):
                await db.put(reading)
            with pytest.raises(ConditionFailed):
                await db.put(Reading(sensor="s1", at=2), condition=Reading.value > 100)
    *puts, failed = events
    assert [e.operation for e in events] == ["PutItem"] * 11
    assert sum(e.retries for e in events) == proxy.stats.errors > 0
    assert all(e.table == table and e.error is None for e in puts)
    assert all(e.consumed_capacity["CapacityUnits"] > 0 for e in puts)
    assert isinstance(failed.error, ConditionFailed) and failed.consumed_capacity is None

    events.clear()
    throttling = FaultConfig(throttle_share=1.0, operations=frozenset({"GetItem"}))
    async with FaultProxy(upstream=dynamodb_endpoint, config=throttling) as proxy:
        transport = local_transport(proxy.endpoint_url, max_attempts=1)
        async with Session(
            transport=transport,
            table_prefix=dynamodb_session.table_prefix,
            on_request=events.append,
        ) as db:
            with pytest.raises(ThrottledError) as caught:
                await db.get_or_none(Reading, sensor="s1", at=1)
    # A failed call's retries come from the botocore error the library error was raised from.
    (event,) = events
    assert (event.operation, event.retries, event.error) == ("GetItem", 1, caught.value)
    assert proxy.stats.throttled == 2
