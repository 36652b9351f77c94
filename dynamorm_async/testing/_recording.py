"""A Transport wrapper that records what a Session sends, for tests that check requests."""

from __future__ import annotations

import copy
from typing import Any, NamedTuple, Unpack

from .._transport.protocol import CallOptions, DelegatingTransport, Payload, Transport, send

__all__ = ["RecordingTransport", "SentRequest"]


class SentRequest(NamedTuple):
    """One call as it reached the transport: ``for operation, payload in t.requests``."""

    operation: str
    payload: dict[str, Any]


class RecordingTransport(DelegatingTransport):
    """Sends through another Transport and records every request and the peak concurrency.

    ``requests`` holds a deep copy of each payload as sent (executors may reuse their dicts);
    ``in_flight`` counts the calls running now and ``max_in_flight`` the most seen at once,
    which shows what the Session's ``max_concurrency`` let through.
    """

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner)
        self.requests: list[SentRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def takes_raw_json(self) -> bool:
        """False: payloads are recorded, and sent on, with plain values only."""
        return False

    def payloads(self, operation: str) -> list[dict[str, Any]]:
        """The payloads of the recorded calls of one operation, in order."""
        return [r.payload for r in self.requests if r.operation == operation]

    async def call(
        self, operation: str, payload: Payload, **options: Unpack[CallOptions]
    ) -> Payload:
        """Record the request, then send it through the wrapped transport."""
        self.requests.append(SentRequest(operation, copy.deepcopy(payload)))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await send(self._inner, operation, payload, options)
        finally:
            self.in_flight -= 1
