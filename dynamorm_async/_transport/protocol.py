"""The transport contract: what a Session needs to send requests, and the default client's options.

No I/O library is imported here: a Session, a test double or another HTTP stack depends on this
module only; ``client.py`` holds the aiobotocore implementation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, runtime_checkable
from urllib.parse import urlsplit

import msgspec

from .._checks import seconds, whole_number
from .._errors import ValidationError

__all__ = [
    "ITEM_OPERATIONS",
    "READ_OPERATIONS",
    "ClientOptions",
    "DelegatingTransport",
    "Key",
    "Payload",
    "Transport",
    "CallOptions",
    "defers_items",
    "failure_response",
    "plain_payload",
    "retry_attempts",
    "send",
    "takes_raw_json",
    "with_consumed_capacity",
]

Payload = dict[str, Any]
"""DynamoDB JSON, a request or a response, item values in wire format (``{"S": "ada"}``)."""
Key = Mapping[str, Any]
"""An item's key as the caller gave it: context for the errors a call raises."""

_RETRY_MODES = frozenset({"legacy", "standard", "adaptive"})

ITEM_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)
"""DynamoDB's item operations (the data plane): they report ``ConsumedCapacity`` when asked,
and the default transport sends them on its lean path."""

READ_OPERATIONS = frozenset({"Query", "Scan"})
"""The operations whose ``Items`` a transport may hand back undecoded (``raw_items``)."""


def with_consumed_capacity(operation: str, payload: Payload) -> Payload:
    """The payload of an item operation asking for ``ReturnConsumedCapacity=TOTAL``, unless
    it asks for something already; other operations' payloads as they are."""
    if operation in ITEM_OPERATIONS and "ReturnConsumedCapacity" not in payload:
        return {**payload, "ReturnConsumedCapacity": "TOTAL"}
    return payload


@runtime_checkable
class Transport(Protocol):
    """Sends DynamoDB operations: the one seam between a Session and the network.

    ``call("GetItem", payload)`` takes DynamoDB's JSON request (item values in wire format,
    ``{"S": "..."}``) and returns its JSON response. Failures are raised as the library's errors
    (:func:`dynamorm_async._errors.map_client_error` turns botocore-shaped ones into them, with
    the original as ``__cause__``), so ``ConditionFailed``, ``ThrottledError``... mean the same
    whatever the transport. A transport that retries reports how often the way botocore does,
    in ``ResponseMetadata.RetryAttempts`` of the response (or of the ``response`` of the
    failure it raised from); the ``on_request`` hook reads it there.

    A Session opens its transport on ``__aenter__`` and closes it on exit; ``call`` may run
    concurrently from many tasks, at most ``max_concurrency`` at once.

    A transport whose ``defers_items`` attribute is true also takes ``raw_items=True`` on
    Query and Scan calls: it may then answer ``Items`` as the JSON array it received
    (``msgspec.Raw``), for the reader to decode straight into its model's types; a list
    stays a valid answer. The Session passes ``raw_items`` to no other transport.

    A transport whose ``takes_raw_json`` attribute is true also takes ``raw_json=True``: the
    payload then holds JSON texts already encoded (``msgspec.Raw``, such as a batch's entries)
    in place of some values, to be sent as they are. Every other transport gets plain values
    (:func:`plain_payload`) and no ``raw_json``.
    """

    async def open(self) -> None:
        """Get ready to send (create clients, pools); idempotent."""
        ...

    async def aclose(self) -> None:
        """Release everything ``open`` acquired; idempotent."""
        ...

    async def call(
        self, operation: str, payload: Payload, *, table: str | None = None, key: Key | None = None
    ) -> Payload:
        """Send one operation; ``table`` and ``key`` only give raised errors their context."""
        ...


class CallOptions(TypedDict, total=False):
    """What a call says besides its operation and payload (see :class:`Transport`)."""

    table: str | None
    """The full table name, context for the errors a call raises."""
    key: Key | None
    """The item's key as the caller gave it, context for errors."""
    raw_items: bool
    """Query and Scan only, for a transport that ``defers_items``: ``Items`` may come back
    as the undecoded JSON array (``msgspec.Raw``)."""
    raw_json: bool
    """The payload holds JSON texts already encoded (``msgspec.Raw``) in place of some
    values; only a transport that ``takes_raw_json`` gets them as they are."""


def send(
    transport: Transport, operation: str, payload: Payload, options: CallOptions
) -> Awaitable[Payload]:
    """``transport.call`` with ``options``: ``raw_items`` only for a transport that
    :func:`defers_items`, ``raw_json`` only for one that :func:`takes_raw_json` (any other
    gets the payload's plain values); every transport takes ``table`` and ``key``."""
    if "raw_items" in options or "raw_json" in options:
        payload, options = _fitted(transport, payload, options)
    return transport.call(operation, payload, **options)  # type: ignore[misc]


def _fitted(
    transport: Transport, payload: Payload, options: CallOptions
) -> tuple[Payload, CallOptions]:
    fitted = CallOptions(table=options.get("table"), key=options.get("key"))
    if options.get("raw_items") and defers_items(transport):
        fitted["raw_items"] = True
    if options.get("raw_json"):
        if takes_raw_json(transport):
            fitted["raw_json"] = True
        else:
            payload = plain_payload(payload)
    return payload, fitted


def plain_payload(payload: Payload) -> Payload:
    """``payload`` with every JSON text it holds (``msgspec.Raw``) decoded into plain values."""
    decoded: Payload = msgspec.json.decode(msgspec.json.encode(payload))
    return decoded


class DelegatingTransport:
    """Opens and closes another transport; a subclass defines ``call`` around the inner one's,
    forwarding its options with :func:`send`."""

    def __init__(self, inner: Transport) -> None:
        self._inner = inner

    @property
    def defers_items(self) -> bool:
        """Whether the wrapped transport takes ``raw_items`` (see :class:`Transport`)."""
        return defers_items(self._inner)

    @property
    def takes_raw_json(self) -> bool:
        """Whether the wrapped transport takes ``raw_json`` (see :class:`Transport`)."""
        return takes_raw_json(self._inner)

    async def open(self) -> None:
        """Open the wrapped transport."""
        await self._inner.open()

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOptions:
    """How the aiobotocore transport builds its DynamoDB client.

    Unset credentials, region and endpoint fall back to the normal AWS chain (environment,
    config files, ``profile_name``, instance roles). ``max_attempts`` is botocore's count of
    retries after the first attempt (0 disables them) in ``retry_mode`` ``"standard"``,
    ``"adaptive"`` or ``"legacy"``; timeouts are in seconds.
    """

    endpoint_url: str | None = None
    region_name: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)
    profile_name: str | None = None
    retry_mode: str = "standard"
    max_attempts: int = 5
    max_pool_connections: int = 16
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.retry_mode not in _RETRY_MODES:
            raise ValidationError(
                f"retry_mode must be one of {sorted(_RETRY_MODES)}, got {self.retry_mode!r}"
            )
        whole_number("max_attempts", self.max_attempts, minimum=0)
        whole_number("max_pool_connections", self.max_pool_connections)
        seconds("connect_timeout", self.connect_timeout)
        seconds("read_timeout", self.read_timeout)
        if self.endpoint_url is not None:
            parts = urlsplit(self.endpoint_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValidationError(
                    f"endpoint_url must be an http:// or https:// URL with a host, "
                    f"got {self.endpoint_url!r}"
                )
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            raise ValidationError(
                "pass aws_access_key_id and aws_secret_access_key together, or neither "
                "(to use the AWS credential chain)"
            )
        if self.aws_session_token is not None and self.aws_access_key_id is None:
            raise ValidationError(
                "aws_session_token needs aws_access_key_id and aws_secret_access_key"
            )


def retry_attempts(response: object) -> int:
    """Retries a botocore-shaped response reports (``ResponseMetadata.RetryAttempts``), else 0."""
    if not isinstance(response, Mapping):
        return 0
    meta = response.get("ResponseMetadata")
    attempts = meta.get("RetryAttempts", 0) if isinstance(meta, Mapping) else 0
    return attempts if isinstance(attempts, int) else 0


def defers_items(transport: object) -> bool:
    """True when ``transport`` takes ``raw_items=True`` (see :class:`Transport`)."""
    return getattr(transport, "defers_items", False) is True


def takes_raw_json(transport: object) -> bool:
    """True when ``transport`` takes ``raw_json=True`` (see :class:`Transport`)."""
    return getattr(transport, "takes_raw_json", False) is True


def failure_response(error: BaseException) -> object:
    """The botocore-shaped response a failure was raised from (its ``__cause__``'s), or None:
    where a transport reports the retries and request id of a failed call."""
    return getattr(error.__cause__, "response", None)
