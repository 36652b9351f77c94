"""Bounded fan-out: the one place that starts concurrent work, bounds it and collapses errors.

Every concurrent job of the library (batch chunks, parallel-scan segments, migration segments,
aggregation folds) runs through :func:`fan_out` or :func:`worker_pool`, inside an anyio task
group, so none outlives the call that started it. Workers never hold a concurrency token while
they wait for other work: the only token is taken by ``ExecutionContext.call`` around a single
request, which makes fan-outs of any depth (a migration segment running a batch write) free of
deadlocks by construction.

Given a :class:`.._spans.FanOutSpan` (the tracing span an executor opened), a fan-out starts
its workers with it current, so every call a worker makes is its child.

A task group raises an ``ExceptionGroup``; callers of the library expect its own error types,
so :func:`library_errors` turns a group of library errors back into one (the others become a
note on it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._errors import DynamormError
from ._spans import NO_SPAN, FanOutSpan

__all__ = ["Tally", "collapse_group", "fan_out", "leaves", "library_errors", "worker_pool"]

T = TypeVar("T")


def leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions a (nested) exception group holds, in order."""
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out.extend(leaves(exc))
        else:
            out.append(exc)
    return out


def collapse_group(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception a task group's ExceptionGroup stands for, when there is one.

    A single leaf is returned as is. Several library errors (workers failing at the same
    moment) become the first, with the others listed in a note, so callers can always catch
    the library's error types. Anything else stays a group.
    """
    found = leaves(group)
    if len(found) == 1:
        return found[0]
    if all(isinstance(exc, DynamormError) for exc in found):
        first, others = found[0], found[1:]
        first.add_note(
            f"{len(others)} other concurrent task(s) failed too: "
            + "; ".join(str(e) for e in others)
        )
        return first
    return group


@contextmanager
def library_errors() -> Iterator[None]:
    """Re-raise an ExceptionGroup from a task group as the error it stands for."""
    try:
        yield
    except BaseExceptionGroup as group:
        error = collapse_group(group)
        if error is group:
            raise
        # Keep the botocore failure as __cause__; the group itself is only packaging.
        raise error from error.__cause__


async def fan_out(
    jobs: Iterable[T],
    work: Callable[[T], Awaitable[None]],
    *,
    workers: int,
    span: FanOutSpan = NO_SPAN,
) -> None:
    """Run ``work(job)`` for every job on at most ``workers`` tasks.

    Jobs are taken from one shared iterator, so each runs exactly once and a lazy iterable is
    consumed only as workers free up. The first failure cancels the other workers; errors
    come out as the library's own (:func:`library_errors`). One worker (or one job) runs in
    the caller's task. ``span`` (opened by the caller) is current throughout.
    """
    iterator = iter(jobs)

    async def worker() -> None:
        for job in iterator:
            await work(job)

    # This coroutine runs the fan-out to its end in one task: the span may stay current.
    with span.current():
        if workers <= 1:
            await worker()
            return
        with library_errors():
            async with anyio.create_task_group() as tg:
                for _ in range(workers):
                    tg.start_soon(worker)


@asynccontextmanager
async def worker_pool(
    work: Callable[[T], Awaitable[None]],
    *,
    workers: int,
    backlog: float | None = None,
    span: FanOutSpan = NO_SPAN,
) -> AsyncIterator[MemoryObjectSendStream[T]]:
    """``async with worker_pool(work, workers=n) as jobs: await jobs.send(job)``.

    For jobs that arrive as a stream: each job sent is run by one of ``workers`` tasks, jobs
    taken in the order sent. ``jobs.send`` waits while ``backlog`` jobs (default: ``workers``)
    are queued already, so memory stays bounded however many jobs come; a producer that cannot
    wait (synchronous code) passes ``backlog=math.inf`` and uses ``jobs.send_nowait``. Leaving
    the block normally waits until every job sent has run; an exception in the block or a
    worker cancels the rest. ``span`` (opened by the caller) is current in the workers, not
    in the block, which is the caller's code.
    """
    send, receive = anyio.create_memory_object_stream[T](workers if backlog is None else backlog)

    async def worker(jobs: MemoryObjectReceiveStream[T]) -> None:
        async with jobs:
            async for job in jobs:
                await work(job)

    with library_errors():
        async with anyio.create_task_group() as tg:
            # Clone here, not in the worker: the tasks start only after receive is closed.
            with span.current():
                for _ in range(workers):
                    tg.start_soon(worker, receive.clone())
            receive.close()
            async with send:
                yield send


class Tally:
    """Results taken so far against an optional limit, shared by concurrent producers."""

    __slots__ = ("limit", "taken")

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.taken = 0

    def want(self) -> int | None:
        """How many more results are needed (None: all of them)."""
        return None if self.limit is None else self.limit - self.taken

    @property
    def full(self) -> bool:
        """True once the limit is reached."""
        return self.limit is not None and self.taken >= self.limit
