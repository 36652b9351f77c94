"""The execution context: the little every executor needs from a Session.

Builders and executors (reads, writes, batches, transactions, aggregation) take an
:class:`ExecutionContext`, never the concrete ``Session``, so none of them imports the module
that imports them all. ``Session`` implements it; a test or another front end may too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ._batch.retry import RetryPolicy
    from ._model.model import Model
    from ._read.cursor import CursorCodec
    from ._transport.protocol import Key, Payload

__all__ = ["ExecutionContext"]


class ExecutionContext(Protocol):
    """One DynamoDB connection as executors see it: calls, table names and limits."""

    async def call(
        self,
        operation: str,
        payload: Payload,
        *,
        table: str | None = None,
        key: Key | None = None,
        raw_items: bool = False,
    ) -> Payload:
        """Send one DynamoDB operation; at most ``max_concurrency`` calls are in flight.

        With ``raw_items`` a Query or Scan answer's ``Items`` may come back undecoded
        (``msgspec.Raw``, the JSON array DynamoDB sent), or as the usual list."""
        ...

    def table_name(self, model: type[Model]) -> str:
        """The full table name of a model (with the table prefix)."""
        ...

    @property
    def max_concurrency(self) -> int:
        """Calls in flight at once, and the worker count of every fan-out."""
        ...

    @property
    def batch_retry(self) -> RetryPolicy:
        """How batch executors retry unprocessed items and transient failures."""
        ...

    @property
    def cursor_codec(self) -> CursorCodec:
        """Signs and verifies pagination cursors."""
        ...
