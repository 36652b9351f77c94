"""DaskRunner: the segment jobs of a migration or an aggregation as Dask tasks.

Nothing here imports dask until a :class:`DaskRunner` is made, so the package imports without
the ``dask`` extra; making one then raises :class:`MissingDependency`, which names the extra.

How a run goes:

- The caller submits one task per job: the work and the job (cloudpickled by Dask), this
  Session's :meth:`~.._session.Session.worker_options` and the run's event topic.
- A worker runs the task in one of its threads with an event loop of its own: it opens a
  Session from the options (credentials from the worker's environment unless the options
  carry them) and runs the job on it, exactly as :class:`~.._runner.LocalRunner` would here.
- The job's progress events go to the caller through Dask's event log
  (``Worker.log_event`` to ``Client.subscribe_topic``), at most a few per second per task.
  The caller polls its futures and the events every ``interval`` seconds, hands results and
  events over in its own task, and calls ``on_event`` at every poll (an empty event when
  nothing came), so progress displays move at least once a second.
- When the run ends early (a job failed, the caller was cancelled), the caller sets the run's
  stop event and cancels the futures; a task still running sees the event at its next page
  and stops there. A worker that dies has its tasks run again by Dask (its ``allowed-failures``
  setting bounds how often); a migration with a table checkpoint resumes those segments where
  their last page was checkpointed.
"""

from __future__ import annotations

import functools
import importlib.util
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread

from .._errors import DistributedError, MissingDependency, ValidationError
from .._runner import Emit, SegmentWork
from .._session import Session, SessionOptions

if TYPE_CHECKING:
    from distributed import Client, Future

    from .._context import ExecutionContext

__all__ = ["DaskRunner", "dask_runner", "require_dask"]

J = TypeVar("J")
R = TypeVar("R")

_SEND_INTERVAL = 0.25  # seconds between a task's progress events (the last page always goes)
_STOP_CHECK_INTERVAL = 1.0  # seconds between a task's looks at the run's stop event


def require_dask() -> None:
    """MissingDependency unless dask.distributed is importable."""
    try:
        found = importlib.util.find_spec("distributed") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingDependency(
            "DaskRunner needs Dask distributed, which is not installed: install the dask "
            "extra, pip install 'dynamorm-async[dask]'"
        )


@asynccontextmanager
async def dask_runner(address: str) -> AsyncIterator[DaskRunner]:
    """A runner on the scheduler at ``address`` (``tcp://host:8786``), or on a LocalCluster
    of N worker processes started for the block (``local:N``), with an asynchronous client."""
    require_dask()
    from distributed import Client, LocalCluster

    kind, _, count = address.partition(":")
    if kind != "local":
        async with Client(address, asynchronous=True) as client:
            yield DaskRunner(client)
        return
    if not count.isdigit() or int(count) < 1:
        raise ValidationError(f"local:N needs a number of worker processes N >= 1, got {address!r}")
    async with (
        LocalCluster(
            n_workers=int(count), threads_per_worker=1, asynchronous=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster, asynchronous=True) as client,
    ):
        yield DaskRunner(client)


class DaskRunner:
    """Runs each segment job as a Dask task: ``runner=DaskRunner(client)``.

    ``client`` is a ``dask.distributed.Client``, synchronous or ``asynchronous=True`` (then
    on the caller's event loop). Every task opens a Session of its own from the caller
    Session's options (:meth:`Session.worker_options`), or from ``options`` when given (a
    Session built with ``transport=`` needs them). Results and progress events are collected
    every ``interval`` seconds. Install it with ``pip install 'dynamorm-async[dask]'``.
    """

    __slots__ = ("_client", "_interval", "_options")

    def __init__(
        self, client: Client, *, options: SessionOptions | None = None, interval: float = 0.5
    ) -> None:
        require_dask()
        from distributed import Client

        if not isinstance(client, Client):
            raise ValidationError(
                f"DaskRunner takes a dask.distributed.Client, got {type(client).__name__}"
            )
        if not 0 < interval <= 1:
            raise ValidationError(f"interval must be in (0, 1] seconds, got {interval!r}")
        self._client = client
        self._options = options
        self._interval = interval

    @property
    def in_process(self) -> bool:
        """Always False: the jobs run in the cluster's worker processes."""
        return False

    def __repr__(self) -> str:
        return f"DaskRunner({self._client.scheduler.address if self._client.scheduler else ''})"

    def _worker_options(self, context: ExecutionContext) -> SessionOptions:
        if self._options is not None:
            return self._options
        if not isinstance(context, Session):
            raise ValidationError(
                f"DaskRunner builds each worker's Session from the caller's Session options, "
                f"and {type(context).__name__} has none: give DaskRunner(client, options={{...}})"
            )
        return context.worker_options()

    async def run(
        self,
        context: ExecutionContext,
        work: SegmentWork[J, R],
        jobs: Sequence[J],
        *,
        on_result: Callable[[J, R], None],
        on_event: Callable[[Mapping[str, int]], None],
    ) -> None:
        """Submit one task per job and collect results and events until all are in."""
        options = self._worker_options(context)
        if not jobs:
            return
        client = self._client
        topic = f"dynamorm-async-{uuid.uuid4().hex}"
        inbox: deque[Mapping[str, int]] = deque()
        # Called on the client's event loop (another thread for a synchronous client): a
        # deque's append is atomic, and the caller's own task takes the events from there.
        # The scheduler adds its own entries ("worker") next to the job's event.
        client.subscribe_topic(topic, lambda event: inbox.append(event[1]["event"]))
        futures = {
            client.submit(
                _run_task, options, work, job, topic, key=f"{topic}-{index}", pure=False
            ): job
            for index, job in enumerate(jobs)
        }
        try:
            await self._collect(futures, inbox, on_result, on_event)
        finally:
            with anyio.CancelScope(shield=True):
                await self._stop(topic, [f for f in futures if not f.done()])
                client.unsubscribe_topic(topic)

    async def _collect(
        self,
        futures: dict[Future[Any], J],
        inbox: deque[Mapping[str, int]],
        on_result: Callable[[J, R], None],
        on_event: Callable[[Mapping[str, int]], None],
    ) -> None:
        pending = dict(futures)
        while pending:
            await anyio.sleep(self._interval)
            events = [inbox.popleft() for _ in range(len(inbox))]
            for event in events or [{}]:
                on_event(event)
            done = [future for future in pending if future.done()]
            if done:
                for future, result in zip(done, await self._gather(done), strict=True):
                    on_result(pending.pop(future), result)

    async def _gather(self, futures: list[Future[Any]]) -> list[Any]:
        from distributed.client import FutureCancelledError
        from distributed.comm.core import CommClosedError
        from distributed.scheduler import KilledWorker

        try:
            results: list[Any] = await self._call(self._client.gather, futures)
        except (KilledWorker, FutureCancelledError, CommClosedError) as exc:
            raise DistributedError(
                f"the Dask cluster lost a segment task ({type(exc).__name__}: {exc}); run "
                "again (a migration with a TableCheckpoint resumes where it stopped)"
            ) from exc
        return results

    async def _stop(self, topic: str, running: list[Future[Any]]) -> None:
        """Tell the tasks still running to stop at their next page, and cancel the rest."""
        if not running:
            return
        from distributed import Event

        await self._call(Event(f"{topic}-stop", client=self._client).set)
        await self._call(self._client.cancel, running)

    async def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        """Call a client method: awaited on an asynchronous client, in a thread otherwise
        (a synchronous client blocks until its own event loop thread answers)."""
        if self._client.asynchronous:
            return await method(*args)
        return await anyio.to_thread.run_sync(functools.partial(method, *args))


class _Emitter:
    """A task's ``emit``: progress events to the caller, and a look at the stop event."""

    def __init__(self, topic: str) -> None:
        from distributed import Event, get_worker

        self._worker = get_worker()
        self._topic = topic
        self._stop = Event(f"{topic}-stop")
        self._sent = self._checked = time.monotonic()

    def __call__(self, event: Mapping[str, int]) -> None:
        now = time.monotonic()
        if event.get("done") or now - self._sent >= _SEND_INTERVAL:
            self._worker.log_event(self._topic, {"event": dict(event)})
            self._sent = now
        if now - self._checked >= _STOP_CHECK_INTERVAL:
            self._checked = now
            if self._stop.is_set():
                raise DistributedError("the run this task belongs to ended; the task stopped")


def _run_task(options: SessionOptions, work: SegmentWork[J, R], job: J, topic: str) -> R:
    """A Dask task: run one job on a Session of this worker's own, in a loop of its own."""
    return anyio.run(_run_job, options, work, job, _Emitter(topic))


async def _run_job(options: SessionOptions, work: SegmentWork[J, R], job: J, emit: Emit) -> R:
    async with Session(**options) as db:
        segment = await work.start(db, emit)
        return await segment(job)
