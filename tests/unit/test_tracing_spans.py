"""Spans without a server: the context of anyio workers, executor spans, and tracing turned off.

The SDK's in-memory exporter records what the library's tracer produces; work is done by
``_fanout`` helpers and a Session over a transport of the test's own. No global provider is
set here (it is process-wide): ``test_tracing_optional.py`` tests it in subprocesses.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from dynamorm_async import DynamoDBError, Session, ValidationError
from dynamorm_async._fanout import fan_out, worker_pool
from dynamorm_async._read.streams import merged_pages
from dynamorm_async._spans import NO_SPAN, FanOutSpan
from dynamorm_async._transport.traced import Tracing, tracing_for
from tests.spans import parent_id, span_id

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def tracing(tracer_provider: TracerProvider) -> Tracing:
    found = tracing_for(tracer_provider)
    assert found is not None
    return found


def executor_span(tracing: Tracing, segments: int = 1) -> FanOutSpan:
    return tracing.fan_out_span("Scan", ["Thing"], ["p_things"], segments)


def by_name(span_exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in span_exporter.get_finished_spans()}


def current_id() -> int:
    return trace.get_current_span().get_span_context().span_id


@pytest.mark.parametrize("workers", [1, 4])
async def test_fan_out_workers_run_inside_the_executor_span(
    tracer_provider: TracerProvider,
    tracing: Tracing,
    span_exporter: InMemorySpanExporter,
    workers: int,
) -> None:
    tracer = tracer_provider.get_tracer("test")

    async def work(job: int) -> None:
        await anyio.sleep(0.001 * job)
        with tracer.start_as_current_span(f"job {job}"):
            await anyio.lowlevel.checkpoint()

    with tracer.start_as_current_span("caller"):
        with executor_span(tracing, segments=4) as span:
            await fan_out(range(6), work, workers=workers, span=span)
        after = current_id()

    spans = by_name(span_exporter)
    executor, caller = spans["Scan Thing"], spans["caller"]
    assert after == span_id(caller)
    assert executor.kind is SpanKind.INTERNAL and parent_id(executor) == span_id(caller)
    assert dict(executor.attributes or {}) == {
        "aws.dynamodb.table_names": ("p_things",),
        "aws.dynamodb.total_segments": 4,
    }
    assert all(parent_id(spans[f"job {job}"]) == span_id(executor) for job in range(6))


async def test_a_worker_pool_runs_its_workers_not_its_block_inside_the_span(
    tracer_provider: TracerProvider, tracing: Tracing, span_exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("test")
    seen_in_block: list[int] = []

    async def work(job: int) -> None:
        with tracer.start_as_current_span(f"job {job}"):
            await anyio.lowlevel.checkpoint()

    with tracer.start_as_current_span("caller") as caller, executor_span(tracing) as span:
        async with worker_pool(work, workers=3, span=span) as jobs:
            for job in range(5):
                seen_in_block.append(current_id())
                await jobs.send(job)

    spans = by_name(span_exporter)
    executor = spans["Scan Thing"]
    assert seen_in_block == [caller.get_span_context().span_id] * 5
    assert all(parent_id(spans[f"job {job}"]) == span_id(executor) for job in range(5))


class Pages:
    """A page source of three pages, each read inside a span of its own."""

    def __init__(self, name: str, tracer: trace.Tracer) -> None:
        self.name = name
        self.tracer = tracer
        self.read = 0

    @property
    def done(self) -> bool:
        return self.read == 3

    async def next_page(self, want: int | None) -> list[str]:
        with self.tracer.start_as_current_span(f"{self.name} page {self.read}"):
            await anyio.lowlevel.checkpoint()
            self.read += 1
            return [f"{self.name}{self.read}"]


async def test_merged_pages_read_inside_the_span_and_hand_out_outside_it(
    tracer_provider: TracerProvider, tracing: Tracing, span_exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("test")
    sources = [Pages(name, tracer) for name in "abc"]
    consumer_ids: set[int] = set()
    found: list[str] = []
    with tracer.start_as_current_span("caller") as caller, executor_span(tracing, 3) as span:
        async with merged_pages(sources, span=span) as pages:
            async for page in pages:
                consumer_ids.add(current_id())
                found.extend(page)

    spans = by_name(span_exporter)
    executor = spans["Scan Thing"]
    assert sorted(found) == sorted(f"{n}{i}" for n in "abc" for i in (1, 2, 3))
    assert consumer_ids == {caller.get_span_context().span_id}
    reads = [s for name, s in spans.items() if " page " in name]
    assert len(reads) == 9 and all(parent_id(s) == span_id(executor) for s in reads)


async def test_an_error_fails_the_executor_span_and_a_cancellation_does_not(
    tracing: Tracing, span_exporter: InMemorySpanExporter
) -> None:
    async def fail(job: int) -> None:
        if job == 2:
            raise DynamoDBError("connection reset", code="RequestTimeout")
        await anyio.sleep(5)

    with pytest.raises(DynamoDBError), executor_span(tracing) as span:
        await fan_out(range(4), fail, workers=4, span=span)
    with anyio.move_on_after(0.01), executor_span(tracing) as span:
        await fan_out(range(4), lambda job: anyio.sleep(5), workers=2, span=span)

    failed, cancelled = span_exporter.get_finished_spans()
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "DynamoDBError: connection reset (code=RequestTimeout)"
    assert dict(failed.attributes or {})["error.type"] == "RequestTimeout"
    assert [event.name for event in failed.events] == ["exception"]
    assert cancelled.status.status_code is StatusCode.UNSET and not cancelled.events


async def test_a_span_not_entered_leaves_the_workers_under_the_caller(
    tracer_provider: TracerProvider, tracing: Tracing, span_exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("test")
    inside: list[int] = []

    async def work(job: int) -> None:
        inside.append(current_id())

    with tracer.start_as_current_span("caller") as caller:
        await fan_out(range(3), work, workers=3, span=executor_span(tracing))
    assert inside == [caller.get_span_context().span_id] * 3


class Recorder:
    """A transport that answers every call with an empty success, noting what it was given."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, Any], int]] = []

    async def open(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def call(self, operation: str, payload: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.seen.append((payload, current_id()))
        return {}


@pytest.mark.parametrize("off", [None, trace.NoOpTracerProvider()])
async def test_without_tracing_a_call_reaches_the_transport_as_it_was_made(
    tracer_provider: TracerProvider, off: trace.TracerProvider | None
) -> None:
    # No global provider is set in this process, so None means untraced too.
    transport = Recorder()
    payload: dict[str, Any] = {"TableName": "t", "Key": {"pk": {"S": "a"}}}
    with tracer_provider.get_tracer("test").start_as_current_span("caller") as caller:
        async with Session(transport=transport, tracer_provider=off) as db:
            await db.call("GetItem", payload, table="t")
            assert db.fan_out_span("Scan", segments=4) is NO_SPAN
    # The very payload (no ReturnConsumedCapacity added), in the caller's span: no wrapper.
    ((given, span_id),) = transport.seen
    assert given is payload and span_id == caller.get_span_context().span_id


async def test_with_tracing_an_item_call_asks_for_its_capacity_and_runs_in_its_span(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    transport = Recorder()
    payload: dict[str, Any] = {"TableName": "t", "Key": {"pk": {"S": "a"}}}
    async with Session(transport=transport, tracer_provider=tracer_provider) as db:
        await db.call("GetItem", payload, table="t")
        await db.call("DescribeTable", {"TableName": "t"}, table="t")
    (get, got_in), (describe, described_in) = transport.seen
    assert get == {**payload, "ReturnConsumedCapacity": "TOTAL"}
    assert describe == {"TableName": "t"}
    first, second = span_exporter.get_finished_spans()
    assert (first.name, second.name) == ("DynamoDB.GetItem", "DynamoDB.DescribeTable")
    assert (got_in, described_in) == (span_id(first), span_id(second))
    assert dict(first.attributes or {})["retry_attempts"] == 0


def test_a_tracer_provider_must_be_one() -> None:
    with pytest.raises(ValidationError, match="must be an OpenTelemetry TracerProvider"):
        Session(tracer_provider=object())  # type: ignore[arg-type]
