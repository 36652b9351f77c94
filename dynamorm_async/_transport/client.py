"""The default transport: one aiobotocore DynamoDB client, and the lean path for item operations.

botocore normally walks every AttributeValue of every request and response through its shape
model, which costs more CPU than the JSON decode itself. The client here is built from the same
service model with the AttributeValue shapes (and the maps and lists made of them) declared as
*document* shapes, handed to botocore through the session's data loader. Item JSON then passes
through untouched in both directions, while signing, retries, endpoints and credentials stay
botocore's. Binary values therefore travel as base64 text; the marshalling layer handles that.

The item operations (GetItem ... TransactWriteItems) go through :class:`DataPlane` instead,
which sends them without the per-call request pipeline but with the client's endpoint,
credentials and retry handlers; table operations and the ``client`` escape hatch use the
client itself.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any, Self

import aiohttp
import anyio
from aiobotocore.config import AioConfig
from aiobotocore.credentials import AioCredentials
from aiobotocore.session import AioSession
from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError
from botocore.loaders import Loader

from .._errors import DynamormError, ThrottledError, map_client_error
from .dataplane import DataPlane
from .http import resolve_verify
from .protocol import (
    ITEM_OPERATIONS,
    READ_OPERATIONS,
    ClientOptions,
    Key,
    Payload,
    plain_payload,
    retry_attempts,
)

__all__ = ["AiobotocoreTransport", "document_shape_model"]

_SERVICE = "dynamodb"
_log = logging.getLogger("dynamorm_async")
_DOCUMENT_SHAPE: dict[str, Any] = {"type": "structure", "members": {}, "document": True}
_PATCHED_MODELS: dict[str | None, dict[str, Any]] = {}


def document_shape_model(model: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of DynamoDB's service model whose attribute values are document shapes.

    ``AttributeValue`` becomes a document; so does every map whose values, and every list whose
    members, are (transitively) documents, which covers items, keys, item lists and the
    expression value map.
    """
    patched = copy.deepcopy(dict(model))
    shapes: dict[str, Any] = patched["shapes"]
    documents = {"AttributeValue"}
    changed = True
    while changed:
        changed = False
        for name, shape in shapes.items():
            if name in documents:
                continue
            kind = shape.get("type")
            inner = (
                shape["value"]["shape"]
                if kind == "map"
                else shape["member"]["shape"]
                if kind == "list"
                else None
            )
            if inner in documents:
                documents.add(name)
                changed = True
    for name in documents:
        shapes[name] = dict(_DOCUMENT_SHAPE)
    return patched


class _DocumentShapeLoader(Loader):  # type: ignore[misc]
    """A botocore data loader that serves the document-shape DynamoDB model."""

    def load_service_model(
        self, service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:
        if service_name != _SERVICE or type_name != "service-2":
            return super().load_service_model(service_name, type_name, api_version)
        # Every Session builds a fresh botocore session; the patched model is shared so that
        # opening a Session costs no second JSON load and deep copy.
        patched = _PATCHED_MODELS.get(api_version)
        if patched is None:
            model = super().load_service_model(service_name, type_name, api_version)
            patched = _PATCHED_MODELS[api_version] = document_shape_model(model)
        return patched


class AiobotocoreTransport:
    """The default Transport: one aiobotocore DynamoDB client built from :class:`ClientOptions`.

    Item operations go through the client's lean data plane (its endpoint, credentials and
    retry handlers without its per-call pipeline, over a connection pool of their own sized
    like the client's), everything else through the client. ``async with
    AiobotocoreTransport(options) as transport`` works on its own too; a Session given
    ``transport=`` opens and closes it. ``client`` is the raw aiobotocore client while open (an
    escape hatch for operations the library does not wrap; item JSON stays in wire format).
    """

    def __init__(self, options: ClientOptions | None = None) -> None:
        self._options = options = options or ClientOptions()
        self._config = AioConfig(
            retries={"mode": options.retry_mode, "max_attempts": options.max_attempts},
            max_pool_connections=options.max_pool_connections,
            connect_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
            # Requests are built by this library's typed builders; botocore's validator would
            # re-walk every item the document shapes exist to skip.
            parameter_validation=False,
        )
        self._client: Any = None
        self._client_cm: Any = None
        self._data_plane: DataPlane | None = None
        self._methods: dict[str, Callable[..., Any]] = {}

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Create the client and the data plane's pool (idempotent)."""
        if self._client is not None:
            return
        options = self._options
        session = AioSession(profile=options.profile_name)
        default = session.get_component("data_loader")
        session.register_component(
            "data_loader",
            _DocumentShapeLoader(
                extra_search_paths=list(default.search_paths),
                include_default_search_paths=False,
            ),
        )
        given = {
            "endpoint_url": options.endpoint_url,
            "region_name": options.region_name,
            "aws_access_key_id": options.aws_access_key_id,
            "aws_secret_access_key": options.aws_secret_access_key,
            "aws_session_token": options.aws_session_token,
        }
        kwargs = {name: value for name, value in given.items() if value is not None}
        self._client_cm = session.create_client(_SERVICE, config=self._config, **kwargs)
        self._client = await self._client_cm.__aenter__()
        try:
            self._data_plane = await DataPlane.open(
                self._client,
                await self._credentials(session),
                user_agent=session.get_component("user_agent_creator")
                .with_client_config(self._client.meta.config)
                .to_string(),
                verify=resolve_verify(session.get_config_variable("ca_bundle")),
            )
        except BaseException:
            await self.aclose()
            raise

    async def _credentials(self, session: AioSession) -> Any:
        """The credentials the client signs with: the explicit keys, or the session's chain
        (the same refreshable object the client holds)."""
        options = self._options
        if options.aws_access_key_id is not None and options.aws_secret_access_key is not None:
            return AioCredentials(
                options.aws_access_key_id,
                options.aws_secret_access_key,
                options.aws_session_token,
            )
        return await session.get_credentials()

    async def aclose(self) -> None:
        """Close the client and its connection pools (shielded from cancellation)."""
        cm, self._client_cm, self._client = self._client_cm, None, None
        plane, self._data_plane = self._data_plane, None
        self._methods.clear()
        with anyio.CancelScope(shield=True):
            if plane is not None:
                await plane.aclose()
            if cm is not None:
                await cm.__aexit__(None, None, None)

    @property
    def client(self) -> Any:
        """The raw aiobotocore client (escape hatch; item JSON stays in wire format)."""
        if self._client is None:
            raise DynamormError(
                "the transport is not open: use 'async with Session(...) as db' "
                "(or 'async with AiobotocoreTransport(...)')"
            )
        return self._client

    @property
    def defers_items(self) -> bool:
        """True: Query and Scan answers sent on the lean path keep ``Items`` undecoded when
        asked (``raw_items``; see :class:`~.protocol.Transport`)."""
        return True

    @property
    def takes_raw_json(self) -> bool:
        """True: payloads may hold encoded JSON texts (``raw_json``; see
        :class:`~.protocol.Transport`), sent as they are on the lean path."""
        return True

    async def call(
        self,
        operation: str,
        payload: Payload,
        *,
        table: str | None = None,
        key: Key | None = None,
        raw_items: bool = False,
        raw_json: bool = False,
    ) -> Payload:
        """Send one DynamoDB operation (``"GetItem"``...) and map any failure to our errors."""
        try:
            response = await self._send(operation, payload, table, raw_items, raw_json)
        except (ClientError, BotoCoreError, aiohttp.ClientError, OSError) as exc:
            error = map_client_error(exc, operation=operation, table=table, key=key)
            if isinstance(error, ThrottledError):
                # DEBUG: the caller gets the error, and batch executors log their own retries.
                retries = retry_attempts(getattr(exc, "response", None))
                _log.debug(
                    "%s on %s: throughput exceeded after %d retries", operation, table, retries
                )
            raise error from exc
        retries = retry_attempts(response)
        if retries:
            _log.debug("%s on %s succeeded after %d retries", operation, table, retries)
        return response

    async def _send(
        self, operation: str, payload: Payload, table: str | None, raw_items: bool, raw_json: bool
    ) -> Payload:
        plane = self._data_plane
        if plane is not None and operation in ITEM_OPERATIONS:
            route = await plane.route(operation, table, payload)
            if route is not None:
                raw_items = raw_items and operation in READ_OPERATIONS
                return await plane.call(route, payload, raw_items=raw_items)
        if raw_json:
            # botocore serializes from plain values.
            payload = plain_payload(payload)
        method = self._methods.get(operation)
        if method is None:
            method = getattr(self.client, xform_name(operation))
            self._methods[operation] = method
        response: Payload = await method(**payload)
        return response
