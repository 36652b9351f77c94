"""OpenTelemetry tracing against DynamoDB Local, recorded by the SDK's in-memory exporter.

Every call is a CLIENT span ``DynamoDB.<operation>`` with the DynamoDB conventions' attributes,
a child of the caller's current span; a fan-out (parallel-scan segments, batch chunks) is an
INTERNAL executor span whose children are the calls of its workers. The provider is given as
``Session(tracer_provider=...)``: the global provider is process-wide, so it is tested in a
subprocess (``tests/unit/test_tracing_optional.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from dynamorm_async import ConditionFailed, Count, RequestEvent, Session, TableError, migrate
from dynamorm_async.testing import local_session
from tests.faultproxy import FaultConfig, FaultProxy
from tests.models import Counter, Reading, Strict
from tests.spans import named, parent_id, span_id

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def tables(dynamodb_session: Session) -> Session:
    await dynamodb_session.create_table(Reading)
    await dynamodb_session.create_table(Counter)
    return dynamodb_session


Opener = Callable[..., AbstractAsyncContextManager[Session]]


@pytest.fixture
def traced(dynamodb_endpoint: str, tables: Session, tracer_provider: TracerProvider) -> Opener:
    """Opens a Session tracing through ``tracer_provider``, on the tables of ``tables``."""

    def open_session(**options: Any) -> AbstractAsyncContextManager[Session]:
        return local_session(
            dynamodb_endpoint,
            table_prefix=tables.table_prefix,
            tracer_provider=tracer_provider,
            **options,
        )

    return open_session


def readings(count: int, sensor: str = "s1") -> list[Reading]:
    return [Reading(sensor=sensor, at=i, value=Decimal(i)) for i in range(count)]


def spread(count: int) -> list[Reading]:
    """Readings of as many sensors: the segments of a scan split them by partition key."""
    return [Reading(sensor=f"s{i}", at=0) for i in range(count)]


def number(span: ReadableSpan, name: str) -> int:
    value = dict(span.attributes or {})[name]
    assert isinstance(value, int)
    return value


def capacity_units(span: ReadableSpan) -> float:
    assert span.attributes is not None
    entries = span.attributes["aws.dynamodb.consumed_capacity"]
    assert isinstance(entries, tuple)
    return float(sum(json.loads(entry)["CapacityUnits"] for entry in entries))


async def test_item_calls_are_client_spans_under_the_callers_span(
    traced: Opener,
    tables: Session,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    table = tables.table_name(Reading)
    tracer = tracer_provider.get_tracer("the service")
    async with traced() as db:
        with tracer.start_as_current_span("GET /readings") as handler:
            await db.put(Reading(sensor="s1", at=1, value=Decimal("2.5")))
            await db.get(Reading, sensor="s1", at=1)
            await db.query(Reading).where(Reading.sensor == "s1").reverse().limit(5).all()

    *calls, root = span_exporter.get_finished_spans()
    assert root.name == "GET /readings" and root.context == handler.get_span_context()
    assert [s.name for s in calls] == ["DynamoDB.PutItem", "DynamoDB.GetItem", "DynamoDB.Query"]
    for span, operation in zip(calls, ["PutItem", "GetItem", "Query"], strict=True):
        assert span.kind is SpanKind.CLIENT
        assert parent_id(span) == span_id(root)
        assert span.instrumentation_scope is not None
        assert span.instrumentation_scope.name == "dynamorm_async"
        assert span.status.status_code is StatusCode.UNSET
        attributes = dict(span.attributes or {})
        assert attributes["db.system"] == "dynamodb"
        assert attributes["rpc.system"] == "aws-api"
        assert attributes["rpc.service"] == "DynamoDB"
        assert attributes["rpc.method"] == operation
        assert attributes["aws.dynamodb.table_names"] == (table,)
        assert attributes["retry_attempts"] == 0
        assert isinstance(attributes["aws.request_id"], str)
        assert capacity_units(span) > 0
    query = dict(calls[2].attributes or {})
    assert query["aws.dynamodb.limit"] == 5
    assert query["aws.dynamodb.scan_forward"] is False
    assert query["aws.dynamodb.count"] == query["aws.dynamodb.scanned_count"] == 1


async def test_a_parallel_scan_is_an_executor_span_over_its_segments(
    traced: Opener, tables: Session, span_exporter: InMemorySpanExporter
) -> None:
    await tables.batch_put(spread(40))
    table = tables.table_name(Reading)
    async with traced() as db:
        assert len(await db.scan(Reading).segments(4).page_size(7).all()) == 40
        assert await db.scan(Reading).segments(2).count() == 40

    spans = span_exporter.get_finished_spans()
    executor, counting = named(spans, "Scan Reading")
    assert executor.kind is SpanKind.INTERNAL and executor.parent is None
    assert dict(executor.attributes or {}) == {
        "aws.dynamodb.table_names": (table,),
        "aws.dynamodb.total_segments": 4,
    }
    counts = [s for s in named(spans, "DynamoDB.Scan") if parent_id(s) == span_id(counting)]
    assert len(counts) == 2
    assert all(dict(s.attributes or {})["aws.dynamodb.select"] == "COUNT" for s in counts)
    scans = [s for s in named(spans, "DynamoDB.Scan") if s not in counts]
    assert len(scans) > 4
    assert all(parent_id(scan) == span_id(executor) for scan in scans)
    # Every segment read its pages concurrently, inside the executor span.
    segments = {dict(scan.attributes or {})["aws.dynamodb.segment"] for scan in scans}
    assert segments == {0, 1, 2, 3}
    assert all(dict(scan.attributes or {})["aws.dynamodb.total_segments"] == 4 for scan in scans)
    assert sum(number(scan, "aws.dynamodb.count") for scan in scans) == 40
    assert executor.start_time is not None and executor.end_time is not None
    assert all(
        executor.start_time <= (scan.start_time or 0) <= (scan.end_time or 0) <= executor.end_time
        for scan in scans
    )


async def test_async_for_on_a_parallel_scan_opens_a_span_per_round(
    traced: Opener, tables: Session, span_exporter: InMemorySpanExporter
) -> None:
    await tables.batch_put(spread(30))
    async with traced() as db:
        found = [r async for r in db.scan(Reading).segments(3).page_size(2)]
    assert len(found) == 30

    spans = span_exporter.get_finished_spans()
    rounds = named(spans, "Scan Reading")
    assert len(rounds) >= 2
    by_id = {span_id(r): r for r in rounds}
    scans = named(spans, "DynamoDB.Scan")
    # A round reads the live segments together; a lone segment is read without a round span.
    in_rounds = [scan for scan in scans if parent_id(scan) in by_id]
    assert len(in_rounds) >= 2 * len(rounds)
    assert all(scan.parent is None for scan in scans if scan not in in_rounds)


async def test_batch_writes_and_reads_are_executor_spans_over_their_chunks(
    traced: Opener,
    tables: Session,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    tracer = tracer_provider.get_tracer("the job")
    async with traced(max_concurrency=3) as db:
        with tracer.start_as_current_span("import") as job:
            await db.batch_put(readings(60))
            found = await db.batch_get(Reading, [{"sensor": "s1", "at": i} for i in range(150)])
            async with db.batch_writer() as writer:
                for reading in readings(30, sensor="s2"):
                    writer.put(reading)
            deleted = await db.query(Reading).where(Reading.sensor == "s2").delete()
    assert len(found) == 60 and deleted == 30

    spans = span_exporter.get_finished_spans()
    job_id = job.get_span_context().span_id
    writes, deletes = named(spans, "batch_write Reading")
    (writer_span,) = named(spans, "batch_write")
    (reads,) = named(spans, "batch_get Reading")
    for executor in (writes, reads, writer_span, deletes):
        assert executor.kind is SpanKind.INTERNAL and parent_id(executor) == job_id
    table_names = dict(writes.attributes or {})["aws.dynamodb.table_names"]
    assert table_names == (tables.table_name(Reading),)

    def calls_under(executor: ReadableSpan, name: str) -> list[ReadableSpan]:
        return [s for s in named(spans, name) if parent_id(s) == span_id(executor)]

    # 60 puts in chunks of 25, 150 keys (60 found) in chunks of 100, 30 puts, 30 deletes.
    assert len(calls_under(writes, "DynamoDB.BatchWriteItem")) == 3
    assert len(calls_under(reads, "DynamoDB.BatchGetItem")) == 2
    assert len(calls_under(writer_span, "DynamoDB.BatchWriteItem")) == 2
    assert len(calls_under(deletes, "DynamoDB.BatchWriteItem")) == 2
    assert all(capacity_units(s) > 0 for s in named(spans, "DynamoDB.BatchWriteItem"))
    # The query feeding the deletes is the caller's call, not the delete executor's.
    (query,) = named(spans, "DynamoDB.Query")
    assert parent_id(query) == job_id


async def test_a_transaction_is_one_span_naming_every_table(
    traced: Opener, tables: Session, span_exporter: InMemorySpanExporter
) -> None:
    async with traced() as db:
        async with db.transaction() as tx:
            tx.put(Reading(sensor="s1", at=1))
            tx.put(Counter(name="readings", hits=1))
        await db.transact_get([(Reading, {"sensor": "s1", "at": 1})])

    write, read = span_exporter.get_finished_spans()
    assert write.name == "DynamoDB.TransactWriteItems" and read.name == "DynamoDB.TransactGetItems"
    assert dict(write.attributes or {})["aws.dynamodb.table_names"] == (
        tables.table_name(Reading),
        tables.table_name(Counter),
    )
    assert capacity_units(write) > 0


async def test_a_failed_call_records_its_error_type_and_status(
    traced: Opener, span_exporter: InMemorySpanExporter
) -> None:
    async with traced() as db:
        await db.put(Reading(sensor="s1", at=1))
        with pytest.raises(ConditionFailed) as caught:
            await db.put(Reading(sensor="s1", at=1), condition=Reading.value > 100)

    _, failed = span_exporter.get_finished_spans()
    assert failed.name == "DynamoDB.PutItem"
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == f"ConditionFailed: {caught.value}"
    attributes = dict(failed.attributes or {})
    assert attributes["error.type"] == "ConditionalCheckFailedException"
    assert isinstance(attributes["aws.request_id"], str)
    assert "aws.dynamodb.consumed_capacity" not in attributes
    (event,) = failed.events
    assert event.name == "exception"
    exception_type = dict(event.attributes or {})["exception.type"]
    assert exception_type == f"{ConditionFailed.__module__}.ConditionFailed"


async def test_a_failed_fan_out_fails_its_executor_span(
    traced: Opener, span_exporter: InMemorySpanExporter
) -> None:
    async with traced() as db:
        with pytest.raises(TableError):
            await db.batch_get(Strict, [{"pk": "a"}])  # a table never created

    call, executor = span_exporter.get_finished_spans()
    assert executor.name == "batch_get Strict" and parent_id(call) == span_id(executor)
    for span in (call, executor):
        assert span.status.status_code is StatusCode.ERROR
        assert dict(span.attributes or {})["error.type"] == "ResourceNotFoundException"


async def test_retries_of_a_call_are_on_its_span(
    dynamodb_endpoint: str,
    tables: Session,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    # A share of the PutItem calls answer HTTP 500; botocore retries them.
    config = FaultConfig(error_share=0.3, operations=frozenset({"PutItem"}), seed=7)
    async with (
        FaultProxy(upstream=dynamodb_endpoint, config=config) as proxy,
        local_session(
            proxy.endpoint_url,
            table_prefix=tables.table_prefix,
            tracer_provider=tracer_provider,
            max_attempts=5,
        ) as db,
    ):
        for reading in readings(10):
            await db.put(reading)
    puts = named(span_exporter.get_finished_spans(), "DynamoDB.PutItem")
    retries = [number(s, "retry_attempts") for s in puts]
    assert len(puts) == 10 and sum(retries) == proxy.stats.errors > 0


async def test_the_request_hook_and_the_spans_see_the_same_calls(
    traced: Opener, span_exporter: InMemorySpanExporter
) -> None:
    events: list[RequestEvent] = []
    async with traced(on_request=events.append) as db:
        await db.put(Reading(sensor="s1", at=1))
        await db.list_tables()
    put, listing = span_exporter.get_finished_spans()
    assert [e.operation for e in events] == ["PutItem", "ListTables"]
    assert capacity_units(put) == events[0].consumed_capacity["CapacityUnits"]
    assert number(listing, "aws.dynamodb.table_count") >= 2
    assert "aws.dynamodb.table_names" not in dict(listing.attributes or {})


async def test_aggregations_and_migrations_are_executor_spans_over_their_segments(
    traced: Opener, tables: Session, span_exporter: InMemorySpanExporter
) -> None:
    await tables.batch_put(spread(30))
    async with traced() as db:
        rows = await db.scan(Reading).segments(3).group_by(Reading.at).aggregate(n=Count())
        assert [row["n"] for row in rows] == [30]
        report = await migrate(
            db,
            source=Reading,
            target=Reading,
            transform=lambda r: Reading(sensor=r.sensor, at=r.at, value=Decimal(1)),
            segments=2,
        )
        assert report.written == 30

    spans = span_exporter.get_finished_spans()
    (aggregate,) = named(spans, "aggregate Reading")
    (migration,) = named(spans, "migrate Reading")
    for executor, segments in ((aggregate, 3), (migration, 2)):
        assert executor.kind is SpanKind.INTERNAL and executor.parent is None
        assert dict(executor.attributes or {})["aws.dynamodb.total_segments"] == segments
        scans = [s for s in named(spans, "DynamoDB.Scan") if parent_id(s) == span_id(executor)]
        found = {dict(scan.attributes or {})["aws.dynamodb.segment"] for scan in scans}
        assert found == set(range(segments)), "every segment's reads are the executor's children"
    # The pages are written by the batch executor, whose spans are the migration's children.
    batches = {span_id(b): b for b in named(spans, "batch_write Reading")}
    assert batches and all(parent_id(b) == span_id(migration) for b in batches.values())
    writes = named(spans, "DynamoDB.BatchWriteItem")
    assert writes and all(parent_id(write) in batches for write in writes)
