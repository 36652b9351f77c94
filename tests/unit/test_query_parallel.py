"""Merging segment page streams: round-by-round iteration and the read-ahead block."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from dynamorm_async import DynamoDBError, ThrottledError, ValidationError
from dynamorm_async._fanout import collapse_group, library_errors
from dynamorm_async._read.streams import (
    RoundStream,
    merged_pages,
)

pytestmark = pytest.mark.timeout(30)


class FakeSource:
    """Pages of ints; optionally slow, and failing on one page."""

    def __init__(
        self, pages: list[list[int]], *, delay: float = 0.0, fail_at: int | None = None
    ) -> None:
        self._pages = list(pages)
        self._delay = delay
        self._fail_at = fail_at
        self.reads = 0
        self.wants: list[int | None] = []
        self.cancelled = False

    @property
    def done(self) -> bool:
        return self.reads >= len(self._pages)

    async def next_page(self, want: int | None) -> list[int]:
        self.wants.append(want)
        try:
            await anyio.sleep(self._delay)
        except anyio.get_cancelled_exc_class():
            self.cancelled = True
            raise
        if self._fail_at == self.reads:
            raise ThrottledError("segment failed", operation="Scan")
        page = self._pages[self.reads]
        self.reads += 1
        return page


def library_tasks(before: set[asyncio.Task[object]]) -> set[asyncio.Task[object]]:
    return asyncio.all_tasks() - before - {asyncio.current_task()}  # type: ignore[operator]


async def test_round_stream_reads_every_source_round_by_round() -> None:
    a = FakeSource([[1, 2], [3]])
    b = FakeSource([[10], [], [11]])
    stream = RoundStream([a, b], lambda x: x * 2)
    assert [x async for x in stream] == [2, 4, 20, 6, 22]
    assert a.done and b.done


async def test_round_stream_limit_asks_for_what_is_missing() -> None:
    a = FakeSource([[1, 2, 3], [4, 5, 6]])
    stream = RoundStream([a], str, limit=4)
    assert [x async for x in stream] == ["1", "2", "3", "4"]
    assert a.wants == [4, 1]


async def test_round_stream_leaves_no_task_after_break_or_error() -> None:
    before = asyncio.all_tasks()
    sources = [FakeSource([[i]] * 5, delay=0.001) for i in range(4)]
    async for _ in RoundStream(sources, int):
        break
    assert not library_tasks(before)
    slow = FakeSource([[1]], delay=5)
    failing = FakeSource([[1]], fail_at=0)
    with pytest.raises(ThrottledError):
        async for _ in RoundStream([slow, failing], int):
            pass
    assert slow.cancelled
    assert not library_tasks(before)


async def test_round_stream_aclose_stops_it() -> None:
    stream = RoundStream([FakeSource([[1, 2]])], int)
    assert await stream.__anext__() == 1
    await stream.aclose()
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


async def test_merged_pages_reads_ahead_into_a_bounded_buffer() -> None:
    sources = [FakeSource([[i]] * 50) for i in range(3)]
    async with merged_pages(sources) as pages:
        first = await pages.__anext__()
        await anyio.sleep(0.05)
        # Three pages buffered plus at most one page in hand per producer.
        assert sum(s.reads for s in sources) <= 1 + 3 + 3
        rest = [page async for page in pages]
    assert sorted(p[0] for p in [first, *rest]) == sorted([0, 1, 2] * 50)


async def test_leaving_the_block_cancels_every_producer() -> None:
    before = asyncio.all_tasks()
    sources = [FakeSource([[1]] * 10, delay=0.01) for _ in range(3)]
    async with merged_pages(sources) as pages:
        async for _ in pages:
            break
    assert not library_tasks(before)
    assert not all(s.done for s in sources)


async def test_a_failing_producer_cancels_the_others_and_surfaces_alone() -> None:
    before = asyncio.all_tasks()
    slow = FakeSource([[1]] * 3, delay=5)
    failing = FakeSource([[1], [2]], fail_at=1)
    with pytest.raises(ThrottledError, match="segment failed"):
        async with merged_pages([slow, failing]) as pages:
            async for _ in pages:
                pass
    assert slow.cancelled
    assert not library_tasks(before)


async def test_merged_pages_stops_producers_when_want_reaches_zero() -> None:
    taken = 0
    source = FakeSource([[1, 2]] * 10)
    async with merged_pages([source], want=lambda: 4 - taken) as pages:
        async for page in pages:
            taken += len(page)
    assert taken == 4 and source.reads == 2


async def test_cancelling_the_consumer_stops_the_producers() -> None:
    before = asyncio.all_tasks()
    sources = [FakeSource([[1]] * 100, delay=0.01) for _ in range(2)]
    with anyio.move_on_after(0.05):
        async with merged_pages(sources) as pages:
            async for _ in pages:
                await anyio.sleep(1)
    assert not library_tasks(before)


def test_collapse_group() -> None:
    one = ThrottledError("a")
    assert collapse_group(BaseExceptionGroup("g", [one])) is one
    nested = BaseExceptionGroup("g", [BaseExceptionGroup("h", [one])])
    assert collapse_group(nested) is one
    two = DynamoDBError("b")
    first = collapse_group(BaseExceptionGroup("g", [one, two]))
    assert first is one and "1 other concurrent task(s) failed too: b" in (one.__notes__ or [])[0]
    mixed = BaseExceptionGroup("g", [ValidationError("c"), KeyError("k")])
    assert collapse_group(mixed) is mixed


def test_library_errors_keeps_the_cause() -> None:
    cause = OSError("connection reset")
    error = DynamoDBError("reset")
    error.__cause__ = cause
    with pytest.raises(DynamoDBError) as caught, library_errors():
        raise BaseExceptionGroup("g", [error])
    assert caught.value is error and caught.value.__cause__ is cause
    with pytest.raises(BaseExceptionGroup), library_errors():
        raise BaseExceptionGroup("g", [KeyError("a"), KeyError("b")])


async def test_producers_stop_once_nothing_more_is_wanted() -> None:
    taken = 0
    sources = [FakeSource([[1, 2]] * 10) for _ in range(3)]
    async with merged_pages(sources, want=lambda: 5 - taken) as pages:
        async for page in pages:
            taken += len(page)
            await anyio.sleep(0.01)
    assert taken >= 5
    # Each producer asked for what was missing and stopped once nothing was.
    assert sum(s.reads for s in sources) < 3 * 10
