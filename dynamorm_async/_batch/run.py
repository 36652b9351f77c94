"""Batch write executors: ``batch_put``, ``batch_delete`` and the streamed ``delete_keys``.

Each marshals and validates its requests (:mod:`.requests`), chunks them (:mod:`.plan`) and
runs the chunks on at most ``max_concurrency`` workers (``_fanout``), each chunk retried by
:class:`.chunks.WriteRunner`. Versions, duplicate keys, failures and cancellation behave as the
package docstring (``dynamorm_async._batch``) states.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .._fanout import fan_out, worker_pool
from .._model.model import Model, model_info
from .chunks import WriteRunner
from .plan import MAX_REQUEST_BYTES, MAX_WRITE_REQUESTS, Chunker, WriteRequest, chunked, dedupe
from .progress import BatchProgress, BatchResult, write_error
from .requests import WriteRequests, delete_target, duplicate_put_error, key_request

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = ["batch_delete", "batch_put", "delete_keys"]

logger = logging.getLogger("dynamorm_async")


async def _write_all(
    session: ExecutionContext,
    requests: list[WriteRequest],
    table_keys: Mapping[str, Sequence[str]],
    progress: BatchProgress,
    models: Sequence[type[Model]],
) -> BatchResult:
    progress.submitted += len(requests)
    chunks = list(
        chunked(
            requests,
            max_count=MAX_WRITE_REQUESTS,
            max_bytes=MAX_REQUEST_BYTES,
            size=lambda r: r.size,
        )
    )
    runner = WriteRunner(session, progress, table_keys)
    workers = min(session.max_concurrency, len(chunks))
    with session.fan_out_span("batch_write", models) as span:
        await fan_out(chunks, runner.run, workers=workers, span=span)
        if progress.unprocessed:
            raise write_error(session.batch_retry, progress) from progress.error
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
    build = WriteRequests(session.table_name)
    now = datetime.now(UTC)
    objects = list(items)
    requests = [build.put(obj, index, now) for index, obj in enumerate(objects)]
    unique, duplicates = dedupe(requests, lambda r: r.fingerprint)
    if duplicates:
        raise duplicate_put_error(*duplicates[0])
    models = list(dict.fromkeys(map(type, objects)))
    return await _write_all(session, unique, build.table_keys, progress, models)


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
    build = WriteRequests(session.table_name)
    requests = [
        build.delete(delete_target(model, target), target, index)
        for index, target in enumerate(keys)
    ]
    unique, _ = dedupe(requests, lambda r: r.fingerprint)
    return await _write_all(session, unique, build.table_keys, progress, [model])


async def _send_key_chunks(
    table: str,
    attributes: Sequence[str],
    keys: AsyncIterable[Mapping[str, Any]],
    send: Callable[[list[WriteRequest]], Awaitable[None]],
) -> None:
    """Chunk the delete requests of a key stream as the keys come, sending each full chunk."""
    chunker = Chunker[WriteRequest](
        max_count=MAX_WRITE_REQUESTS,
        max_bytes=MAX_REQUEST_BYTES,
        size=lambda r: r.size,
        unique=lambda r: r.fingerprint,
    )
    index = 0
    async for wire in keys:
        for chunk in chunker.add(key_request(table, attributes, wire, index)):
            await send(chunk)
        index += 1
    rest = chunker.flush()
    if rest is not None:
        await send(rest)


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
    Workers hold no concurrency token (only ``session.call`` takes one, per request), so this
    may be awaited from inside any other fan-out.
    """
    table = session.table_name(model)
    attributes = model_info(model).key_attributes
    progress = BatchProgress(keep_items=False)
    runner = WriteRunner(session, progress, {table: attributes})
    source_error: Exception | None = None
    with session.fan_out_span("batch_write", [model]) as span:
        async with worker_pool(runner.run, workers=session.max_concurrency, span=span) as jobs:

            async def send(chunk: list[WriteRequest]) -> None:
                progress.submitted += len(chunk)
                await jobs.send(chunk)

            try:
                await _send_key_chunks(table, attributes, keys, send)
            except Exception as exc:
                # Stop reading; the workers finish the chunks handed out, then it is raised.
                source_error = exc
        if source_error is not None:
            if progress.unprocessed:
                logger.warning(
                    "delete of %s: %d keys left unprocessed before the key stream failed",
                    table, len(progress.unprocessed),
                )
            raise source_error
        if progress.unprocessed:
            raise write_error(session.batch_retry, progress) from progress.error
    return progress.processed
