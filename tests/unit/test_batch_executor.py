"""The batch executors' fan-out against a fake execution context (no DynamoDB, no Session).

``Answering`` implements the ExecutionContext protocol and answers every batch call itself,
recording how many calls run at once and in which order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from typing import Annotated, Any

import anyio
import anyio.lowlevel
import pytest

from dynamorm_async import (
    BatchWriteError,
    DynamormError,
    HashKey,
    Model,
    RangeKey,
    Session,
    ValidationError,
)
from dynamorm_async._batch.retry import RetryPolicy
from dynamorm_async._batch.run import batch_put, delete_keys
from dynamorm_async._batch.writer import BatchWriter
from dynamorm_async._context import ExecutionContext
from dynamorm_async._read.cursor import CursorCodec
from dynamorm_async._spans import NO_SPAN, FanOutSpan
from dynamorm_async._transport.protocol import plain_payload

pytestmark = pytest.mark.timeout(30)


class Row(Model, table="rows"):
    pk: Annotated[str, HashKey()]
    sk: Annotated[int, RangeKey()]
    body: str = ""


class Answering:
    """An ExecutionContext whose calls take ``delay`` seconds and process everything."""

    def __init__(self, max_concurrency: int, delay: float = 0.005) -> None:
        self._max_concurrency = max_concurrency
        self.delay = delay
        self.running = 0
        self.most = 0
        self.log: list[tuple[str, tuple[str, ...]]] = []

    async def call(
        self,
        operation: str,
        payload: dict[str, Any],
        *,
        table: str | None = None,
        key: Mapping[str, Any] | None = None,
        raw_json: bool = False,
    ) -> dict[str, Any]:
        if raw_json:  # a batch's entries come as JSON texts
            payload = plain_payload(payload)
        bodies = tuple(
            entry["PutRequest"]["Item"].get("body", {}).get("S", "")
            for entries in payload["RequestItems"].values()
            for entry in entries
            if "PutRequest" in entry
        )
        self.running += 1
        self.most = max(self.most, self.running)
        self.log.append(("start", bodies))
        try:
            await anyio.sleep(self.delay)
        finally:
            self.running -= 1
        self.log.append(("end", bodies))
        return {}

    def table_name(self, model: type[Model]) -> str:
        return f"test-{model.__name__}"

    @property
    def max_concurrency(self) -> int:
        return self._max_concurrency

    @property
    def batch_retry(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.001)

    @property
    def cursor_codec(self) -> CursorCodec:
        return CursorCodec(b"k" * 32)

    def fan_out_span(
        self, operation: str, models: Sequence[type[Model]] = (), *, segments: int = 1
    ) -> FanOutSpan:
        return NO_SPAN


def as_context(context: Answering) -> ExecutionContext:
    return context


def rows(count: int, start: int = 0) -> list[Row]:
    return [Row(pk="p", sk=i, body=f"b{i}") for i in range(start, start + count)]


async def wire_keys(count: int) -> AsyncGenerator[dict[str, Any], None]:
    for i in range(count):
        yield {"pk": {"S": "p"}, "sk": {"N": str(i)}}


async def test_an_empty_batch_sends_nothing() -> None:
    # The Session is never opened: any request would fail.
    session = Session(endpoint_url="http://127.0.0.1:9", region_name="us-east-1")
    result = await batch_put(session, [])
    assert (result.processed, result.retries, result.unprocessed) == (0, 0, ())


async def test_a_writer_is_used_inside_its_block_once() -> None:
    writer = BatchWriter(as_context(Answering(2)))
    with pytest.raises(ValidationError, match="inside 'async with"):
        writer.put(Row(pk="a", sk=1))
    async with writer:
        pass
    with pytest.raises(DynamormError, match="entered once"):
        async with writer:
            pass


async def test_batch_put_runs_at_most_max_concurrency_chunks_at_once() -> None:
    context = Answering(3)
    result = await batch_put(as_context(context), rows(500))
    assert result.processed == 500
    assert context.most == 3


async def test_a_writer_runs_at_most_max_concurrency_flushes_at_once() -> None:
    context = Answering(2)
    async with BatchWriter(as_context(context)) as writer:
        for row in rows(300):
            writer.put(row)
    assert writer.result.processed == 300
    assert context.most == 2
    assert sum(1 for event, _ in context.log if event == "start") == 12


async def test_a_writer_sends_the_writes_to_one_key_in_the_order_made() -> None:
    context = Answering(4)
    async with BatchWriter(as_context(context)) as writer:
        writer.put(Row(pk="p", sk=0, body="first"))
        for row in rows(24, start=1):
            writer.put(row)  # the 25th put sends the first buffer
        writer.put(Row(pk="p", sk=0, body="second"))
        for row in rows(24, start=100):
            writer.put(row)  # the second buffer waits for the first, which holds the key too
    first_ends = context.log.index(("end", ("first", *(f"b{i}" for i in range(1, 25)))))
    second = next(i for i, (event, bodies) in enumerate(context.log)
                  if event == "start" and "second" in bodies)
    assert first_ends < second
    assert writer.result.processed == 50


async def test_a_writer_whose_block_raises_sends_what_it_queued_and_drops_its_buffer() -> None:
    context = Answering(2)
    with pytest.raises(LookupError):
        async with BatchWriter(as_context(context)) as writer:
            for row in rows(30):
                writer.put(row)
            raise LookupError("block failed")
    assert writer.result.processed == 25  # the full buffer was sent, the last 5 dropped


async def test_cancelling_a_writer_cancels_its_flushes_and_leaves_no_task() -> None:
    before = asyncio.all_tasks()
    context = Answering(2, delay=60)
    with anyio.move_on_after(0.2) as scope:
        async with BatchWriter(as_context(context)) as writer:
            for row in rows(100):
                writer.put(row)
            await writer.flush()  # cancelled in the block, while the flushes run
    assert scope.cancelled_caught
    await anyio.lowlevel.checkpoint()
    assert asyncio.all_tasks() == before
    assert context.most == 2 and context.running == 0
    assert writer.result.processed == 0


async def test_delete_keys_keeps_max_concurrency_workers_busy() -> None:
    context = Answering(2)
    assert await delete_keys(as_context(context), Row, wire_keys(300)) == 300
    assert context.most == 2


async def test_cancelling_delete_keys_leaves_no_task() -> None:
    before = asyncio.all_tasks()
    context = Answering(3, delay=60)
    # The key stream is the caller's to close (asyncio would finalize it in a task of its own).
    async with aclosing(wire_keys(1000)) as keys:
        with anyio.move_on_after(0.2) as scope:
            await delete_keys(as_context(context), Row, keys)
    assert scope.cancelled_caught
    await anyio.lowlevel.checkpoint()
    assert asyncio.all_tasks() == before
    assert context.most == 3 and context.running == 0


async def test_delete_keys_raises_a_rejected_chunk_as_a_batch_write_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Rejecting(Answering):
        async def call(self, operation: str, payload: dict[str, Any], **_: Any) -> dict[str, Any]:
            raise DynamormError("no such table", table="test-Row", operation=operation)

    with pytest.raises(BatchWriteError) as caught:
        await delete_keys(as_context(Rejecting(2)), Row, wire_keys(30))
    assert len(caught.value.unprocessed) == 30
    assert "DynamoDB rejected them" in str(caught.value)

    async def failing() -> AsyncGenerator[dict[str, Any], None]:
        async for key in wire_keys(30):
            yield key
        raise LookupError("source failed")

    # The key stream's own error wins over the keys left unprocessed before it (logged); the
    # last 5 keys never made a full chunk, so they were not sent.
    with caplog.at_level(logging.WARNING, logger="dynamorm_async"), pytest.raises(LookupError):
        await delete_keys(as_context(Rejecting(2)), Row, failing())
    assert "25 keys left unprocessed before the key stream failed" in caplog.text
