"""The runner seam: where the segments of a migration or an aggregation run.

A run that reads a table segment by segment (``migrate()``, a ``GroupBy``) describes its work
as plain values: one :class:`SegmentWork` for the run (models, transform, read plan...) and one
job per parallel-scan segment. A :class:`Runner` runs the jobs and hands each result back as it
comes; the caller merges them (migration reports add up, aggregate states merge exactly).

:class:`LocalRunner` (the default) runs every job in the caller's process, as one fan-out
through the caller's context: the segments share the process's memory (one limit tally, one
checkpoint file) and its concurrency limit. A runner for a cluster
(``dynamorm_async.distributed.DaskRunner``) ships the work and the jobs to other processes, each
of which opens a Session of its own; the work and its jobs must then pickle (cloudpickle ships
functions and classes by reference or by value).

Events. A job reports its progress with ``emit(event)``, a flat mapping of names to ints, after
each page. The runner passes every event to the caller's ``on_event``; a runner whose jobs run
elsewhere also calls it with an empty mapping at least once a second while it waits, so
displays stay live when no page finished.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from ._fanout import fan_out

if TYPE_CHECKING:
    from ._context import ExecutionContext

__all__ = ["Emit", "LocalRunner", "Runner", "SegmentWork"]

J = TypeVar("J")
R = TypeVar("R")
J_contra = TypeVar("J_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)

Emit = Callable[[Mapping[str, int]], None]
"""Where a job sends its progress events (flat mappings of names to ints)."""


class SegmentWork(Protocol[J_contra, R_co]):
    """What every segment job of one run does: a plain value, picklable for remote runners."""

    async def start(
        self, context: ExecutionContext, emit: Emit
    ) -> Callable[[J_contra], Awaitable[R_co]]:
        """Prepare a process to run jobs through ``context``; returns the job function.

        Called once per process that runs jobs (once in all for :class:`LocalRunner`): what
        the returned function keeps is shared by the jobs of that process.
        """
        ...


@runtime_checkable
class Runner(Protocol):
    """Runs the segment jobs of a migration or an aggregation; see the module docstring."""

    @property
    def in_process(self) -> bool:
        """True when every job runs in the caller's process and shares its memory."""
        ...

    async def run(
        self,
        context: ExecutionContext,
        work: SegmentWork[J, R],
        jobs: Sequence[J],
        *,
        on_result: Callable[[J, R], None],
        on_event: Callable[[Mapping[str, int]], None],
    ) -> None:
        """Run every job once and pass each result to ``on_result`` as it comes.

        The first job that raises stops the others, and its exception comes out of ``run``.
        """
        ...


class LocalRunner:
    """Runs the segment jobs in the caller's process: one task per job, one fan-out.

    Requests go through the caller's context, so its ``max_concurrency`` bounds them all; the
    default runner of ``migrate()`` and of aggregations.
    """

    __slots__ = ()

    @property
    def in_process(self) -> bool:
        """Always True: the jobs run here."""
        return True

    async def run(
        self,
        context: ExecutionContext,
        work: SegmentWork[J, R],
        jobs: Sequence[J],
        *,
        on_result: Callable[[J, R], None],
        on_event: Callable[[Mapping[str, int]], None],
    ) -> None:
        """Run every job as one task of a fan-out; see :meth:`Runner.run`."""
        segment = await work.start(context, on_event)

        async def one(job: J) -> None:
            on_result(job, await segment(job))

        await fan_out(jobs, one, workers=len(jobs))

    def __repr__(self) -> str:
        return "LocalRunner()"
