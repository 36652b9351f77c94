"""What a batch call did: live counters, the result they end in, and the error report (pure).

:class:`BatchProgress` is updated by the executors as DynamoDB answers; it ends as a
:class:`BatchResult`, or as the ``BatchWriteError`` of :func:`write_error` when requests were
given up on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .._errors import BatchWriteError, DynamormError
from .retry import RetryPolicy, is_transient

__all__ = ["BatchProgress", "BatchResult", "write_error"]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What a completed batch write did.

    ``processed`` counts the requests DynamoDB confirmed, ``retries`` the calls re-sent (for
    unprocessed items or a throttled/failed call), ``throttled`` the calls DynamoDB throttled,
    ``unprocessed`` the requests given up on (empty on success: otherwise BatchWriteError is
    raised), ``duration`` the seconds the call took.
    """

    processed: int
    retries: int = 0
    throttled: int = 0
    unprocessed: tuple[object, ...] = ()
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every request was confirmed."""
        return not self.unprocessed


@dataclass(eq=False)
class BatchProgress:
    """Live counters of one batch call (or one batch writer), updated as DynamoDB answers.

    Pass one as ``progress=`` to read how far a call got after it failed or was cancelled:
    ``processed_items`` holds exactly the requests DynamoDB confirmed, ``unprocessed`` those
    given up on. A request that was in flight when the call was cancelled is in neither list:
    DynamoDB may or may not have applied it. With ``keep_items=False`` only the counters are
    kept, not the confirmed objects (streaming deletes, whose memory must not grow).
    """

    keep_items: bool = True
    submitted: int = 0
    processed: int = 0
    retries: int = 0
    throttled: int = 0
    error: DynamormError | None = None
    """The first error that made requests unprocessed (a throttle, a failed or rejected call)."""
    started: float = field(default_factory=time.perf_counter, init=False)
    _confirmed: list[tuple[int, object]] = field(default_factory=list, init=False, repr=False)
    _failed: list[tuple[int, object]] = field(default_factory=list, init=False, repr=False)

    @property
    def processed_items(self) -> list[object]:
        """The objects of the confirmed requests, in input order."""
        return [source for _, source in sorted(self._confirmed, key=_first)]

    @property
    def unprocessed(self) -> list[object]:
        """The objects of the requests given up on, in input order."""
        return [source for _, source in sorted(self._failed, key=_first)]

    @property
    def elapsed(self) -> float:
        """Seconds since this progress was created."""
        return time.perf_counter() - self.started

    def confirm(self, index: int, source: object) -> None:
        """Record one request DynamoDB confirmed."""
        self.processed += 1
        if self.keep_items:
            self._confirmed.append((index, source))

    def give_up(self, index: int, source: object, error: DynamormError | None) -> None:
        """Record one request left unprocessed, and the error behind it (if any)."""
        self._failed.append((index, source))
        if self.error is None and error is not None:
            self.error = error

    def result(self) -> BatchResult:
        """A snapshot of the counters as a :class:`BatchResult`."""
        return BatchResult(
            processed=self.processed,
            retries=self.retries,
            throttled=self.throttled,
            unprocessed=tuple(self.unprocessed),
            duration=self.elapsed,
        )


def _first(pair: tuple[int, object]) -> int:
    return pair[0]


def write_error(policy: RetryPolicy, progress: BatchProgress) -> BatchWriteError:
    """The BatchWriteError of a write batch that gave up on ``progress.unprocessed``."""
    unprocessed = progress.unprocessed
    cause = progress.error
    if cause is not None and not is_transient(cause):
        why = f"DynamoDB rejected them: {cause}"
    else:
        limit = f"{policy.max_attempts} attempts"
        if policy.deadline is not None:
            limit += f" or {policy.deadline:g}s"
        why = f"the retry budget ({limit} per chunk) ran out"
        if cause is not None:
            why += f"; last error: {cause}"
    return BatchWriteError(
        f"{len(unprocessed)} of {progress.submitted} write requests were not written: {why}. "
        "Every other request was written; retry the ones in .unprocessed later, or give the "
        "Session a larger batch_retry=RetryPolicy(...)",
        unprocessed=unprocessed,
        processed=progress.processed,
        processed_items=progress.processed_items,
        operation="BatchWriteItem",
        table=cause.table if cause is not None else None,
        code=cause.code if cause is not None else None,
    )
