"""The lean per-call path: DynamoDB's item operations sent without botocore's request pipeline.

Per call, botocore rebuilds the User-Agent, resolves the endpoint ruleset, emits some thirty
events, serializes through the shape model and signs from scratch; none of that changes
between calls of one client. Here the item operations (``ITEM_OPERATIONS``) take a short road
that keeps everything botocore decides:

* **Route** (once per operation and table): the endpoint comes from the client's own ruleset
  resolution, with the signing region and name it yields; the User-Agent is the client's.
* **Request**: the payload is encoded once with msgspec (botocore's idempotency tokens added
  first, as its ``before-parameter-build`` handler does), signed with SigV4 from a cached key
  (:mod:`.signing`) with credentials fetched per attempt from the client's provider, so
  refreshable credentials refresh as they do in botocore, and sent over :class:`HttpPool`.
* **Retries**: botocore's retry handlers, registered on the client for its retry mode, decide
  and time every retry (:mod:`.retries`): throttling codes, 5xx, connection errors, the CRC32 of
  DynamoDB's answers, ``max_attempts``, the standard mode's quota and the adaptive rate limiter.
* **Answers**: a success is decoded with msgspec and given botocore's ``ResponseMetadata``;
  an error is parsed by botocore's own JSON parser (modeled fields such as ``Item`` and
  ``CancellationReasons`` included) and raised as the client's own ``ClientError`` class.

Anything the route cannot reproduce exactly (a proxy, another signature version, endpoint
headers, no credentials) leaves that operation on the client.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import anyio
import msgspec
from aiobotocore.parsers import create_parser
from botocore.awsrequest import prepare_request_dict
from botocore.httpsession import ProxyConfiguration
from botocore.utils import get_environ_proxies
from yarl import URL

from .._random import process_random
from .answers import RawResponse, read_answer, settled, success_metadata
from .http import HttpPool
from .protocol import Payload
from .retries import Attempt, OperationEvents, RetryEvents, answer_of
from .signing import SigV4Signer, amz_date

__all__ = ["DataPlane", "Route"]

_log = logging.getLogger("dynamorm_async")
_botocore_log = logging.getLogger("botocore.endpoint")
_encode = msgspec.json.encode
_decode = msgspec.json.decode
# botocore's add_recursion_detection_header: inside Lambda, the trace id goes along.
_TRACE_SAFE = "-=;:+&[]{}\"',"
_ids = process_random()


def _invocation_id() -> str:
    """A version-4 UUID for ``amz-sdk-invocation-id``, as botocore sends with every call.

    The id only tells the service's retry telemetry which attempts belong together, so it is
    drawn from a generator of its own (seeded from the OS, untouched by ``random.seed``) rather
    than ``uuid.uuid4()``, which costs a system call per request.
    """
    bits = _ids.getrandbits(128) & ~(0xF000 << 64 | 0xC000 << 48) | (0x4000 << 64 | 0x8000 << 48)
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass(frozen=True, slots=True)
class Route:
    """Where and how one operation is sent: its URL, signer, target and event names."""

    url: str
    target_url: URL
    target: str
    signer: SigV4Signer
    events: OperationEvents
    idempotent_members: tuple[str, ...]


class DataPlane:
    """Sends the item operations of one open aiobotocore client (see the module docstring)."""

    def __init__(self, client: Any, credentials: Any, pool: HttpPool, user_agent: str) -> None:
        self._client = client
        self._credentials = credentials
        self._pool = pool
        self._events = RetryEvents(client.meta.events)
        self._service = client.meta.service_model
        self._service_id = self._service.service_id.hyphenize()
        self._parser = create_parser(self._service.resolved_protocol)
        self._static_headers = {"User-Agent": user_agent, "Accept-Encoding": "identity"}
        self._routes: dict[tuple[str, str | None], Route | None] = {}
        # Standard and legacy handlers never retry a settled answer (success, intact body), so
        # they are asked only about the others; adaptive's rate limiter measures every answer.
        self._ask_when_settled = client.meta.config.retries.get("mode") not in (
            "standard",
            "legacy",
        )

    @classmethod
    async def open(
        cls, client: Any, credentials: Any, *, user_agent: str, verify: bool | str
    ) -> DataPlane | None:
        """The data plane of an open client, with its connection pool open; None leaves every
        operation on the client: when it has no credentials to sign with, its endpoint cannot
        be resolved outside its pipeline or the pool cannot be set up (an unreadable CA
        bundle...), it raises botocore's own error for that on each call, as it always did."""
        if credentials is None or not hasattr(client, "_resolve_endpoint_ruleset"):
            return None
        config = client.meta.config
        pool = HttpPool(
            urlsplit(client.meta.endpoint_url).scheme,
            max_connections=config.max_pool_connections,
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            verify=verify,
        )
        try:
            await pool.open()
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            _log.debug("item operations are sent by the botocore client: %s", exc)
            return None
        return cls(client, credentials, pool, user_agent)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._pool.aclose()

    async def route(self, operation: str, table: str | None, payload: Payload) -> Route | None:
        """The operation's route for this table, resolved on first use; None leaves the
        operation on the client."""
        key = (operation, table)
        if key in self._routes:
            return self._routes[key]
        route = await self._resolve(operation, payload)
        self._routes[key] = route
        return route

    async def _resolve(self, operation: str, payload: Payload) -> Route | None:
        client = self._client
        model = self._service.operation_model(operation)
        context: dict[str, Any] = {
            "client_region": client.meta.region_name,
            "client_config": client.meta.config,
            "has_streaming_input": model.has_streaming_input,
            "auth_type": model.resolved_auth_type,
            "unsigned_payload": model.unsigned_payload,
            "auth_options": self._service.metadata.get("auth"),
        }
        # The same resolution the client runs on every call: endpoint ruleset, account-id
        # routing, FIPS and dual-stack settings, signing region from the auth schemes.
        endpoint, extra_headers, _ = await client._resolve_endpoint_ruleset(model, payload, context)
        signing = context.get("signing") or {}
        signature = context.get("auth_type") or client.meta.config.signature_version
        region = signing.get("region") or client.meta.region_name
        request: dict[str, Any] = {"url_path": "/", "query_string": "", "headers": {}}
        prepare_request_dict(request, endpoint_url=endpoint)
        url: str = request["url"]
        proxies = client.meta.config.proxies or get_environ_proxies(url)
        if (
            extra_headers
            or signature != "v4"
            or not region
            or ProxyConfiguration(proxies=proxies).proxy_url_for(url)
            or not url.startswith(self._pool.scheme + ":")
        ):
            _log.debug("%s is sent by the botocore client: its route needs the pipeline", operation)
            return None
        service_name = signing.get("signing_name") or self._service.signing_name
        return Route(
            url=url,
            target_url=URL(url, encoded=True),
            target=f"{self._service.metadata['targetPrefix']}.{operation}",
            signer=SigV4Signer(url, region, service_name),
            events=OperationEvents.of(self._service_id, model),
            idempotent_members=tuple(model.idempotent_members),
        )

    async def call(self, route: Route, payload: Payload, *, raw_items: bool = False) -> Payload:
        """Send one operation with botocore's retries; a failure raises what the client would
        (its ``ClientError`` classes, or botocore's connection errors). With ``raw_items`` a
        Query or Scan answer keeps its ``Items`` undecoded (``msgspec.Raw``)."""
        for name in route.idempotent_members:
            if name not in payload:
                payload = {**payload, name: str(uuid.uuid4())}
        body = _encode(payload)
        retries: dict[str, Any] = {"attempt": 1, "invocation-id": _invocation_id()}
        context: dict[str, Any] = {"client_config": self._client.meta.config, "retries": retries}
        attempts = 1
        while True:
            raw, attempt = await self._attempt(route, body, retries, raw_items)
            if raw is not None and not self._ask_when_settled and settled(raw):
                break
            request_dict = {
                "url_path": "/",
                "query_string": "",
                "method": "POST",
                "headers": {},
                "body": body,
                "url": route.url,
                "context": context,
            }
            delay = await self._events.needs_retry(route.events, attempts, attempt, request_dict)
            if delay is None:
                break
            _botocore_log.debug("Response received to retry, sleeping for %s seconds", delay)
            await anyio.sleep(delay)
            attempts += 1
            retries["attempt"] = attempts
        return await self._outcome(route, attempt, attempts, context)

    async def _outcome(
        self, route: Route, attempt: Attempt, attempts: int, context: dict[str, Any]
    ) -> Payload:
        """The last attempt's answer, or what botocore raises for it."""
        response, exception = attempt
        if response is None:
            assert exception is not None, "an attempt has a response or an exception"
            raise exception
        http, parsed = response
        parsed["ResponseMetadata"]["RetryAttempts"] = attempts - 1
        await self._events.after_call(route.events, http, parsed, context)
        if http.status_code >= 300:
            code = parsed.get("Error", {}).get("Code")
            raise self._client.exceptions.from_code(code)(parsed, route.events.model.name)
        return parsed

    async def _attempt(
        self, route: Route, body: bytes, retries: dict[str, Any], raw_items: bool
    ) -> tuple[RawResponse | None, Attempt]:
        """One request: the answer (None when there is none) and the attempt as botocore's
        handlers see it."""
        # Credentials and signing failures propagate, as they do from botocore's signer.
        credentials = await self._credentials.get_frozen_credentials()
        headers = route.signer.headers(credentials, route.target, body, amz_date())
        headers.update(self._static_headers)
        headers["amz-sdk-invocation-id"] = retries["invocation-id"]
        headers["amz-sdk-request"] = "; ".join(
            f"{key}={retries[key]}" for key in ("attempt", "max") if key in retries
        )
        trace_id = os.environ.get("_X_AMZN_TRACE_ID")
        if trace_id and "AWS_LAMBDA_FUNCTION_NAME" in os.environ:
            headers["X-Amzn-Trace-Id"] = quote(trace_id, safe=_TRACE_SAFE)
        try:
            raw = await self._events.before_send(route.events, route.url, headers, body)
            if raw is None:
                raw = await self._pool.post(route.target_url, headers, body)
        except Exception as exc:
            _botocore_log.debug("Exception received when sending HTTP request.", exc_info=True)
            return None, (None, exc)
        parsed = await self._parsed(route, raw, raw_items)
        return raw, ((answer_of(route.url, raw), parsed), None)

    async def _parsed(self, route: Route, raw: RawResponse, raw_items: bool) -> dict[str, Any]:
        """botocore's parse of an answer: msgspec for a JSON object answered with success
        (``Items`` left undecoded with ``raw_items``), botocore's parser for errors and
        anything else."""
        if raw.status < 300:
            try:
                parsed = read_answer(raw.body) if raw_items else _decode(raw.body)
            except msgspec.DecodeError:
                parsed = None
            if isinstance(parsed, dict):
                parsed["ResponseMetadata"] = success_metadata(raw)
                return parsed
        return await self._botocore_parsed(route, raw)

    async def _botocore_parsed(self, route: Route, raw: RawResponse) -> dict[str, Any]:
        model = route.events.model
        response_dict = {
            "headers": raw.headers,
            "status_code": raw.status,
            "body": raw.body,
            "context": {"operation_name": model.name},
        }
        parsed: dict[str, Any] = await self._parser.parse(response_dict, model.output_shape)
        code = parsed.get("Error", {}).get("Code") if raw.status >= 300 else None
        shape = self._service.shape_for_error_code(code) if code else None
        if shape is not None:
            # The modeled error's own fields (Item, CancellationReasons...), as the endpoint
            # adds them.
            parsed.update(await self._parser.parse(response_dict, shape))
        return parsed
