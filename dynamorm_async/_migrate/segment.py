"""One migration segment, page by page: what every runner runs, here or on a worker.

:class:`MigrationWork` describes a run as plain values (models, transform, options, the read
plan) and :class:`SegmentJob` one parallel-scan segment of it; both pickle, so a runner can ship
them to other processes. Each page of a segment goes::

    Scan page -> decode as source -> transform -> validate as target -> batch_put the page
              -> (key changed in place: batch_delete the old keys) -> checkpoint the page

See :mod:`.run` for the rules (failures, idempotency, resume); this module applies them to one
segment and returns its :class:`~.report.SegmentReport`.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from .._batch.run import batch_delete, batch_put
from .._context import ExecutionContext
from .._errors import BatchWriteError, DynamormError, ItemDecodeError, ValidationError
from .._fanout import fan_out
from .._model.model import Model, ModelInfo, model_info
from .._read.item import get_item
from .._read.pager import ItemPager
from .._read.plan import ReadPlan
from .._runner import Emit
from .._wire.taggers import AttributeValue, Item
from .._wire.values import canonical
from .checkpoint import CheckpointSource, Claim, SegmentStore
from .report import SegmentReport

__all__ = ["MigrationWork", "OnError", "SegmentJob", "Stop", "key_digest"]

OnError = Literal["collect", "skip", "stop"]


@dataclass(frozen=True, slots=True)
class SegmentJob:
    """One parallel-scan segment: its number, its Scan request and where the caller starts it."""

    segment: int
    request: Mapping[str, Any]
    start_key: Item | None = None


@dataclass(frozen=True, slots=True)
class MigrationWork:
    """What :func:`~.run.migrate` was asked to do, as plain values (see :mod:`.run`)."""

    source: type[Model]
    target: type[Model]
    transform: Callable[[Any], Any]
    plan: ReadPlan
    run: str
    """This run's id: a checkpoint tells a segment taken over in this run from an older run's."""
    checkpoint: CheckpointSource
    dry_run: bool = False
    on_error: OnError = "collect"
    allow_key_change: bool = False
    sample_size: int = 3
    in_place: bool = False

    async def start(
        self, context: ExecutionContext, emit: Emit
    ) -> Callable[[SegmentJob], Awaitable[SegmentReport]]:
        """The segment function of one process; its segments share the in-place moves."""
        store = await self.checkpoint.store(context, self.run)
        shared = _Shared(self, context, store, emit)
        return shared.segment


class Stop(Exception):
    """Raised by a segment at the first failure under ``on_error="stop"``, with its report."""

    def __init__(self, report: SegmentReport) -> None:
        super().__init__(report)
        self.report = report


def _same_item(a: Mapping[str, AttributeValue], b: Mapping[str, AttributeValue]) -> bool:
    return a.keys() == b.keys() and all(canonical(a[k]) == canonical(b[k]) for k in a)


def _key_token(key: Mapping[str, AttributeValue]) -> tuple[Any, ...]:
    return tuple(sorted((name, canonical(av)) for name, av in key.items()))


def key_digest(key: Mapping[str, AttributeValue]) -> bytes:
    """Eight bytes naming a wire key, the same in every process (checkpointed pending pages)."""
    token = msgspec.json.encode(_key_token(key))
    return hashlib.blake2b(token, digest_size=8).digest()


@dataclass(slots=True, eq=False)
class _Write:
    """A validated result waiting to be written."""

    source_key: Item  # the source item's key
    before: Any  # the source instance
    after: Any  # the target instance
    item: Item
    new_key: Item
    old_key: Item | None  # the source key to delete after the write (in-place key change)


class _Shared:
    """What the segments of one process share: the work, the context and the in-place moves."""

    def __init__(
        self, work: MigrationWork, context: ExecutionContext, store: SegmentStore, emit: Emit
    ) -> None:
        self.work = work
        self.context = context
        self.store = store
        self.emit = emit
        self.src: ModelInfo = model_info(work.source)
        self.tgt: ModelInfo = model_info(work.target)
        # New keys this process wrote in place: never deleted as "old" keys, never re-migrated.
        self.moved: set[tuple[Any, ...]] = set()

    async def segment(self, job: SegmentJob) -> SegmentReport:
        """Migrate one segment page by page, checkpointing each page once it is written."""
        claim = await self.store.claim(job.segment, job.start_key)
        if claim.report.done:  # finished in this run by a worker whose result was lost
            return claim.report
        claim.report.failed.extend((self.src.key_dict(k), why) for k, why in claim.failures)
        run = _Segment(self, claim)
        pager = ItemPager(self.context, self.work.plan, job.request, start_key=claim.start_key)
        async for items, last_key in pager.pages():
            failures = await run.page(items)
            # Migrated: let the page go before the next one is read (one page per segment).
            del items
            run.report.done = last_key is None
            if not self.work.dry_run:
                await self.store.advance(job.segment, last_key, run.report, failures)
            self.emit({"segment": job.segment, "done": int(run.report.done), **run.report.counts()})
        return run.report


class _Segment:
    """One segment's pages: decode, transform, validate, write, count."""

    def __init__(self, shared: _Shared, claim: Claim) -> None:
        self.shared = shared
        self.work = shared.work
        self.src = shared.src
        self.tgt = shared.tgt
        self.report = claim.report
        self.replayed = claim.replayed
        self.failures: list[tuple[Item, str]] = []

    def _fail(self, source_key: Item, reason: str) -> None:
        self.report.failed_count += 1
        if self.work.on_error != "skip":
            self.report.failed.append((self.src.key_dict(source_key), reason))
            self.failures.append((source_key, reason))
        if self.work.on_error == "stop":
            raise Stop(self.report)

    def _was_written(self, source_key: Item) -> bool:
        """True (and counted as written) for an item of a replayed page that the worker which
        died wrote in this run: the new owner finds it migrated, the report counts it once."""
        if not self.replayed or key_digest(source_key) not in self.replayed:
            return False
        report = self.report
        report.transformed += 1
        report.changed += 1
        report.written += 1
        return True

    async def page(self, raw_items: Sequence[Item]) -> list[tuple[Item, str]]:
        """Migrate one page; returns its failures (keys and reasons) for the checkpoint."""
        self.failures = []
        writes: list[_Write] = []
        seen: dict[tuple[Any, ...], _Write] = {}
        for raw in raw_items:
            write = await self._item(raw)
            if write is None:
                continue
            token = _key_token(write.new_key)
            first = seen.get(token)
            if first is not None:
                self._fail(
                    write.source_key,
                    f"maps to target key {self.tgt.key_dict(write.new_key)}, as "
                    f"{self.src.key_dict(first.source_key)} does; not written, to keep "
                    f"{self.src.key_dict(first.source_key)}'s result",
                )
                continue
            seen[token] = write
            writes.append(write)
        if self.work.in_place and any(w.old_key is not None for w in writes):
            writes = await self._check_new_keys_free(writes)
        self.report.changed += len(writes)
        room = self.work.sample_size - len(self.report.samples)
        if room > 0:
            self.report.samples.extend((w.before, w.after) for w in writes[:room])
        if not self.work.dry_run and writes:
            await self._write(writes)
        self.report.completed += len(raw_items)
        return self.failures

    async def _write(self, writes: list[_Write]) -> None:
        if self.work.in_place:
            keys = [key_digest(w.source_key) for w in writes]
            await self.shared.store.pending(self.report.segment, keys)
        written = await self._put(writes)
        moved = [(w, w.old_key) for w in written if w.old_key is not None]
        if moved:
            self.shared.moved.update(_key_token(w.new_key) for w, _ in moved)
            # An old key that another item of this run moved onto now holds that item.
            await self._delete_old(
                [(w, old) for w, old in moved if _key_token(old) not in self.shared.moved]
            )

    def _already_migrated(self, source_key: Item) -> None:
        if not self._was_written(source_key):
            self.report.skipped += 1
            self.report.already_migrated += 1

    async def _item(self, raw: Item) -> _Write | None:
        """Decode, transform and validate one item; None when there is nothing to write."""
        self.report.scanned += 1
        source_key = {a: raw[a] for a in self.src.key_attributes if a in raw}
        if self.work.in_place and _key_token(source_key) in self.shared.moved:
            self._already_migrated(source_key)
            return None
        try:
            before = self.src.decode(raw)
        except ItemDecodeError as exc:
            if self.work.in_place and self._decodes_as_target(raw):
                self._already_migrated(source_key)
            else:
                source = self.work.source.__name__
                self._fail(source_key, f"does not decode as {source}: {_why(exc)}")
            return None
        after = await self._transform(source_key, before)
        if after is None:
            return None
        try:
            # The encoder accepts exactly what reads back, so a stored result always decodes.
            item = self.tgt.encode_checked(after)
        except ValidationError as exc:
            name = self.work.target.__name__
            where = exc.message if exc.message.startswith(name) else f"{name}: {exc.message}"
            self._fail(source_key, f"result does not fit {where}")
            return None
        return self._planned(source_key, raw, before, after, item)

    async def _transform(self, source_key: Item, before: Any) -> Any:
        """The transform's result; None (counted) when it skips the item or fails."""
        try:
            outcome = self.work.transform(before)
            after = await outcome if inspect.isawaitable(outcome) else outcome
        except Exception as exc:
            self._fail(source_key, f"transform failed: {type(exc).__name__}: {exc}")
            return None
        if after is None:
            self.report.skipped += 1
            return None
        if not isinstance(after, self.work.target):
            self._fail(
                source_key,
                f"transform returned {type(after).__name__}, expected "
                f"{self.work.target.__name__} or None",
            )
            return None
        return after

    def _planned(
        self, source_key: Item, raw: Item, before: Any, after: Any, item: Item
    ) -> _Write | None:
        """The write of a valid result; None when in place and there is nothing to change."""
        new_key = {a: item[a] for a in self.tgt.key_attributes}
        old_key: Item | None = None
        if self.work.in_place:
            if _same_item(item, raw):
                if not self._was_written(source_key):
                    self.report.transformed += 1
                    self.report.unchanged += 1
                return None
            if _key_token(new_key) != _key_token(source_key):
                if not self.work.allow_key_change:
                    self._fail(
                        source_key,
                        f"transform changed the key to {self.tgt.key_dict(new_key)}; an in-place "
                        "migration keeps keys unless allow_key_change=True",
                    )
                    return None
                old_key = source_key
        self.report.transformed += 1
        return _Write(source_key, before, after, item, new_key, old_key)

    def _decodes_as_target(self, raw: Item) -> bool:
        try:
            self.tgt.decode(raw)
        except ItemDecodeError:
            return False
        return True

    async def _check_new_keys_free(self, writes: list[_Write]) -> list[_Write]:
        """Fail key-changing writes whose new key holds a different item (never overwrite it).

        An equal item there is this migration's own earlier write (a resumed page): fine.
        """
        occupied: set[_Write] = set()
        context = self.shared.context

        async def look(write: _Write) -> None:
            existing = await get_item(context, self.work.target, write.new_key, consistent=True)
            if existing is not None and not _same_item(existing, write.item):
                occupied.add(write)

        moving = [write for write in writes if write.old_key is not None]
        await fan_out(moving, look, workers=context.max_concurrency)
        for write in writes:
            if write in occupied:
                self._fail(
                    write.source_key,
                    f"new key {self.tgt.key_dict(write.new_key)} already holds a different "
                    "item; not overwritten",
                )
        return [write for write in writes if write not in occupied]

    async def _put(self, writes: list[_Write]) -> list[_Write]:
        """Write the page; returns the writes DynamoDB confirmed."""
        try:
            await batch_put(self.shared.context, [w.after for w in writes])
        except BatchWriteError as exc:
            left = {id(obj) for obj in exc.unprocessed}
            done = [w for w in writes if id(w.after) not in left]
            self.report.written += len(done)
            for w in writes:
                if id(w.after) in left:
                    self._fail(w.source_key, f"not written: {exc.message}")
            return done
        self.report.written += len(writes)
        return writes

    async def _delete_old(self, moved: list[tuple[_Write, Item]]) -> None:
        """Delete the old items of writes that moved to a new key (after they were written)."""
        if not moved:
            return
        keys = [self.src.key_dict(old) for _, old in moved]
        try:
            await batch_delete(self.shared.context, self.work.source, keys)
        except BatchWriteError as exc:
            self.report.deleted += len(moved) - len(exc.unprocessed)
            for (w, _), key in zip(moved, keys, strict=True):
                if any(key is left for left in exc.unprocessed):
                    self._fail(
                        w.source_key,
                        f"written under {self.tgt.key_dict(w.new_key)}, but the old item was "
                        f"not deleted: {exc.message}",
                    )
            return
        self.report.deleted += len(moved)


def _why(exc: DynamormError) -> str:
    """The codec's own message (msgspec's names the field), without our wrapper's prefix."""
    cause = exc.__cause__
    return str(cause) if cause is not None else exc.message

