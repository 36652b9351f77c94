"""Merging the page streams of parallel-scan segments into one stream, with structured tasks.

Two shapes, because Python gives an ``async for`` loop no way to clean up after ``break``:

* :class:`RoundStream` backs ``async for item in scan``. No task outlives one ``__anext__``
  call: when its buffer is empty it reads the next page of every live segment concurrently in
  one anyio task group, then hands those items out. A consumer that breaks, is cancelled or
  raises leaves nothing running, and a slow consumer leaves at most one page per segment in
  memory (it simply stops pulling).
* :func:`merged_pages` backs ``stream()``, ``all()``, ``count()`` and ``delete()``, which run
  inside an ``async with``. Each segment is a producer task that keeps reading ahead into a
  bounded memory object stream (backpressure: a full buffer blocks the producers), and the
  task group is cancelled as soon as the consumer leaves the block.

Both run their segments under an executor's tracing span (:class:`.._spans.FanOutSpan`): a
round stream opens one per round, the caller of the merged stream one for the whole block.

Requests are bounded by the context's ``call`` (not by these streams), and an ``ExceptionGroup``
holding library errors comes out as the library's error (:func:`.._fanout.library_errors`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Generic, Protocol, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from .._fanout import Tally, fan_out, library_errors
from .._spans import NO_SPAN, FanOutSpan
from .invalid import Skip

__all__ = [
    "Flatten",
    "OnDemand",
    "PageSource",
    "RoundStream",
    "merged_pages",
    "want_all",
]

T = TypeVar("T")
P = TypeVar("P")
Out = TypeVar("Out")



def want_all() -> int | None:
    """The ``want`` of a consumer without a limit: every result (None)."""
    return None


class PageSource(Protocol[T]):
    """One stream of pages (a query, a scan or one scan segment), read one request at a time."""

    @property
    def done(self) -> bool:
        """True once the source has returned its last page."""
        ...

    async def next_page(self, want: int | None) -> list[T]:
        """Read one page; ``want`` is how many results the consumer still needs, or None."""
        ...


class RoundStream(Generic[T, Out]):
    """Async iterator over the items of several page sources, read round by round.

    ``convert`` turns each raw item into the result handed out (:data:`SKIP` leaves it out);
    ``limit`` ends the stream after that many results. ``aclose()`` ends it early (nothing is
    running between calls, so there is nothing else to stop). ``span()`` gives the tracing
    span of each round that reads several segments at once.
    """

    __slots__ = ("_buffer", "_closed", "_convert", "_sources", "_span", "_tally")

    def __init__(
        self,
        sources: Sequence[PageSource[T]],
        convert: Callable[[T], Out | Skip],
        *,
        limit: int | None = None,
        span: Callable[[], FanOutSpan] = lambda: NO_SPAN,
    ) -> None:
        self._sources = list(sources)
        self._convert = convert
        self._span = span
        self._tally = Tally(limit)
        self._buffer: deque[T] = deque()
        self._closed = False

    def __aiter__(self) -> RoundStream[T, Out]:
        return self

    async def __anext__(self) -> Out:
        while True:
            while not self._buffer:
                if self._closed or all(source.done for source in self._sources):
                    self._closed = True
                    raise StopAsyncIteration
                await self._read_round()
            result = self._convert(self._buffer.popleft())
            if isinstance(result, Skip):
                continue
            self._tally.taken += 1
            if self._tally.full:
                self._closed = True
                self._buffer.clear()
            return result

    async def aclose(self) -> None:
        """Stop the stream; later ``__anext__`` calls raise StopAsyncIteration."""
        self._closed = True
        self._buffer.clear()

    async def _read_round(self) -> None:
        want = self._tally.want()
        live = [source for source in self._sources if not source.done]
        if len(live) == 1:
            self._buffer.extend(await live[0].next_page(want))
            return
        pages: list[list[T]] = [[] for _ in live]

        async def read(slot: int) -> None:
            pages[slot] = await live[slot].next_page(want)

        # One page of every live segment per round; the context's call bounds the requests.
        with self._span() as span:
            await fan_out(range(len(live)), read, workers=len(live), span=span)
        for page in pages:
            self._buffer.extend(page)


class Flatten(Generic[T, Out]):
    """The items of a page stream, converted one by one (:data:`SKIP` leaves an item out),
    ending at the tally's limit."""

    __slots__ = ("_convert", "_page", "_pages", "_tally")

    def __init__(
        self, pages: AsyncIterator[list[T]], convert: Callable[[T], Out | Skip], tally: Tally
    ) -> None:
        self._pages = pages
        self._convert = convert
        self._tally = tally
        self._page: deque[T] = deque()

    def __aiter__(self) -> Flatten[T, Out]:
        return self

    async def __anext__(self) -> Out:
        while not self._tally.full:
            while not self._page:
                self._page.extend(await self._pages.__anext__())
            result = self._convert(self._page.popleft())
            if not isinstance(result, Skip):
                self._tally.taken += 1
                return result
        raise StopAsyncIteration


@asynccontextmanager
async def merged_pages(
    sources: Sequence[PageSource[T]],
    *,
    want: Callable[[], int | None] = want_all,
    span: FanOutSpan = NO_SPAN,
) -> AsyncIterator[AsyncIterator[list[T]]]:
    """``async with merged_pages(sources) as pages``: every source's pages, in arrival order.

    With several sources each one is a producer task reading ahead into a memory object
    stream that holds at most one page per source; leaving the block cancels them all and
    waits for them. ``want()`` says how many results the consumer still needs (None: all);
    a producer stops once it answers zero. One source is read in the caller's task. The
    producers of several run with ``span`` (opened by the caller) current; the block does not:
    it is the consumer's code.
    """
    if len(sources) == 1:
        source = sources[0]
        yield OnDemand(lambda: source.done, source.next_page, want)
        return
    send, receive = anyio.create_memory_object_stream[list[T]](len(sources))
    # The receiving end closes only after the task group has stopped every producer.
    with library_errors(), receive:
        async with anyio.create_task_group() as tg:
            with send, span.current():
                for source in sources:
                    tg.start_soon(_produce, source, send.clone(), want)
            try:
                yield receive
            finally:
                tg.cancel_scope.cancel()


class OnDemand(Generic[P]):
    """Pages read one request at a time, in the consumer's task, as it asks for them.

    ``read(want)`` reads the next page; the iteration ends once ``done()`` is true or
    ``want()`` (how many results the consumer still needs, None: all) answers zero.
    """

    __slots__ = ("_done", "_read", "_want")

    def __init__(
        self,
        done: Callable[[], bool],
        read: Callable[[int | None], Awaitable[P]],
        want: Callable[[], int | None],
    ) -> None:
        self._done = done
        self._read = read
        self._want = want

    def __aiter__(self) -> OnDemand[P]:
        return self

    async def __anext__(self) -> P:
        needed = self._want()
        if self._done() or (needed is not None and needed <= 0):
            raise StopAsyncIteration
        return await self._read(needed)


async def _produce(
    source: PageSource[T],
    send: MemoryObjectSendStream[list[T]],
    want: Callable[[], int | None],
) -> None:
    # A plain loop, not an async generator: an abandoned generator is closed later by a task
    # of its own, which would outlive the task group.
    with send:
        while not source.done:
            needed = want()
            if needed is not None and needed <= 0:
                return
            page = await source.next_page(needed)
            if page:
                await send.send(page)
