"""Batch executors: BatchGetItem and BatchWriteItem in concurrent chunks, with nothing lost.

Every batch call marshals and validates all of its requests before the first one is sent
(a bad item raises before any write), splits them into chunks (25 writes or 100 keys, and
16 MB), and runs the chunks on at most ``max_concurrency`` worker tasks, each DynamoDB call
under the Session's limiter. A chunk re-sends only what DynamoDB left unprocessed, and re-sends
a whole call that was throttled, failed with a 5xx or lost its connection, after a full-jitter
backoff drawn from ``Session.batch_retry`` (one budget of attempts and time per chunk). What is
still unprocessed when a chunk's budget runs out is reported, never dropped:
``BatchWriteError.unprocessed`` / ``BatchGetError.unprocessed`` hold exactly those items or keys.

Decisions, stated once here and in each entry point:

- **Versions.** BatchWriteItem takes no conditions, so a batch put cannot check a ``Version``:
  it is an unconditional overwrite (last writer wins). It still stamps ``CreatedAt`` (when
  unset) and ``UpdatedAt`` and bumps the version by one, so what is stored matches what a
  single ``put`` would store, and a later conditional ``put`` of the same instance works. The
  caller's instances get the new values once DynamoDB confirmed them (frozen models cannot be
  changed in place and keep their old values; re-read them). Batch deletes of instances do
  not check versions either.
- **Duplicate keys.** DynamoDB rejects a batch naming one key twice. ``batch_put`` raises
  ValidationError naming the key before sending anything (two different items for one key is
  almost always a bug); ``batch_delete`` sends each key once and reports the first object
  passed for it; ``batch_get`` reads each key once and returns its item once, at the key's
  first position; the batch writer lets the last write to a key win.
- **Failures.** A chunk whose call DynamoDB rejects outright (validation, missing table) is
  not retried: its requests join ``unprocessed`` with that error as the BatchWriteError's
  ``__cause__`` while the other chunks go on. After a lost connection a chunk's requests may
  have been applied; puts and deletes are idempotent, so re-sending them is safe.
- **Cancellation.** Cancelling a batch call cancels its chunk tasks; none is left running.
  Pass a :class:`BatchProgress` as ``progress=`` to learn afterwards which requests DynamoDB
  confirmed (``progress.processed_items``); those in flight at the cancellation may or may
  not have been applied.

Retries and unprocessed counts are logged at DEBUG, throttling and give-ups at WARNING, on the
``dynamorm_async`` logger.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, overload

import anyio
import msgspec
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream

from .._errors import (
    BatchGetError,
    BatchWriteError,
    DynamoDBError,
    DynamormError,
    ThrottledError,
    ValidationError,
)
from .._expressions.core import AttributePath, Placeholders, projection_expression
from .._model.model import Model, ModelInfo, model_info
from .._read.projection import DictDecoder, StructDecoder, parse_projection, projected_paths
from .._wire.taggers import Item
from .._write.semantics import prepare_write
from .plan import (
    MAX_GET_KEYS,
    MAX_REQUEST_BYTES,
    MAX_WRITE_REQUESTS,
    BatchProgress,
    BatchResult,
    Chunker,
    GetKey,
    WriteRequest,
    chunked,
    dedupe,
    delete_entry,
    entry_size,
    get_payload,
    key_fingerprint,
    put_entry,
    put_entry_size,
    split_get_answer,
    split_write_answer,
    write_payload,
)
from .retry import is_retryable_error_code

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = [
    "BatchProgress",
    "BatchResult",
    "BatchWriter",
    "batch_delete",
    "batch_get",
    "batch_put",
    "delete_keys",
]

logger = logging.getLogger("dynamorm_async")

M = TypeVar("M", bound=Model)
S = TypeVar("S", bound=msgspec.Struct)
R = TypeVar("R", WriteRequest, GetKey)

Selection = Sequence[object]
"""Attributes to read: model class attributes (``Order.total``) or field names. Typed as
objects because a type checker sees ``Order.total`` as the field's type (``Decimal``)."""


# --- retrying one chunk ---------------------------------------------------------------------


def _is_transient(exc: DynamormError) -> bool:
    """True for failures of a whole call that are worth retrying: throttling, 5xx, no answer."""
    if isinstance(exc, ThrottledError):
        return True
    if not isinstance(exc, DynamoDBError):
        return False
    code = exc.code
    # Without an AWS error code the call never got DynamoDB's answer: the connection was
    # refused, reset or timed out (botocore's own retries for those are spent by now).
    return (
        code is None
        or is_retryable_error_code(code)
        or (len(code) == 3 and code.startswith("5") and code.isdigit())
    )


async def _retry_chunk(
    session: ExecutionContext,
    operation: str,
    table: str | None,
    pending: dict[bytes, R],
    attempt: Callable[[dict[bytes, R]], Awaitable[dict[bytes, R]]],
    progress: BatchProgress,
) -> tuple[dict[bytes, R], DynamormError | None]:
    """Call ``attempt`` with what is pending until nothing is or the retry budget runs out.

    ``attempt`` sends one call, records what it confirmed, and returns what is still
    unprocessed. Returns the requests given up on (empty on success) and the error behind
    them, if the last attempt failed as a whole.
    """
    budget = session.batch_retry.start()
    error: DynamormError | None = None
    while True:
        budget.record_attempt()
        sent = len(pending)
        try:
            pending = await attempt(pending)
        except DynamormError as exc:
            if not _is_transient(exc):
                logger.warning(
                    "%s on %s: %d requests rejected, not retried: %s",
                    operation, table, len(pending), exc,
                )
                return pending, exc
            error = exc
            if isinstance(exc, ThrottledError):
                progress.throttled += 1
                # Once per batch call at WARNING; a throttled table would repeat it per chunk.
                logger.log(
                    logging.WARNING if progress.throttled == 1 else logging.DEBUG,
                    "%s on %s throttled (attempt %d), backing off: %s",
                    operation, table, budget.attempts, exc,
                )
            else:
                logger.debug("%s on %s failed (attempt %d): %s", operation, table,
                             budget.attempts, exc)
        else:
            if not pending:
                return pending, None
            error = None
            logger.debug(
                "%s on %s: %d of %d requests unprocessed (attempt %d)",
                operation, table, len(pending), sent, budget.attempts,
            )
        delay = budget.next_delay()
        if delay is None:
            logger.warning(
                "%s on %s: giving up on %d requests after %d attempts (%.2fs)",
                operation, table, len(pending), budget.attempts, budget.elapsed,
            )
            return pending, error
        progress.retries += 1
        logger.debug("%s on %s: retrying %d requests in %.3fs", operation, table,
                     len(pending), delay)
        await anyio.sleep(delay)


async def _run_chunks(
    chunks: Sequence[list[R]], run: Callable[[list[R]], Awaitable[None]], concurrency: int
) -> None:
    """Run ``run`` over every chunk on at most ``concurrency`` worker tasks."""
    iterator = iter(chunks)

    async def worker() -> None:
        # One shared iterator: each chunk goes to exactly one worker.
        for chunk in iterator:
            await run(chunk)

    async with anyio.create_task_group() as tg:
        for _ in range(min(concurrency, len(chunks))):
            tg.start_soon(worker)


# --- writes -----------------------------------------------------------------------------------


def _request_size(request: WriteRequest) -> int:
    return request.size


def _fingerprint_of(request: WriteRequest | GetKey) -> bytes:
    return request.fingerprint


def _index_of(request: WriteRequest | GetKey) -> int:
    return request.index


def _single_table(requests: Iterable[WriteRequest]) -> str | None:
    """The table of a chunk for error context, or None when it spans several."""
    tables = {request.table for request in requests}
    return tables.pop() if len(tables) == 1 else None


def _apply_updates(obj: object, updates: Mapping[str, Any]) -> None:
    # Frozen structs cannot change in place; their owners re-read them (module docstring).
    if isinstance(obj, msgspec.Struct) and not obj.__struct_config__.frozen:
        for name, value in updates.items():
            setattr(obj, name, value)


class _WriteRunner:
    """Sends the BatchWriteItem chunks of one batch call and records the outcome."""

    __slots__ = ("progress", "session", "table_keys")

    def __init__(
        self,
        session: ExecutionContext,
        progress: BatchProgress,
        table_keys: Mapping[str, Sequence[str]],
    ) -> None:
        self.session = session
        self.progress = progress
        self.table_keys = table_keys

    async def run(self, chunk: list[WriteRequest]) -> None:
        """Write one chunk, retrying what is left unprocessed; never raises DynamormError."""
        table = _single_table(chunk)
        pending = {request.fingerprint: request for request in chunk}
        left, error = await _retry_chunk(
            self.session, "BatchWriteItem", table, pending, self._attempt, self.progress
        )
        for request in left.values():
            self.progress.give_up(request.index, request.source, error)

    async def _attempt(self, pending: dict[bytes, WriteRequest]) -> dict[bytes, WriteRequest]:
        response = await self.session.call(
            "BatchWriteItem", write_payload(pending.values()), table=_single_table(pending.values())
        )
        confirmed, remaining = split_write_answer(pending, response, self.table_keys)
        for request in confirmed:
            self.progress.confirm(request.index, request.source)
            if request.updates:
                _apply_updates(request.source, request.updates)
        return remaining


def _register_table(table_keys: dict[str, Sequence[str]], table: str, info: ModelInfo) -> None:
    known = table_keys.setdefault(table, info.key_attributes)
    if tuple(known) != info.key_attributes:
        raise ValidationError(
            f"{info.cls.__name__} declares the key {info.key_attributes} for table {table!r}, "
            f"which another model in this batch declares as {tuple(known)}",
            table=table,
        )


class _Requests:
    """Builds marshalled WriteRequests, remembering each table's key attributes."""

    __slots__ = ("_tables", "session", "table_keys")

    def __init__(self, session: ExecutionContext) -> None:
        self.session = session
        self.table_keys: dict[str, Sequence[str]] = {}
        self._tables: dict[type[Model], str] = {}

    def _table(self, model: type[Model]) -> str:
        table = self._tables.get(model)
        if table is None:
            table = self.session.table_name(model)
            _register_table(self.table_keys, table, model_info(model))
            self._tables[model] = table
        return table

    def put(self, obj: Model, index: int, now: datetime) -> WriteRequest:
        if not isinstance(obj, Model):
            raise ValidationError(f"batch puts take model instances, got {type(obj).__name__}")
        model = type(obj)
        info = model_info(model)
        table = self._table(model)
        # The item is marshalled and checked here, once; retries re-send the same entry.
        prepared = prepare_write(info, obj, now=now)
        return WriteRequest(
            table=table,
            entry=put_entry(prepared.item),
            fingerprint=key_fingerprint(table, info.key_attributes, prepared.item),
            index=index,
            source=obj,
            size=put_entry_size(prepared.json_size),
            updates=prepared.updates or None,
        )

    def delete(
        self, model: type[Model], target: Model | Mapping[str, object], index: int
    ) -> WriteRequest:
        info = model_info(model)
        table = self._table(model)
        if isinstance(target, Model):
            if not isinstance(target, model):
                raise ValidationError(
                    f"a delete of {model.__name__} got a {type(target).__name__} instance",
                    table=table,
                )
            key = info.key_of(target)
        elif isinstance(target, Mapping):
            key = info.key_from(target)
        else:
            raise ValidationError(
                f"a delete of {model.__name__} takes instances or key mappings, got "
                f"{type(target).__name__}",
                table=table,
            )
        entry = delete_entry(key)
        return WriteRequest(
            table=table,
            entry=entry,
            fingerprint=key_fingerprint(table, info.key_attributes, key),
            index=index,
            source=target,
            size=entry_size(entry),
        )


def _write_error(session: ExecutionContext, progress: BatchProgress) -> BatchWriteError:
    unprocessed = progress.unprocessed
    cause = progress.error
    policy = session.batch_retry
    if cause is not None and not _is_transient(cause):
        why = f"DynamoDB rejected them: {cause}"
    else:
        limit = f"{policy.max_attempts} attempts"
        if policy.deadline is not None:
            limit += f" or {policy.deadline:g}s"
        why = f"the retry budget ({limit} per chunk) ran out"
        if cause is not None:
            why += f"; last error: {cause}"
    return BatchWriteError(
        f"{len(unprocessed)} of {progress.submitted} write requests were not written: {why}. "
        "Every other request was written; retry the ones in .unprocessed later, or give the "
        "Session a larger batch_retry=RetryPolicy(...)",
        unprocessed=unprocessed,
        processed=progress.processed,
        processed_items=progress.processed_items,
        operation="BatchWriteItem",
        table=cause.table if cause is not None else None,
        code=cause.code if cause is not None else None,
    )


async def _write_all(
    session: ExecutionContext,
    requests: list[WriteRequest],
    table_keys: Mapping[str, Sequence[str]],
    progress: BatchProgress,
) -> BatchResult:
    progress.submitted += len(requests)
    chunks = list(
        chunked(
            requests, max_count=MAX_WRITE_REQUESTS, max_bytes=MAX_REQUEST_BYTES, size=_request_size
        )
    )
    runner = _WriteRunner(session, progress, table_keys)
    await _run_chunks(chunks, runner.run, session.max_concurrency)
    if progress.unprocessed:
        raise _write_error(session, progress) from progress.error
    return progress.result()


async def batch_put(
    session: ExecutionContext, items: Iterable[Model], *, progress: BatchProgress | None = None
) -> BatchResult:
    """Write many items (any models and tables), 25 per call, chunks concurrent.

    Every item is marshalled and validated before the first call. Two items with one key raise
    ValidationError before anything is sent. Items are overwritten unconditionally: versions
    are bumped but cannot be checked in a batch; ``CreatedAt``/``UpdatedAt`` are stamped, and
    confirmed instances updated in place (not frozen ones). Raises BatchWriteError with the
    items (instances) still unprocessed after the retry budget; every other item is written.
    ``progress`` lets a caller read what was confirmed after a cancellation.
    """
    progress = progress if progress is not None else BatchProgress()
    build = _Requests(session)
    now = datetime.now(UTC)
    requests = [build.put(obj, index, now) for index, obj in enumerate(items)]
    unique, duplicates = dedupe(requests, _fingerprint_of)
    if duplicates:
        first, again = duplicates[0]
        assert isinstance(again.source, Model)
        info = model_info(type(again.source))
        key = info.key_dict(info.key_of(again.source))
        raise ValidationError(
            f"batch_put got two {type(again.source).__name__} items with the key {key} "
            f"(positions {first.index} and {again.index}); DynamoDB rejects a batch naming one "
            "key twice, so nothing was sent: keep one of them",
            operation="BatchWriteItem",
            table=again.table,
            key=key,
        )
    return await _write_all(session, unique, build.table_keys, progress)


async def batch_delete(
    session: ExecutionContext,
    model: type[Model],
    keys: Iterable[Model | Mapping[str, object]],
    *,
    progress: BatchProgress | None = None,
) -> BatchResult:
    """Delete many items by instance or key mapping (field names), 25 per call, concurrent.

    A key passed twice is deleted once (``processed`` counts distinct keys, and a failure
    reports the first object passed for it). Versions of instances are not checked: batches
    take no conditions. Deleting a key without an item succeeds. Raises BatchWriteError with
    the instances or key mappings still unprocessed after the retry budget.
    """
    progress = progress if progress is not None else BatchProgress()
    build = _Requests(session)
    requests = [build.delete(model, target, index) for index, target in enumerate(keys)]
    unique, _ = dedupe(requests, _fingerprint_of)
    return await _write_all(session, unique, build.table_keys, progress)


async def _drain(
    receive: MemoryObjectReceiveStream[list[WriteRequest]],
    run: Callable[[list[WriteRequest]], Awaitable[None]],
) -> None:
    async with receive:
        async for chunk in receive:
            await run(chunk)


async def delete_keys(
    session: ExecutionContext, model: type[Model], keys: AsyncIterable[dict[str, Any]]
) -> int:
    """Delete the items under a stream of wire-format keys; returns the count deleted.

    For query/scan ``.delete()``: keys are consumed as they come and sent in chunks of 25 on at
    most ``max_concurrency`` workers, so memory does not grow with the number of keys. Extra
    attributes in a key are ignored; a key repeated within one chunk is sent once. The count is
    the number of delete requests DynamoDB confirmed. Keys still unprocessed after the retry
    budget raise BatchWriteError (with those key dicts) once the stream is done; an error
    raised by ``keys`` itself propagates after the chunks already handed out have finished.
    The caller must not hold a token of ``session.limiter`` while awaiting this.
    """
    info = model_info(model)
    table = session.table_name(model)
    attributes = info.key_attributes
    table_keys = {table: attributes}
    progress = BatchProgress(keep_items=False)
    runner = _WriteRunner(session, progress, table_keys)
    workers = session.max_concurrency
    send, receive = anyio.create_memory_object_stream[list[WriteRequest]](workers)
    source_error: Exception | None = None
    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(_drain, receive.clone(), runner.run)
        receive.close()
        async with send:
            chunker = Chunker[WriteRequest](
                max_count=MAX_WRITE_REQUESTS,
                max_bytes=MAX_REQUEST_BYTES,
                size=_request_size,
                unique=_fingerprint_of,
            )
            index = 0
            try:
                async for wire in keys:
                    key = {a: wire[a] for a in attributes if a in wire}
                    entry = delete_entry(key)
                    request = WriteRequest(
                        table=table,
                        entry=entry,
                        fingerprint=key_fingerprint(table, attributes, key),
                        index=index,
                        source=wire,
                        size=entry_size(entry),
                    )
                    index += 1
                    for chunk in chunker.add(request):
                        progress.submitted += len(chunk)
                        await send.send(chunk)
                rest = chunker.flush()
                if rest is not None:
                    progress.submitted += len(rest)
                    await send.send(rest)
            except Exception as exc:
                # Stop reading; the workers finish the chunks already queued, then it is raised.
                source_error = exc
    if source_error is not None:
        if progress.unprocessed:
            logger.warning(
                "delete of %s: %d keys left unprocessed before the key stream failed",
                table, len(progress.unprocessed),
            )
        raise source_error
    if progress.unprocessed:
        raise _write_error(session, progress) from progress.error
    return progress.processed


# --- reads ------------------------------------------------------------------------------------


def _selection(
    info: ModelInfo, select: type[msgspec.Struct] | Selection | None
) -> tuple[str | None, dict[str, str] | None, Callable[[Item], Any]]:
    """ProjectionExpression, its names, and the decoder of answers for a ``select``.

    Projections are checked and decoded exactly as ``Query.select`` does it, so a batch read
    yields the same dicts (keyed by field-name paths) or partial structs as a query.
    """
    if select is None:
        return None, None, info.decode
    if isinstance(select, str):
        raise ValidationError(f"select= takes a sequence of attributes, got the str {select!r}")
    if isinstance(select, type):
        projection = parse_projection(info, [select])
    else:
        targets: list[object] = []
        for entry in select:
            if isinstance(entry, str):
                if entry not in info.fields:
                    raise ValidationError(
                        f"{info.cls.__name__} has no field {entry!r}", table=info.table
                    )
                targets.append(info.path(entry))
            else:
                targets.append(entry)
        projection = parse_projection(info, targets)
    decode: Callable[[Item], Any] = (
        DictDecoder(info, projection)
        if isinstance(projection, tuple)
        else StructDecoder(projection, info.cls)
    )
    # Key attributes are always read: answers are matched to the requested keys by them.
    unique: dict[tuple[str | int, ...], AttributePath] = {
        (attribute,): AttributePath((attribute,)) for attribute in info.key_attributes
    }
    for path in projected_paths(projection):
        unique.setdefault(path._elements, path)
    ph = Placeholders()
    expression = projection_expression(unique.values(), ph)
    return expression, ph.names, decode


@overload
async def batch_get(
    session: ExecutionContext,
    model: type[M],
    keys: Iterable[Mapping[str, object]],
    *,
    consistent: bool = ...,
    select: None = ...,
) -> list[M]: ...


@overload
async def batch_get(
    session: ExecutionContext,
    model: type[Model],
    keys: Iterable[Mapping[str, object]],
    *,
    consistent: bool = ...,
    select: type[S],
) -> list[S]: ...


@overload
async def batch_get(
    session: ExecutionContext,
    model: type[Model],
    keys: Iterable[Mapping[str, object]],
    *,
    consistent: bool = ...,
    select: Selection,
) -> list[dict[str, Any]]: ...


async def batch_get(
    session: ExecutionContext,
    model: type[Model],
    keys: Iterable[Mapping[str, object]],
    *,
    consistent: bool = False,
    select: type[msgspec.Struct] | Selection | None = None,
) -> list[Any]:
    """Read many items by key (mappings of field names), 100 per call, chunks concurrent.

    Results follow the order of ``keys``; keys without an item are left out; a key passed more
    than once is read once and its item returned once, at its first position. ``select`` reads
    only some attributes, as ``Query.select`` does: a msgspec Struct type yields instances of
    it; attribute paths (``Order.total``, ``Order.ship_to.city``) or field names yield dicts
    keyed by field-name path (``{"total": ..., "ship_to.city": ...}``). Keys still
    unprocessed after the retry budget raise BatchGetError, which carries the items found.
    """
    info = model_info(model)
    table = session.table_name(model)
    attributes = info.key_attributes
    projection, names, decode = _selection(info, select)
    requests = []
    for index, source in enumerate(keys):
        if not isinstance(source, Mapping):
            raise ValidationError(
                f"batch_get keys are mappings of field names, got {type(source).__name__}",
                table=table,
            )
        key = info.key_from(source)
        requests.append(GetKey(key, key_fingerprint(table, attributes, key), index, source))
    unique, _ = dedupe(requests, _fingerprint_of)
    found: dict[bytes, Item] = {}
    failed: list[GetKey] = []
    errors: list[DynamormError] = []
    progress = BatchProgress(keep_items=False)

    async def attempt(pending: dict[bytes, GetKey]) -> dict[bytes, GetKey]:
        payload = get_payload(
            table, pending.values(), consistent=consistent, projection=projection, names=names
        )
        response = await session.call("BatchGetItem", payload, table=table)
        items, remaining = split_get_answer(pending, response, table, attributes)
        for request, item in items:
            found[request.fingerprint] = item
        return remaining

    async def run(chunk: list[GetKey]) -> None:
        pending = {request.fingerprint: request for request in chunk}
        left, error = await _retry_chunk(
            session, "BatchGetItem", table, pending, attempt, progress
        )
        failed.extend(left.values())
        if error is not None:
            errors.append(error)

    chunks = list(chunked(unique, max_count=MAX_GET_KEYS))
    await _run_chunks(chunks, run, session.max_concurrency)
    rejected = next((e for e in errors if not _is_transient(e)), None)
    if rejected is not None:
        # Nothing was written, so a rejected read is raised as the error it is.
        raise rejected
    results = [decode(found[k.fingerprint]) for k in unique if k.fingerprint in found]
    if failed:
        failed.sort(key=_index_of)
        cause = errors[0] if errors else None
        raise BatchGetError(
            f"{len(failed)} of {len(unique)} keys were not read within the retry budget "
            f"({session.batch_retry.max_attempts} attempts per chunk)"
            + (f"; last error: {cause}" if cause is not None else "")
            + ". .found holds the items read for the other keys; retry .unprocessed later",
            unprocessed=[k.source for k in failed],
            found=results,
            operation="BatchGetItem",
            table=table,
            code=cause.code if cause is not None else None,
        ) from cause
    return results


# --- buffered writer ----------------------------------------------------------------------------


class BatchWriter:
    """Buffered batch writes: ``async with db.batch_writer() as w: w.put(o); w.delete(o2)``.

    ``put``/``delete`` marshal and validate at once (a bad item raises there) and buffer the
    request; a full buffer (25 requests or 16 MB) is sent by a background task of the writer's
    task group, at most ``max_concurrency`` of them at a time, each retried like
    ``batch_put``. Leaving the block sends the rest, waits for every flush and raises
    BatchWriteError with the requests still unprocessed (everything else was written);
    ``result``/``progress`` report counts. Semantics of versions and timestamps are those of
    ``batch_put``.

    Duplicate keys: the last write to a key wins. A later write to a key replaces an earlier
    one still in the buffer, and waits for an earlier one already being sent, so requests for
    one key reach DynamoDB in the order they were made. A replaced request is not sent and not
    reported.

    If the block raises, the requests still buffered are discarded (not sent), flushes already
    started run to the end, and the block's exception propagates; if the block is cancelled,
    running flushes are cancelled too. A writer belongs to the one task that entered it.
    """

    def __init__(self, session: ExecutionContext, *, progress: BatchProgress | None = None) -> None:
        self.session = session
        self.progress = progress if progress is not None else BatchProgress()
        self._requests = _Requests(session)
        self._runner = _WriteRunner(session, self.progress, self._requests.table_keys)
        self._flushes = anyio.CapacityLimiter(session.max_concurrency)
        self._buffer: dict[bytes, WriteRequest] = {}
        self._bytes = 0
        self._index = 0
        self._inflight: dict[bytes, anyio.Event] = {}
        self._tg: TaskGroup | None = None
        self._entered = False

    @property
    def result(self) -> BatchResult:
        """Counts so far (final once the block is left)."""
        return self.progress.result()

    async def __aenter__(self) -> Self:
        if self._entered:
            raise DynamormError("a BatchWriter can be entered once; make a new one")
        self._entered = True
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        tg = self._tg
        assert tg is not None, "entered in __aenter__"
        if exc is None:
            self._dispatch()
        self._tg = None
        self._buffer.clear()
        if exc is not None and not isinstance(exc, Exception):
            # Cancellation (or an interrupt): the task group cancels the running flushes.
            return await tg.__aexit__(exc_type, exc, tb)
        # Let the running flushes finish: they hold writes DynamoDB may be applying right now.
        await tg.__aexit__(None, None, None)
        if exc is None and self.progress.unprocessed:
            raise _write_error(self.session, self.progress) from self.progress.error
        return None

    def put(self, obj: Model) -> None:
        """Buffer a put of ``obj`` (validated now; sent with the next full buffer or on exit)."""
        self._check_open()
        self._add(self._requests.put(obj, self._next_index(), datetime.now(UTC)))

    @overload
    def delete(self, target: Model, /) -> None: ...

    @overload
    def delete(self, target: type[Model], /, **key: object) -> None: ...

    def delete(self, target: Model | type[Model], /, **key: object) -> None:
        """Buffer a delete of an instance, or of ``Model`` with its key as keyword arguments."""
        self._check_open()
        if isinstance(target, type):
            request = self._requests.delete(target, key, self._next_index())
        else:
            if key:
                raise ValidationError("pass either an instance or a model class with a key")
            request = self._requests.delete(type(target), target, self._next_index())
        self._add(request)

    async def flush(self) -> None:
        """Send the buffer now and wait until every request made so far is settled."""
        self._check_open()
        self._dispatch()
        # Every running flush is either still mapped from one of its keys or awaited by a
        # later flush that is (it took over the keys), so this waits for all of them.
        for done in set(self._inflight.values()):
            await done.wait()

    def _check_open(self) -> None:
        if self._tg is None:
            raise ValidationError("use the batch writer inside 'async with db.batch_writer()'")

    def _next_index(self) -> int:
        self._index += 1
        return self._index

    def _add(self, request: WriteRequest) -> None:
        replaced = self._buffer.pop(request.fingerprint, None)
        if replaced is not None:
            self._bytes -= replaced.size
        if self._buffer and self._bytes + request.size > MAX_REQUEST_BYTES:
            self._dispatch()
        self._buffer[request.fingerprint] = request
        self._bytes += request.size
        if len(self._buffer) >= MAX_WRITE_REQUESTS:
            self._dispatch()

    def _dispatch(self) -> None:
        if not self._buffer:
            return
        assert self._tg is not None
        chunk = list(self._buffer.values())
        self._buffer, self._bytes = {}, 0
        earlier = {self._inflight[r.fingerprint] for r in chunk if r.fingerprint in self._inflight}
        done = anyio.Event()
        for request in chunk:
            self._inflight[request.fingerprint] = done
        self.progress.submitted += len(chunk)
        self._tg.start_soon(self._flush_chunk, chunk, earlier, done)

    async def _flush_chunk(
        self, chunk: list[WriteRequest], earlier: set[anyio.Event], done: anyio.Event
    ) -> None:
        try:
            for event in earlier:
                await event.wait()
            async with self._flushes:
                await self._runner.run(chunk)
        finally:
            done.set()
            for request in chunk:
                if self._inflight.get(request.fingerprint) is done:
                    del self._inflight[request.fingerprint]
