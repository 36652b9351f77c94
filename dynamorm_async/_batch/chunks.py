"""Sending one chunk until DynamoDB has processed it or its retry budget runs out.

:func:`retry_chunk` is the loop every batch chunk runs (reads and writes): it re-sends only
what DynamoDB left unprocessed, re-sends a whole call that failed transiently
(:func:`.retry.is_transient`) after a full-jitter backoff, and reports what it gave up on,
never drops it. :class:`WriteRunner` runs that loop for BatchWriteItem chunks and records the
outcome in a :class:`.progress.BatchProgress`.

Retries and unprocessed counts are logged at DEBUG, throttling and give-ups at WARNING, on the
``dynamorm_async`` logger.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

import anyio

from .._errors import DynamormError, ThrottledError
from .._model.model import Model
from .._write.semantics import apply_confirmed
from .plan import GetKey, WriteRequest, split_write_answer, write_payload
from .progress import BatchProgress
from .retry import RetryBudget, is_transient

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = ["WriteRunner", "retry_chunk"]

logger = logging.getLogger("dynamorm_async")

R = TypeVar("R", WriteRequest, GetKey)


async def retry_chunk(
    session: ExecutionContext,
    operation: str,
    table: str | None,
    pending: dict[bytes, R],
    attempt: Callable[[dict[bytes, R]], Awaitable[dict[bytes, R]]],
    progress: BatchProgress,
) -> tuple[dict[bytes, R], DynamormError | None]:
    """Call ``attempt`` with what is pending until nothing is or the retry budget runs out.

    ``attempt`` sends one call, records what it confirmed, and returns what is still
    unprocessed. Returns the requests given up on (empty on success) and the error behind
    them, if the last attempt failed as a whole.
    """
    budget = RetryBudget(session.batch_retry)
    error: DynamormError | None = None
    while True:
        budget.record_attempt()
        sent = len(pending)
        try:
            pending = await attempt(pending)
        except DynamormError as exc:
            if not is_transient(exc):
                logger.warning(
                    "%s on %s: %d requests rejected, not retried: %s",
                    operation, table, len(pending), exc,
                )
                return pending, exc
            error = exc
            _log_failed_attempt(operation, table, budget.attempts, exc, progress)
        else:
            if not pending:
                return pending, None
            error = None
            logger.debug(
                "%s on %s: %d of %d requests unprocessed (attempt %d)",
                operation, table, len(pending), sent, budget.attempts,
            )
        delay = budget.next_delay()
        if delay is None:
            logger.warning(
                "%s on %s: giving up on %d requests after %d attempts (%.2fs)",
                operation, table, len(pending), budget.attempts, budget.elapsed,
            )
            return pending, error
        progress.retries += 1
        logger.debug("%s on %s: retrying %d requests in %.3fs", operation, table,
                     len(pending), delay)
        await anyio.sleep(delay)


def _log_failed_attempt(
    operation: str, table: str | None, attempt: int, exc: DynamormError, progress: BatchProgress
) -> None:
    if isinstance(exc, ThrottledError):
        progress.throttled += 1
        # Once per batch call at WARNING; a throttled table would repeat it per chunk.
        logger.log(
            logging.WARNING if progress.throttled == 1 else logging.DEBUG,
            "%s on %s throttled (attempt %d), backing off: %s",
            operation, table, attempt, exc,
        )
    else:
        logger.debug("%s on %s failed (attempt %d): %s", operation, table, attempt, exc)


def _single_table(requests: Iterable[WriteRequest]) -> str | None:
    """The table of a chunk for error context, or None when it spans several."""
    tables = {request.table for request in requests}
    return tables.pop() if len(tables) == 1 else None


class WriteRunner:
    """Sends the BatchWriteItem chunks of one batch call and records the outcome.

    ``table_keys`` gives the key attributes of every table the chunks write to.
    """

    __slots__ = ("progress", "session", "table_keys")

    def __init__(
        self,
        session: ExecutionContext,
        progress: BatchProgress,
        table_keys: Mapping[str, Sequence[str]],
    ) -> None:
        self.session = session
        self.progress = progress
        self.table_keys = table_keys

    async def run(self, chunk: list[WriteRequest]) -> None:
        """Write one chunk, retrying what is left unprocessed; never raises DynamormError."""
        table = _single_table(chunk)
        pending = {request.fingerprint: request for request in chunk}
        left, error = await retry_chunk(
            self.session, "BatchWriteItem", table, pending, self._attempt, self.progress
        )
        for request in left.values():
            self.progress.give_up(request.index, request.source, error)

    async def _attempt(self, pending: dict[bytes, WriteRequest]) -> dict[bytes, WriteRequest]:
        response = await self.session.call(
            "BatchWriteItem",
            write_payload(pending.values()),
            table=_single_table(pending.values()),
            raw_json=True,
        )
        confirmed, remaining = split_write_answer(pending, response, self.table_keys)
        for request in confirmed:
            self.progress.confirm(request.index, request.source)
            if request.updates and isinstance(request.source, Model):
                # A frozen instance stays as it was passed (the one rule: apply_confirmed).
                apply_confirmed(request.source, request.updates)
        return remaining
