"""The ``on_request`` hook: one RequestEvent per DynamoDB call, whatever the transport.

A Session with a hook wraps its transport (the default one or an injected one) in
:class:`ObservedTransport`, so the events, and the ``ReturnConsumedCapacity`` they report, come
from one place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Unpack

from .._errors import DynamormError
from .protocol import (
    CallOptions,
    DelegatingTransport,
    Payload,
    Transport,
    failure_response,
    retry_attempts,
    send,
    with_consumed_capacity,
)

__all__ = ["ObservedTransport", "RequestEvent", "RequestHook"]


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """What the Session's ``on_request`` hook receives after every DynamoDB call.

    ``consumed_capacity`` is DynamoDB's ``ConsumedCapacity`` (a dict for single-table calls, a
    list of dicts for batches and transactions; None for table operations and failed calls):
    while a hook is set, item operations ask for it with ``ReturnConsumedCapacity=TOTAL``.
    """

    operation: str
    table: str | None
    duration: float
    retries: int
    consumed_capacity: Any
    error: DynamormError | None


RequestHook = Callable[[RequestEvent], None]


class ObservedTransport(DelegatingTransport):
    """A Transport that sends through another and reports every call to a hook."""

    def __init__(self, inner: Transport, hook: RequestHook) -> None:
        super().__init__(inner)
        self._hook = hook

    async def call(
        self, operation: str, payload: Payload, **options: Unpack[CallOptions]
    ) -> Payload:
        """Send through the wrapped transport, then hand the hook a RequestEvent."""
        payload = with_consumed_capacity(operation, payload)
        table = options.get("table")
        started = time.perf_counter()
        try:
            response = await send(self._inner, operation, payload, options)
        except DynamormError as error:
            retries = retry_attempts(failure_response(error))
            self._emit(operation, table, started, retries, None, error)
            raise
        consumed = response.get("ConsumedCapacity")
        self._emit(operation, table, started, retry_attempts(response), consumed, None)
        return response

    def _emit(
        self,
        operation: str,
        table: str | None,
        started: float,
        retries: int,
        consumed: Any,
        error: DynamormError | None,
    ) -> None:
        duration = time.perf_counter() - started
        self._hook(RequestEvent(operation, table, duration, retries, consumed, error))
