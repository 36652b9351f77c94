"""The execution context: the little every executor needs from a Session.

Builders and executors (reads, writes, batches, transactions, aggregation) take an
:class:`ExecutionContext`, never the concrete ``Session``, so none of them imports the module
that imports them all. ``Session`` implements it; a test or another front end may too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, Unpack

if TYPE_CHECKING:
    from ._batch.retry import RetryPolicy
    from ._model.model import Model
    from ._read.cursor import CursorCodec
    from ._spans import FanOutSpan
    from ._transport.protocol import CallOptions, Payload

__all__ = ["ExecutionContext"]


class ExecutionContext(Protocol):
    """One DynamoDB connection as executors see it: calls, table names, limits, tracing."""

    async def call(
        self, operation: str, payload: Payload, **options: Unpack[CallOptions]
    ) -> Payload:
        """Send one DynamoDB operation; at most ``max_concurrency`` calls are in flight.

        ``options`` (:class:`~._transport.protocol.CallOptions`): the table and key errors
        name, and ``raw_items``: a Query or Scan answer's ``Items`` may then come back
        undecoded (``msgspec.Raw``, the JSON array DynamoDB sent), or as the usual list."""
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

    def fan_out_span(
        self, operation: str, models: Sequence[type[Model]] = (), *, segments: int = 1
    ) -> FanOutSpan:
        """The tracing span a fan-out of ``operation`` on ``models`` runs under (``Scan
        Order``, ``batch_write Order``), for ``_fanout``; ``NO_SPAN`` when tracing is off."""
        ...
