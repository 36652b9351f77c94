"""Batch read executor: ``batch_get``, BatchGetItem in concurrent chunks of 100 keys.

Its typed overloads live on ``Session.batch_get``, the public entry point.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import msgspec

from .._errors import BatchGetError, DynamormError, ValidationError
from .._fanout import fan_out
from .._model.model import Model, ModelInfo, model_info
from .._wire.taggers import Item
from .chunks import retry_chunk
from .plan import MAX_GET_KEYS, GetKey, chunked, dedupe, get_payload, split_get_answer
from .progress import BatchProgress
from .requests import Selection, get_keys, selection
from .retry import is_transient

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = ["batch_get"]


async def batch_get(
    session: ExecutionContext,
    model: type[Model],
    keys: Iterable[Model | Mapping[str, object]],
    *,
    consistent: bool = False,
    select: type[msgspec.Struct] | Selection | None = None,
) -> list[Any]:
    """Read many items by key (instances or mappings of field names), 100 per call, chunks
    concurrent.

    Results follow the order of ``keys``; keys without an item are left out; a key passed more
    than once is read once and its item returned once, at its first position. ``select`` reads
    only some attributes, as ``Query.select`` does: a msgspec Struct type yields instances of
    it; attribute paths (``Order.total``, ``Order.ship_to.city``) or field names yield dicts
    keyed by field-name path (``{"total": ..., "ship_to.city": ...}``). Keys still
    unprocessed after the retry budget raise BatchGetError, which carries the items found.
    """
    info = model_info(model)
    table = session.table_name(model)
    projection, names, decode = selection(info, select)
    unique, _ = dedupe(_get_keys(info, table, keys), lambda k: k.fingerprint)
    found: dict[bytes, Item] = {}
    failed: list[GetKey] = []
    errors: list[DynamormError] = []
    progress = BatchProgress(keep_items=False)

    async def attempt(pending: dict[bytes, GetKey]) -> dict[bytes, GetKey]:
        payload = get_payload(
            table, pending.values(), consistent=consistent, projection=projection, names=names
        )
        response = await session.call("BatchGetItem", payload, table=table)
        items, remaining = split_get_answer(pending, response, table, info.key_attributes)
        for request, item in items:
            found[request.fingerprint] = item
        return remaining

    async def run(chunk: list[GetKey]) -> None:
        pending = {request.fingerprint: request for request in chunk}
        left, error = await retry_chunk(
            session, "BatchGetItem", table, pending, attempt, progress
        )
        failed.extend(left.values())
        if error is not None:
            errors.append(error)

    chunks = list(chunked(unique, max_count=MAX_GET_KEYS))
    workers = min(session.max_concurrency, len(chunks))
    with session.fan_out_span("batch_get", [model]) as span:
        await fan_out(chunks, run, workers=workers, span=span)
        rejected = next((e for e in errors if not is_transient(e)), None)
        if rejected is not None:
            # Nothing was written, so a rejected read is raised as the error it is.
            raise rejected
        results = [decode(found[k.fingerprint]) for k in unique if k.fingerprint in found]
        if failed:
            cause = errors[0] if errors else None
            failed.sort(key=lambda k: k.index)
            raise _get_error(session, table, failed, len(unique), cause, results) from cause
    return results


def _get_keys(
    info: ModelInfo, table: str, entries: Iterable[Model | Mapping[str, object]]
) -> list[GetKey]:
    """The keys of a batch read; an instance names its own key, as in ``batch_delete``, and
    stays the source a BatchGetError reports."""
    sources = list(entries)
    mappings: list[Mapping[str, object]] = []
    for source in sources:
        if isinstance(source, Mapping):
            mappings.append(source)
        elif isinstance(source, Model):
            info.check_instance(source)
            mappings.append(info.key_dict(info.key_of(source)))
        else:
            raise ValidationError(
                f"batch_get of {info.cls.__name__} takes instances or key mappings (field "
                f"names), got {type(source).__name__}",
                table=table,
            )
    return [replace(k, source=sources[k.index]) for k in get_keys(info, table, mappings)]


def _get_error(
    session: ExecutionContext,
    table: str,
    failed: list[GetKey],
    total: int,
    cause: DynamormError | None,
    results: list[Any],
) -> BatchGetError:
    return BatchGetError(
        f"{len(failed)} of {total} keys were not read within the retry budget "
        f"({session.batch_retry.max_attempts} attempts per chunk)"
        + (f"; last error: {cause}" if cause is not None else "")
        + ". .found holds the items read for the other keys; retry .unprocessed later",
        unprocessed=[k.source for k in failed],
        found=results,
        operation="BatchGetItem",
        table=table,
        code=cause.code if cause is not None else None,
    )
