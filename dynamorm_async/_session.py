"""The Session: one transport, table operations, items, and entry points to every executor.

Concurrency contract: one Session per process, shared by every request handler and task. All
methods are safe to call concurrently; fan-out work (parallel-scan segments, batch chunks) is
bounded by ``max_concurrency``, which also sizes the HTTP connection pool.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Self, TypedDict, TypeVar, Unpack, cast, overload

import anyio
import anyio.lowlevel
import msgspec

from ._batch.get import batch_get
from ._batch.progress import BatchProgress, BatchResult
from ._batch.retry import RetryPolicy
from ._batch.run import batch_delete, batch_put
from ._batch.writer import BatchWriter
from ._checks import whole_number
from ._errors import ValidationError, map_setup_error
from ._expressions.core import Condition, optional_condition
from ._model.model import Model, model_info
from ._read import item
from ._read.builders import Query, Scan
from ._read.cursor import CursorCodec
from ._spans import NO_SPAN, FanOutSpan, TracerProvider
from ._transport.client import AiobotocoreTransport
from ._transport.observed import ObservedTransport, RequestHook
from ._transport.protocol import CallOptions, ClientOptions, Payload, Transport, send
from ._write import items, tables
from ._write.semantics import resolve_target
from ._write.table_diff import SyncResult, TableDiff
from ._write.table_requests import TableOptions, read_table_options
from ._write.transaction import Transaction, transact_get
from ._write.update import UpdateBuilder, start_update

if TYPE_CHECKING:
    from ._transport.traced import Tracing

__all__ = ["Session", "SessionOptions", "session_options_from_env"]

M = TypeVar("M", bound=Model)
S = TypeVar("S", bound=msgspec.Struct)
Keys = Iterable[Model | Mapping[str, object]]
"""Keys of a batch read: instances, or mappings of key field names to values."""


class SessionOptions(TypedDict, total=False):
    """The keyword arguments of :class:`Session`, e.g. for ``Session.from_env(**overrides)``."""

    endpoint_url: str | None
    region_name: str | None
    aws_access_key_id: str | None
    aws_secret_access_key: str | None
    aws_session_token: str | None
    profile_name: str | None
    table_prefix: str
    max_concurrency: int
    cursor_secret: bytes | str | None
    retry_mode: str | None
    max_attempts: int | None
    batch_retry: RetryPolicy | None
    connect_timeout: float | None
    read_timeout: float | None
    on_request: RequestHook | None
    transport: Transport | None
    tracer_provider: TracerProvider | None


# Session keyword <- environment variables, the first one set wins.
_ENVIRONMENT: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("endpoint_url", ("DYNAMODB_ENDPOINT",)),
    ("region_name", ("AWS_REGION", "AWS_DEFAULT_REGION")),
    ("table_prefix", ("DYNAMORM_TABLE_PREFIX",)),
    ("cursor_secret", ("DYNAMORM_CURSOR_SECRET",)),
)


def session_options_from_env(overrides: SessionOptions) -> SessionOptions:
    """The options :meth:`Session.from_env` opens with: the environment's, then ``overrides``.

    A variable set to a blank string counts as unset; values are stripped of surrounding
    whitespace. A keyword in ``overrides`` wins even when it is None.
    """
    found: dict[str, Any] = {}
    for keyword, names in _ENVIRONMENT:
        values = (os.environ.get(name, "").strip() for name in names)
        value = next((value for value in values if value), None)
        if value is not None:
            found[keyword] = value
    return cast(SessionOptions, {**found, **overrides})


def _chosen_transport(
    transport: Transport | None, max_concurrency: int, client_keywords: Mapping[str, Any]
) -> Transport:
    """The injected transport, or the default one built from the Session's client keywords."""
    given = {name: value for name, value in client_keywords.items() if value is not None}
    if transport is None:
        # The pool holds a connection for every call the limiter lets through, no more.
        return AiobotocoreTransport(ClientOptions(max_pool_connections=max_concurrency, **given))
    if given:
        raise ValidationError(
            f"Session(transport=...) takes no client options ({', '.join(sorted(given))}): "
            "the transport brings its own client; configure it there, e.g. "
            "AiobotocoreTransport(ClientOptions(...))"
        )
    if not isinstance(transport, Transport):
        raise ValidationError(
            f"transport must have async open(), aclose() and call(), got {type(transport).__name__}"
        )
    return transport


def _tracing_for(provider: TracerProvider | None) -> Tracing | None:
    """The Session's tracing: through ``provider``, else the global provider when one is set."""
    # Only a program that imported opentelemetry can have set a global provider: without one
    # given here, nothing is imported and the Session sends untraced.
    if provider is None and "opentelemetry.trace" not in sys.modules:
        return None
    try:
        from ._transport.traced import tracing_for
    except ImportError as exc:
        if provider is None:
            return None
        raise ValidationError(
            "tracer_provider needs OpenTelemetry's API: pip install 'dynamorm-async[otel]'"
        ) from exc
    return tracing_for(provider)


class Session:
    """An open connection to DynamoDB: ``async with Session(...) as db``.

    Requests go through a transport: by default an :class:`AiobotocoreTransport` built from the
    client keywords (``endpoint_url`` ... ``read_timeout``, defaults in :class:`ClientOptions`;
    without ``endpoint_url`` the normal AWS credential and region chain applies), or any
    :class:`Transport` given as ``transport=``, which brings its own client configuration.
    Retries of failed calls use botocore's retry modes (``retry_mode``; ``max_attempts`` is
    botocore's count of retries after the first attempt, so 0 disables them); retries of
    unprocessed batch items use ``batch_retry``. ``cursor_secret`` signs pagination cursors;
    without one a random per-Session secret is used, so cursors work only within the process.
    ``on_request`` is called after every DynamoDB call; ``tracer_provider`` (an OpenTelemetry
    TracerProvider, else the global one as set when the Session opens) records a span per call
    and per fan-out (see the observability guide).
    """

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        profile_name: str | None = None,
        table_prefix: str = "",
        max_concurrency: int = 16,
        cursor_secret: bytes | str | None = None,
        retry_mode: str | None = None,
        max_attempts: int | None = None,
        batch_retry: RetryPolicy | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        on_request: RequestHook | None = None,
        transport: Transport | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        whole_number("max_concurrency", max_concurrency)
        if isinstance(cursor_secret, str):
            cursor_secret = cursor_secret.encode()
        self._table_prefix = table_prefix
        self._max_concurrency = max_concurrency
        # Taken by call() alone, around one request: nothing can hold a token while waiting
        # for other work, so fan-outs of any depth cannot deadlock on it.
        self._limiter = anyio.CapacityLimiter(max_concurrency)
        self._cursor_codec = CursorCodec(cursor_secret or secrets.token_bytes(32))
        self._batch_retry = batch_retry or RetryPolicy()
        client_keywords = {
            "endpoint_url": endpoint_url,
            "region_name": region_name,
            "aws_access_key_id": aws_access_key_id,
            "aws_secret_access_key": aws_secret_access_key,
            "aws_session_token": aws_session_token,
            "profile_name": profile_name,
            "retry_mode": retry_mode,
            "max_attempts": max_attempts,
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
        }
        chosen = _chosen_transport(transport, max_concurrency, client_keywords)
        # Untraced calls go straight to this transport; tracing wraps it when the Session opens.
        self._untraced = chosen if on_request is None else ObservedTransport(chosen, on_request)
        self._transport = self._untraced
        self._tracer_provider = tracer_provider
        self._tracing = None if tracer_provider is None else _tracing_for(tracer_provider)
        # What a Session in another process needs to reach the same tables the same way.
        given = {**client_keywords, "cursor_secret": cursor_secret, "batch_retry": batch_retry}
        self._worker_options = cast(
            SessionOptions,
            {
                "table_prefix": table_prefix,
                "max_concurrency": max_concurrency,
                **{name: value for name, value in given.items() if value is not None},
            },
        )
        self._injected_transport = transport is not None

    @property
    def table_prefix(self) -> str:
        """Prepended to every model's table name."""
        return self._table_prefix

    @property
    def max_concurrency(self) -> int:
        """DynamoDB calls in flight at once (and the connection pool size)."""
        return self._max_concurrency

    @property
    def batch_retry(self) -> RetryPolicy:
        """How batch calls retry unprocessed items, throttling and 5xx answers."""
        return self._batch_retry

    @property
    def cursor_codec(self) -> CursorCodec:
        """Signs and verifies this Session's pagination cursors."""
        return self._cursor_codec

    def worker_options(self) -> SessionOptions:
        """The options a Session in another process opens with to work like this one (a
        worker of a distributed run): the keywords this one was given, without ``on_request``,
        which belongs to this process. Credentials travel only when they were given here;
        otherwise each worker finds its own. ValidationError for a Session given a
        ``transport``, which cannot be rebuilt elsewhere."""
        if self._injected_transport:
            raise ValidationError(
                "this Session was given a transport=, which cannot be rebuilt in another "
                "process: give the runner the worker Session's options explicitly, e.g. "
                "DaskRunner(client, options={...})"
            )
        return cast(SessionOptions, dict(self._worker_options))

    # --- lifecycle ---------------------------------------------------------------------

    @classmethod
    def from_env(cls, **overrides: Unpack[SessionOptions]) -> Self:
        """A Session configured from the environment; keyword arguments given here win.

        ``DYNAMODB_ENDPOINT`` (unset: AWS), ``AWS_REGION`` or ``AWS_DEFAULT_REGION``,
        ``DYNAMORM_TABLE_PREFIX`` and ``DYNAMORM_CURSOR_SECRET`` (every process of a service
        needs the same one, or a cursor from one fails on another). Credentials and anything
        unset come from the normal AWS chain.
        """
        return cls(**session_options_from_env(overrides))

    async def __aenter__(self) -> Self:
        if self._tracer_provider is None:
            self._tracing = _tracing_for(None)
        tracing = self._tracing
        self._transport = self._untraced if tracing is None else tracing.transport(self._untraced)
        try:
            await self._transport.open()
        except Exception as exc:
            error = map_setup_error(exc)
            if error is None:
                raise
            raise error from exc
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the transport; shielded so cancellation cannot leak the connection pool."""
        with anyio.CancelScope(shield=True):
            await self._transport.aclose()

    async def call(
        self, operation: str, payload: Payload, **options: Unpack[CallOptions]
    ) -> Payload:
        """Send one raw DynamoDB operation through the transport (item JSON in wire format).

        At most ``max_concurrency`` calls of this Session are in flight; the others wait here.
        ``options`` are the transport's (:class:`CallOptions`): error context and, for a
        transport that offers it, Query and Scan ``Items`` left undecoded (``raw_items``).
        """
        limiter = self._limiter
        # A free token is taken without the extra trip through the event loop that
        # ``async with limiter`` makes; a cancelled caller still never starts a request.
        await anyio.lowlevel.checkpoint_if_cancelled()
        try:
            limiter.acquire_nowait()
        except anyio.WouldBlock:
            await limiter.acquire()
        try:
            return await send(self._transport, operation, payload, options)
        finally:
            limiter.release()

    def fan_out_span(
        self, operation: str, models: Sequence[type[Model]] = (), *, segments: int = 1
    ) -> FanOutSpan:
        """The tracing span of a fan-out (``Scan Order``); a no-op one when tracing is off."""
        tracing = self._tracing
        if tracing is None:
            return NO_SPAN
        names = [model.__name__ for model in models]
        tables = [self.table_name(model) for model in models]
        return tracing.fan_out_span(operation, names, tables, segments)

    # --- tables --------------------------------------------------------------------------

    def table_name(self, model: type[Model]) -> str:
        """The full table name of a model, with the Session's prefix."""
        return self._table_prefix + model_info(model).require_table()

    async def create_table(
        self, model: type[Model], **options: Unpack[TableOptions]
    ) -> dict[str, Any]:
        """Create the model's table with its indexes and TTL (see :class:`TableOptions`);
        TableError if it exists."""
        billing, wait = read_table_options(options)
        return await tables.create_table(self, model, billing, wait=wait)

    async def ensure_table(self, model: type[Model], **options: Unpack[TableOptions]) -> bool:
        """Create the table when absent, as :meth:`create_table` does; True when created.

        A table that exists is compared with the model (:meth:`diff_table`): a different key
        raises TableError, other differences are logged at WARNING (:meth:`sync_table` adds
        what is missing).
        """
        billing, wait = read_table_options(options)
        return await tables.ensure_table(self, model, billing, wait=wait)

    async def diff_table(self, model: type[Model]) -> TableDiff:
        """How the model's table differs from the model: indexes (keys, key types, projection)
        and TTL. TableError when the table is absent or its key differs."""
        return await tables.diff_table(self, model)

    async def sync_table(
        self, model: type[Model], *, drop_extra_indexes: bool = False, dry_run: bool = False
    ) -> SyncResult:
        """Add the model's missing global indexes and TTL to its table; returns what changed.

        Indexes are created one at a time, each waited for until ACTIVE. Nothing is dropped
        unless ``drop_extra_indexes=True`` (global indexes the model does not declare, deleted
        after the new ones are built). Changed indexes and a TTL on another attribute are left
        as they are, in ``result.remaining`` and logged at WARNING. ``dry_run=True`` returns
        the plan and changes nothing. TableError for a different key or a missing local index.
        """
        return await tables.sync_table(
            self, model, drop_extra_indexes=drop_extra_indexes, dry_run=dry_run
        )

    async def delete_table(self, model: type[Model] | str, *, wait: bool = True) -> None:
        """Delete a table (a model's, or a full table name); TableError if absent."""
        await tables.delete_table(self, self._full_name(model), wait=wait)

    async def describe_table(self, model: type[Model] | str) -> dict[str, Any]:
        """DescribeTable's ``Table`` description."""
        return await tables.describe_table(self, self._full_name(model))

    async def list_tables(self) -> list[str]:
        """Names of the tables that start with this Session's ``table_prefix``."""
        return await tables.list_tables(self, self._table_prefix)

    def _full_name(self, model: type[Model] | str) -> str:
        return model if isinstance(model, str) else self.table_name(model)

    # --- items ---------------------------------------------------------------------------

    async def put(self, obj: M, *, condition: Condition | bool | None = None) -> M:
        """Write an instance (replacing any item with its key); returns it with its version
        and timestamps set (a frozen instance is not changed: the updated copy is returned).
        A ``condition`` or a stale ``Version`` raises ConditionFailed."""
        return await items.put(self, obj, optional_condition(condition))

    async def create(self, obj: M) -> M:
        """Write an instance only if no item has its key (ItemExists otherwise); returns it
        as :meth:`put` does."""
        return await items.put(self, obj, None, create=True)

    async def get(self, model: type[M], /, *, consistent: bool = False, **key: object) -> M:
        """Read one item by primary key; ItemNotFound when absent."""
        return await item.get(self, model, key, consistent=consistent)

    async def get_or_none(
        self, model: type[M], /, *, consistent: bool = False, **key: object
    ) -> M | None:
        """Read one item by primary key; None when absent."""
        return await item.get_or_none(self, model, key, consistent=consistent)

    @overload
    async def delete(
        self,
        target: Model,
        /,
        *,
        condition: Condition | bool | None = None,
        returning: Literal["NONE"] = "NONE",
    ) -> None: ...

    @overload
    async def delete(
        self,
        target: M,
        /,
        *,
        condition: Condition | bool | None = None,
        returning: Literal["ALL_OLD"],
    ) -> M | None: ...

    @overload
    async def delete(
        self,
        target: type[Model],
        /,
        *,
        condition: Condition | bool | None = None,
        returning: Literal["NONE"] = "NONE",
        **key: object,
    ) -> None: ...

    @overload
    async def delete(
        self,
        target: type[M],
        /,
        *,
        condition: Condition | bool | None = None,
        returning: Literal["ALL_OLD"],
        **key: object,
    ) -> M | None: ...

    async def delete(
        self,
        target: Model | type[Model],
        /,
        *,
        condition: Condition | bool | None = None,
        returning: Literal["NONE", "ALL_OLD"] = "NONE",
        **key: object,
    ) -> Model | None:
        """Delete an instance (with its version check) or the item under a key.

        ``returning="ALL_OLD"`` returns the deleted item as a model instance, or None when
        there was none (a service can answer 404 without a condition).
        """
        return await items.delete(
            self, resolve_target(target, key), optional_condition(condition), returning=returning
        )

    # --- executors -------------------------------------------------------------------------

    def query(self, model: type[M]) -> Query[M]:
        """Start a Query builder over the model's table (or one of its indexes)."""
        return Query(self, model)

    def scan(self, model: type[M]) -> Scan[M]:
        """Start a Scan builder; ``.segments(n)`` makes it a parallel scan."""
        return Scan(self, model)

    @overload
    def update(self, target: M, /) -> UpdateBuilder[M]: ...

    @overload
    def update(self, target: type[M], /, **key: object) -> UpdateBuilder[M]: ...

    def update(self, target: M | type[M], /, **key: object) -> UpdateBuilder[M]:
        """Start an UpdateItem builder for a key or an instance (with its version check)."""
        return start_update(self, target, key)

    def transaction(self) -> Transaction:
        """``async with db.transaction() as tx``: one TransactWriteItems on exit."""
        return Transaction(self)

    @overload
    async def transact_get(
        self, requests: Sequence[tuple[type[M], Mapping[str, object]]]
    ) -> list[M | None]: ...

    # mypy joins several model classes to their metaclass, so it infers no M for a mix of
    # models: only this second signature accepts one.
    @overload
    async def transact_get(  # type: ignore[overload-cannot-match]
        self, requests: Sequence[tuple[type[Model], Mapping[str, object]]]
    ) -> list[Model | None]: ...

    async def transact_get(
        self, requests: Sequence[tuple[type[M], Mapping[str, object]]]
    ) -> list[M | None]:
        """Read up to 100 items atomically, in order; None for keys without an item.

        Keys of one model give its instances; keys of several models give ``Model``
        instances to narrow with ``isinstance``.
        """
        return await transact_get(self, requests)

    @overload
    async def batch_get(
        self, model: type[M], keys: Keys, *, consistent: bool = ..., select: None = ...
    ) -> list[M]: ...

    @overload
    async def batch_get(
        self, model: type[Model], keys: Keys, *, consistent: bool = ..., select: type[S]
    ) -> list[S]: ...

    @overload
    async def batch_get(
        self, model: type[Model], keys: Keys, *, consistent: bool = ..., select: Sequence[object]
    ) -> list[dict[str, Any]]: ...

    async def batch_get(
        self,
        model: type[Model],
        keys: Keys,
        *,
        consistent: bool = False,
        select: type[msgspec.Struct] | Sequence[object] | None = None,
    ) -> list[Any]:
        """Read many items by key or instance (chunks of 100, concurrent); input order,
        missing left out.

        ``select`` reads only some attributes: a Struct type yields instances of it, attributes
        or field names yield dicts (see the batches guide).
        """
        return await batch_get(self, model, keys, consistent=consistent, select=select)

    async def batch_put(
        self, items: Iterable[Model], *, progress: BatchProgress | None = None
    ) -> BatchResult:
        """Write many items (chunks of 25, concurrent), retrying unprocessed items.

        ``progress`` (a BatchProgress) shows what was confirmed, even after a cancellation.
        """
        return await batch_put(self, items, progress=progress)

    async def batch_delete(
        self,
        model: type[Model],
        keys: Iterable[Model | Mapping[str, object]],
        *,
        progress: BatchProgress | None = None,
    ) -> BatchResult:
        """Delete many items by key or instance (chunks of 25, concurrent)."""
        return await batch_delete(self, model, keys, progress=progress)

    def batch_writer(self, *, progress: BatchProgress | None = None) -> BatchWriter:
        """``async with db.batch_writer() as w``: buffered puts and deletes."""
        return BatchWriter(self, progress=progress)
