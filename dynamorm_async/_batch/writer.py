"""The buffered batch writer: ``async with db.batch_writer() as w: w.put(o); w.delete(o2)``."""

from __future__ import annotations

import math
from contextlib import AbstractAsyncContextManager, ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self, overload

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from .._errors import DynamormError, ValidationError
from .._fanout import worker_pool
from .._model.model import Model
from .._write.semantics import resolve_target
from .chunks import WriteRunner
from .plan import MAX_REQUEST_BYTES, MAX_WRITE_REQUESTS, WriteRequest
from .progress import BatchProgress, BatchResult, write_error
from .requests import WriteRequests

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = ["BatchWriter"]


@dataclass(frozen=True, slots=True, eq=False)
class _Flush:
    """One full buffer on its way: the requests, the flushes it waits for, its own signal."""

    chunk: list[WriteRequest]
    earlier: set[anyio.Event]
    done: anyio.Event


class BatchWriter:
    """Buffered batch writes: ``async with db.batch_writer() as w: w.put(o); w.delete(o2)``.

    ``put``/``delete`` marshal and validate at once (a bad item raises there) and buffer the
    request; a full buffer (25 requests or 16 MB) is queued for the writer's
    ``max_concurrency`` background workers, each flush retried like ``batch_put``. Leaving the
    block sends the rest, waits for every flush and raises BatchWriteError with the requests
    still unprocessed (everything else was written); ``result``/``progress`` report counts.
    Semantics of versions and timestamps are those of ``batch_put``.

    Duplicate keys: the last write to a key wins. A later write to a key replaces an earlier
    one still in the buffer, and waits for an earlier one already being sent, so requests for
    one key reach DynamoDB in the order they were made. A replaced request is not sent and not
    reported.

    If the block raises, the requests still buffered are discarded (not sent), flushes already
    queued run to the end, and the block's exception propagates; if the block is cancelled,
    running flushes are cancelled too. A writer belongs to the one task that entered it.
    """

    def __init__(self, session: ExecutionContext, *, progress: BatchProgress | None = None) -> None:
        self._session = session
        self.progress = progress if progress is not None else BatchProgress()
        self._requests = WriteRequests(session.table_name)
        self._runner = WriteRunner(session, self.progress, self._requests.table_keys)
        self._pool: AbstractAsyncContextManager[MemoryObjectSendStream[_Flush]] | None = None
        self._flushes: MemoryObjectSendStream[_Flush] | None = None
        self._buffer: dict[bytes, WriteRequest] = {}
        self._bytes = 0
        self._index = 0
        self._inflight: dict[bytes, anyio.Event] = {}
        self._entered = False
        # Holds the writer's tracing span from entry to exit.
        self._span_scope = ExitStack()

    @property
    def result(self) -> BatchResult:
        """Counts so far (final once the block is left)."""
        return self.progress.result()

    async def __aenter__(self) -> Self:
        if self._entered:
            raise DynamormError("a BatchWriter can be entered once; make a new one")
        self._entered = True
        # put() is synchronous and cannot wait for a worker: the queue of full buffers is
        # unbounded, the flushes running at once are not.
        span = self._span_scope.enter_context(self._session.fan_out_span("batch_write"))
        pool = worker_pool(
            self._flush, workers=self._session.max_concurrency, backlog=math.inf, span=span
        )
        try:
            self._flushes = await pool.__aenter__()
        except BaseException:
            self._span_scope.close()
            raise
        self._pool = pool
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        pool = self._pool
        assert pool is not None, "entered in __aenter__"
        if exc is None:
            self._dispatch()
        self._pool = self._flushes = None
        self._buffer.clear()
        # The span ends with what the writer raises here, not with the block's exception.
        with self._span_scope:
            if exc is not None and not isinstance(exc, Exception):
                # Cancellation (or an interrupt): the pool cancels the running flushes.
                return await pool.__aexit__(exc_type, exc, tb)
            # Let the queued flushes finish: they hold writes DynamoDB may be applying now.
            await pool.__aexit__(None, None, None)
            if exc is None and self.progress.unprocessed:
                error = write_error(self._session.batch_retry, self.progress)
                raise error from self.progress.error
        return None

    def put(self, obj: Model) -> None:
        """Buffer a put of ``obj`` (validated now; sent with the next full buffer or on exit)."""
        self._check_open()
        self._add(self._requests.put(obj, self._next_index(), datetime.now(UTC)))

    @overload
    def delete(self, target: Model, /) -> None: ...

    @overload
    def delete(self, target: type[Model], /, **key: object) -> None: ...

    def delete(self, target: Model | type[Model], /, **key: object) -> None:
        """Buffer a delete of an instance, or of ``Model`` with its key as keyword arguments."""
        self._check_open()
        resolved = resolve_target(target, key)
        source = resolved.instance if resolved.instance is not None else key
        self._add(self._requests.delete(resolved, source, self._next_index()))

    async def flush(self) -> None:
        """Send the buffer now and wait until every request made so far is settled."""
        self._check_open()
        self._dispatch()
        # Every queued flush is either still mapped from one of its keys or awaited by a later
        # flush that is (it took over the keys), so this waits for all of them.
        for done in set(self._inflight.values()):
            await done.wait()

    def _check_open(self) -> None:
        if self._flushes is None:
            raise ValidationError("use the batch writer inside 'async with db.batch_writer()'")

    def _next_index(self) -> int:
        self._index += 1
        return self._index

    def _add(self, request: WriteRequest) -> None:
        replaced = self._buffer.pop(request.fingerprint, None)
        if replaced is not None:
            self._bytes -= replaced.size
        if self._buffer and self._bytes + request.size > MAX_REQUEST_BYTES:
            self._dispatch()
        self._buffer[request.fingerprint] = request
        self._bytes += request.size
        if len(self._buffer) >= MAX_WRITE_REQUESTS:
            self._dispatch()

    def _dispatch(self) -> None:
        if not self._buffer:
            return
        assert self._flushes is not None
        chunk = list(self._buffer.values())
        self._buffer, self._bytes = {}, 0
        earlier = {self._inflight[r.fingerprint] for r in chunk if r.fingerprint in self._inflight}
        done = anyio.Event()
        for request in chunk:
            self._inflight[request.fingerprint] = done
        self.progress.submitted += len(chunk)
        self._flushes.send_nowait(_Flush(chunk, earlier, done))

    async def _flush(self, flush: _Flush) -> None:
        # Workers take flushes in the order queued, so an earlier flush of one of these keys
        # is running or done by now: waiting for it cannot deadlock the pool.
        try:
            for event in flush.earlier:
                await event.wait()
            await self._runner.run(flush.chunk)
        finally:
            flush.done.set()
            for request in flush.chunk:
                if self._inflight.get(request.fingerprint) is flush.done:
                    del self._inflight[request.fingerprint]
