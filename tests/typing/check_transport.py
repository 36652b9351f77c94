"""Transports are typed structurally: anything with open/aclose/call fits Session(transport=)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, assert_type

from dynamorm_async import (
    AiobotocoreTransport,
    ClientOptions,
    RequestEvent,
    RequestHook,
    Session,
    Transport,
)
from dynamorm_async.testing import RecordingTransport, SentRequest, local_transport


class Canned:
    """A user's own transport: no base class, only the protocol's methods."""

    async def open(self) -> None: ...

    async def aclose(self) -> None: ...

    async def call(
        self,
        operation: str,
        payload: dict[str, Any],
        *,
        table: str | None = None,
        key: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {}


class Wrong:
    async def call(self, operation: str) -> dict[str, Any]:
        return {}


def on_request(event: RequestEvent) -> None: ...


async def transports() -> None:
    hook: RequestHook = on_request
    default: Transport = AiobotocoreTransport(ClientOptions(region_name="eu-west-1"))
    Session(transport=default, on_request=hook)
    Session(transport=Canned())
    Session(transport=RecordingTransport(Canned()))
    Session(transport=Wrong())  # type: ignore[arg-type]
    assert_type(await default.call("ListTables", {}), dict[str, Any])

    recording = RecordingTransport(local_transport("http://localhost:8000"))
    for sent in recording.requests:
        assert_type(sent, SentRequest)
        assert_type(sent.payload, dict[str, Any])
    assert_type(recording.payloads("Scan"), list[dict[str, Any]])

    options = ClientOptions(max_attempts=0)
    options.max_attempts = 1  # type: ignore[misc]
