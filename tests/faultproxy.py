"""A fault-injecting HTTP proxy in front of DynamoDB Local, for retry and partial-batch tests.

The proxy is a real aiohttp server on a free loopback port, run in the test's own event loop::

    async with FaultProxy(upstream=endpoint, config=FaultConfig(partial_share=0.5)) as proxy:
        session = Session(endpoint_url=proxy.endpoint_url, ...)

For each call to an operation named in ``FaultConfig.operations`` it rolls, independently and
in this order, a connection reset, an HTTP 500 ``InternalServerError`` and an HTTP 400
``ProvisionedThroughputExceededException`` (none of which reach DynamoDB Local), then, for
``BatchWriteItem``/``BatchGetItem``, a partial batch: a random subset of the write requests or
keys is held back and returned as ``UnprocessedItems``/``UnprocessedKeys`` in DynamoDB's own
shape, merged into the upstream's answer for the rest. Items matching ``never_process`` (or
every item with ``always_unprocessed``) are held back on every call. With ``corrupt_share`` set,
a forwarded answer (of an operation other than the two batch ones) may come back with one bit
of its body flipped and its ``x-amz-crc32`` left as DynamoDB computed it, as a body damaged in
transit would. Faults are decided per call from a
seeded ``random.Random``, so retries eventually succeed when every share is below one. Other
operations pass through untouched. DynamoDB Local does not verify SigV4 signatures, which is
what lets the proxy rewrite request bodies; ``last_request`` keeps the headers and body of the
latest call, so a test can check the signature itself.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiohttp
import anyio
from aiohttp import web
from multidict import CIMultiDict

__all__ = ["FaultConfig", "FaultProxy", "FaultStats"]

Predicate = Callable[[Mapping[str, Any]], bool]

_BATCH_WRITE = "BatchWriteItem"
_BATCH_GET = "BatchGetItem"
_JSON = "application/x-amz-json-1.0"
_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
# Hop-by-hop headers and those aiohttp recomputes for the body it actually sends.
_REQUEST_DROP = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "expect",
        "accept-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
    }
)
_RESPONSE_DROP = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "content-encoding",
        "date",
        "server",
    }
)


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Which faults the proxy injects, and how often (shares are probabilities from 0 to 1).

    ``never_process`` receives the item of a ``PutRequest``, the key of a ``DeleteRequest`` or a
    key of a ``BatchGetItem``, in DynamoDB JSON (``{"pk": {"S": "a"}}``); a True answer keeps
    that request unprocessed on every call, whatever the shares say.
    """

    partial_share: float = 0.0
    throttle_share: float = 0.0
    error_share: float = 0.0
    reset_share: float = 0.0
    corrupt_share: float = 0.0
    always_unprocessed: bool = False
    never_process: Predicate | None = None
    operations: AbstractSet[str] = frozenset({_BATCH_WRITE, _BATCH_GET})
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "partial_share",
            "throttle_share",
            "error_share",
            "reset_share",
            "corrupt_share",
        ):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {share!r}")
        # Accept any iterable of names (a plain set is the natural thing to write).
        object.__setattr__(self, "operations", frozenset(self.operations))


@dataclass(slots=True)
class FaultStats:
    """What the proxy did so far; every counter counts calls unless it says otherwise.

    Each call is exactly one of forwarded, withheld, throttled, errors or resets (or answered
    502 when the upstream cannot be reached); ``partial`` overlaps forwarded and withheld.
    """

    calls: int = 0
    forwarded: int = 0
    """Calls passed on to the upstream (whole, or with some requests held back)."""
    partial: int = 0
    """Batch calls with at least one request held back as unprocessed."""
    withheld: int = 0
    """Batch calls with every request held back, answered without forwarding."""
    throttled: int = 0
    errors: int = 0
    resets: int = 0
    corrupted: int = 0
    """Forwarded calls whose answer body was damaged (these count as forwarded too)."""
    unprocessed: int = 0
    """Write requests and keys answered as unprocessed (not calls)."""
    connections: int = 0
    """Distinct client connections seen; stays low while the client keeps connections alive."""
    operations: Counter[str] = field(default_factory=Counter)
    """Calls received per operation name."""


class FaultProxy:
    """A loopback HTTP proxy to a DynamoDB endpoint that injects the faults of a FaultConfig.

    Use it as an async context manager (or ``start()``/``aclose()``) inside the event loop of
    the code under test. ``config`` may be replaced between calls; doing so reseeds the random
    generator from the new config's ``seed``.
    """

    def __init__(self, *, upstream: str, config: FaultConfig | None = None) -> None:
        self._upstream = upstream.rstrip("/")
        self._config = config if config is not None else FaultConfig()
        self._rng = random.Random(self._config.seed)
        self._peers: set[object] = set()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._port: int | None = None
        self.stats = FaultStats()
        self.last_request: tuple[dict[str, str], bytes] | None = None
        """Headers and body of the latest call received, as the client sent them."""

    @property
    def config(self) -> FaultConfig:
        """The faults currently injected."""
        return self._config

    @config.setter
    def config(self, config: FaultConfig) -> None:
        self._config = config
        self._rng = random.Random(config.seed)

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``, to hand to the client instead of the upstream."""
        if self._port is None:
            raise RuntimeError("the proxy is not running; use `async with FaultProxy(...)`")
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> Self:
        """Bind a free loopback port and start serving."""
        if self._runner is not None:
            return self
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        self._runner = runner
        await web.SockSite(runner, sock).start()
        return self

    async def aclose(self) -> None:
        """Stop serving and close the upstream connections."""
        with anyio.CancelScope(shield=True):
            if self._runner is not None:
                await self._runner.cleanup()
            if self._client is not None:
                await self._client.close()
        self._runner = None
        self._client = None
        self._port = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
        self.stats.calls += 1
        self.stats.operations[operation] += 1
        self.last_request = (dict(request.headers), body)
        if request.transport is not None:
            self._peers.add(request.transport.get_extra_info("peername"))
            self.stats.connections = len(self._peers)
        config = self._config
        if operation not in config.operations:
            return await self._forward(request, body)
        # Every roll is drawn on every call so one seed gives one fault sequence.
        reset, error, throttle, partial = (self._rng.random() for _ in range(4))
        if reset < config.reset_share:
            self.stats.resets += 1
            return self._reset(request)
        if error < config.error_share:
            self.stats.errors += 1
            return _error(500, "InternalServerError", "fault proxy: injected internal error")
        if throttle < config.throttle_share:
            self.stats.throttled += 1
            return _error(
                400,
                "ProvisionedThroughputExceededException",
                "fault proxy: injected throttling; reduce request rate",
            )
        if operation == _BATCH_WRITE:
            return await self._batch_write(request, body, partial < config.partial_share)
        if operation == _BATCH_GET:
            return await self._batch_get(request, body, partial < config.partial_share)
        response = await self._forward(request, body)
        # Drawn only when asked for, so the seeds of configs without it keep their sequences.
        if config.corrupt_share and self._rng.random() < config.corrupt_share:
            return self._corrupted(response)
        return response

    def _corrupted(self, response: web.Response) -> web.Response:
        body = response.body
        if response.status != 200 or not isinstance(body, bytes) or not body:
            return response
        self.stats.corrupted += 1
        damaged = body[:-1] + bytes([body[-1] ^ 0x01])
        return web.Response(status=response.status, body=damaged, headers=response.headers)

    def _held_back(self, target: Mapping[str, Any], partial: bool) -> bool:
        config = self._config
        if config.always_unprocessed:
            return True
        if config.never_process is not None and config.never_process(target):
            return True
        return partial and self._rng.random() < 0.5

    async def _batch_write(
        self, request: web.Request, body: bytes, partial: bool
    ) -> web.StreamResponse:
        payload = json.loads(body)
        kept: dict[str, list[Any]] = {}
        left: dict[str, list[Any]] = {}
        for table, writes in payload["RequestItems"].items():
            for write in writes:
                chosen = left if self._held_back(_write_target(write), partial) else kept
                chosen.setdefault(table, []).append(write)
        if not left:
            return await self._forward(request, body)
        self._count_unprocessed(sum(len(writes) for writes in left.values()))
        if not kept:
            self.stats.withheld += 1
            return _json_response(200, {"UnprocessedItems": left})
        response = await self._forward(request, _dump({**payload, "RequestItems": kept}))
        answer = _decoded(response)
        if answer is None:
            return response
        unprocessed = answer.setdefault("UnprocessedItems", {})
        for table, writes in left.items():
            unprocessed.setdefault(table, []).extend(writes)
        return _json_response(200, answer, response.headers)

    async def _batch_get(
        self, request: web.Request, body: bytes, partial: bool
    ) -> web.StreamResponse:
        payload = json.loads(body)
        kept: dict[str, dict[str, Any]] = {}
        left: dict[str, dict[str, Any]] = {}
        for table, spec in payload["RequestItems"].items():
            for key in spec["Keys"]:
                chosen = left if self._held_back(key, partial) else kept
                # Unprocessed keys keep the table's projection and consistency, as DynamoDB's do.
                chosen.setdefault(table, {**spec, "Keys": []})["Keys"].append(key)
        if not left:
            return await self._forward(request, body)
        self._count_unprocessed(sum(len(spec["Keys"]) for spec in left.values()))
        if not kept:
            self.stats.withheld += 1
            empty: dict[str, list[Any]] = {table: [] for table in payload["RequestItems"]}
            return _json_response(200, {"Responses": empty, "UnprocessedKeys": left})
        response = await self._forward(request, _dump({**payload, "RequestItems": kept}))
        answer = _decoded(response)
        if answer is None:
            return response
        unprocessed = answer.setdefault("UnprocessedKeys", {})
        for table, spec in left.items():
            if table in unprocessed:
                unprocessed[table]["Keys"].extend(spec["Keys"])
            else:
                unprocessed[table] = spec
        return _json_response(200, answer, response.headers)

    def _count_unprocessed(self, count: int) -> None:
        self.stats.partial += 1
        self.stats.unprocessed += count

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        assert self._client is not None, "started in start()"
        headers = CIMultiDict(
            (name, value)
            for name, value in request.headers.items()
            if name.lower() not in _REQUEST_DROP
        )
        # Identity encoding keeps the answer parseable for merging unprocessed requests.
        headers["Accept-Encoding"] = "identity"
        try:
            async with self._client.request(
                request.method, self._upstream + request.path_qs, headers=headers, data=body
            ) as upstream:
                data = await upstream.read()
                status = upstream.status
                answer_headers = CIMultiDict(
                    (name, value)
                    for name, value in upstream.headers.items()
                    if name.lower() not in _RESPONSE_DROP
                )
        except (aiohttp.ClientError, OSError) as exc:
            return _error(502, "FaultProxyUpstreamError", f"fault proxy: upstream failed: {exc}")
        self.stats.forwarded += 1
        return web.Response(status=status, body=data, headers=answer_headers)

    @staticmethod
    def _reset(request: web.Request) -> web.Response:
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # Linger 0 turns the close into a TCP RST: the client sees a reset connection.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        # aiohttp cannot write this on the aborted transport and drops it quietly.
        return web.Response(status=500)


def _write_target(write: Mapping[str, Any]) -> Mapping[str, Any]:
    if "PutRequest" in write:
        item: Mapping[str, Any] = write["PutRequest"]["Item"]
        return item
    key: Mapping[str, Any] = write["DeleteRequest"]["Key"]
    return key


def _dump(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _decoded(response: web.Response) -> dict[str, Any] | None:
    """The JSON object of a successful upstream answer, or None to pass the answer through."""
    if response.status != 200 or not isinstance(response.body, bytes):
        return None
    answer = json.loads(response.body)
    return answer if isinstance(answer, dict) else None


def _json_response(
    status: int, payload: Mapping[str, Any], base_headers: Mapping[str, str] | None = None
) -> web.Response:
    body = _dump(payload)
    headers = CIMultiDict(base_headers or {})
    headers["Content-Type"] = _JSON
    headers.setdefault("x-amzn-RequestId", uuid.uuid4().hex)
    # botocore checks DynamoDB answers against this CRC32; a rewritten body needs a new one.
    headers["x-amz-crc32"] = str(zlib.crc32(body))
    for name in ("Content-Length", "Content-Encoding"):
        headers.popall(name, None)
    return web.Response(status=status, body=body, headers=headers)


def _error(status: int, code: str, message: str) -> web.Response:
    return _json_response(status, {"__type": _ERROR_PREFIX + code, "message": message})
