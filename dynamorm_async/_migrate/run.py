"""Schema migrations: scan a source model's table, transform every item, write the target model.

Each parallel-scan segment runs page by page::

    Scan page -> decode as source -> transform -> validate as target -> batch_put the page
              -> (key changed in place: batch_delete the old keys) -> checkpoint the page

Failures are per item (an item that does not decode, a transform that raises or returns
something that does not fit the target, a write DynamoDB left unprocessed) and ``on_error``
decides what happens to them. Anything else (the table is missing, throttling outlasted the
retries) aborts the run; with a checkpoint the run resumes where the last written page ended.

Idempotency. Re-running a migration must not corrupt items it already migrated:

- same table: an item that no longer decodes as the source but decodes as the target is
  skipped as *already migrated*; a result whose stored form equals the stored item is
  *unchanged* and not rewritten. When the target can also read source items (its new fields
  all have defaults), give both models a ``Literal`` schema-version field so migrated items
  stop decoding as the source; otherwise the transform runs on them again and must map a
  migrated item to itself.
- another table: the target items are put again with the same content (the transform is
  expected to be deterministic), which overwrites them with themselves.

Reading. The source is read like any other scan, through the read path:
``db.scan(source).consistent().page_size(page_size).segments(segments)``, each segment's
pager started after its checkpointed key (:mod:`.._read.source`); consistent, so a page sees
every write acknowledged before it was read. Segments run as one fan-out
(:func:`.._fanout.fan_out`); requests are bounded by the Session alone.

Resume. A checkpoint file (:mod:`.checkpoint`) records, per segment, the ``LastEvaluatedKey``
of the last page whose writes DynamoDB confirmed, and ``done`` for finished segments. A resumed
run skips finished segments and restarts the others after their last checkpointed page, so
only the pages that were in flight when the run stopped are read and transformed again (and,
by the rules above, written again harmlessly). Items that failed in a checkpointed page are in
the first run's report, not retried by the resumed run.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import anyio.to_thread

from .._checks import whole_number
from .._errors import BatchWriteError, DynamormError, ItemDecodeError, ValidationError
from .._fanout import fan_out, leaves
from .._model.model import Model, ModelInfo, model_info
from .._read.builders import read_source
from .._read.item import get_item
from .._read.pager import ItemPager
from .._wire.taggers import AttributeValue, Item
from .._wire.values import canonical
from .checkpoint import Checkpoint, SegmentState, identity
from .report import MigrationError, MigrationProgress, MigrationReport

if TYPE_CHECKING:
    from .._session import Session

__all__ = ["OnError", "migrate"]

S = TypeVar("S", bound=Model)
T = TypeVar("T", bound=Model)

OnError = Literal["collect", "skip", "stop"]
_ON_ERROR = ("collect", "skip", "stop")


async def migrate(
    db: Session,
    *,
    source: type[S],
    target: type[T],
    transform: Callable[[S], T | Awaitable[T | None] | None],
    dry_run: bool = False,
    segments: int = 4,
    on_error: OnError = "collect",
    checkpoint: str | os.PathLike[str] | None = None,
    allow_key_change: bool = False,
    sample_size: int = 3,
    page_size: int = 1000,
    progress: Callable[[MigrationProgress], None] | None = None,
) -> MigrationReport[S, T]:
    """Rewrite every item of ``source``'s table as ``target``, through ``transform``.

    ``transform`` (sync or async) gets a source instance and returns a target instance, or None
    to leave the item alone. Results are validated against ``target`` before anything is written;
    pages are written with the batch executor. ``segments`` parallel-scan segments run
    concurrently (their scans bounded by the Session's ``max_concurrency``), reading
    ``page_size`` items per call. ``on_error``: ``"collect"`` records failed keys with reasons,
    ``"skip"`` only counts them, ``"stop"`` raises :class:`MigrationError` at the first one.
    ``dry_run`` reads and transforms but writes nothing (no table, no checkpoint); the report
    says what would change. An in-place migration (same table) may change an item's key only
    with ``allow_key_change``: the old item is deleted after the new one is written, and a new
    key that holds a different item fails that item instead of overwriting it. ``checkpoint``
    names a JSON file that makes the run resumable. ``progress`` is called after every page.
    """
    if on_error not in _ON_ERROR:
        raise ValidationError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    whole_number("sample_size", sample_size, minimum=0)
    if dry_run and checkpoint is not None:
        raise ValidationError(
            "a dry run writes nothing, not even a checkpoint: drop checkpoint= (or dry_run)"
        )
    options = _Options(
        source=source, target=target, transform=transform, dry_run=dry_run, segments=segments,
        on_error=on_error, allow_key_change=allow_key_change, sample_size=sample_size,
        page_size=page_size, progress=progress,
    )
    run = _Migration(db, options)
    if checkpoint is not None:
        run.checkpoint = await anyio.to_thread.run_sync(
            Checkpoint.open, Path(checkpoint), run.identity(), segments
        )
    return await run.run()


@dataclass(frozen=True, slots=True)
class _Options(Generic[S, T]):
    """What :func:`migrate` was asked to do."""

    source: type[S]
    target: type[T]
    transform: Callable[[S], T | Awaitable[T | None] | None]
    dry_run: bool
    segments: int
    on_error: OnError
    allow_key_change: bool
    sample_size: int
    page_size: int
    progress: Callable[[MigrationProgress], None] | None


def _same_item(a: Mapping[str, AttributeValue], b: Mapping[str, AttributeValue]) -> bool:
    return a.keys() == b.keys() and all(canonical(a[k]) == canonical(b[k]) for k in a)


def _key_token(key: Mapping[str, AttributeValue]) -> tuple[Any, ...]:
    return tuple(sorted((name, canonical(av)) for name, av in key.items()))


@dataclass(slots=True, eq=False)
class _Write:
    """A validated result waiting to be written."""

    key: dict[str, Any]  # the source item's key, as reported
    before: Any  # the source instance
    after: Any  # the target instance
    item: Item
    new_key: Item
    old_key: Item | None  # the source key to delete after the write (in-place key change)


class _Stop(Exception):
    """Raised inside a segment to stop the run at the first failure (on_error="stop")."""


class _Migration(Generic[S, T]):
    """One run of :func:`migrate`: its options, its report and the state shared by segments."""

    def __init__(self, db: Session, options: _Options[S, T]) -> None:
        self.db = db
        self.options = options
        self.src: ModelInfo = model_info(options.source)
        self.tgt: ModelInfo = model_info(options.target)
        self.source_table = db.table_name(options.source)
        self.target_table = db.table_name(options.target)
        self.in_place = self.source_table == self.target_table
        if self.in_place:
            self._check_key_schema()
        scan = db.scan(options.source).consistent().page_size(options.page_size)
        self.read = read_source(scan.segments(options.segments))
        self.checkpoint: Checkpoint | None = None
        self.report: MigrationReport[S, T] = MigrationReport(
            source=options.source, target=options.target, source_table=self.source_table,
            target_table=self.target_table, dry_run=options.dry_run, segments=options.segments,
        )
        # New keys this run wrote in place: never deleted as "old" keys, never re-migrated.
        self.moved: set[tuple[Any, ...]] = set()
        self.segments_done = 0
        self.completed = 0
        self.started = 0.0

    def identity(self) -> dict[str, Any]:
        """What names this migration in a checkpoint file."""
        return identity(
            self.options.source,
            self.source_table,
            self.options.target,
            self.target_table,
            self.options.segments,
        )

    def _check_key_schema(self) -> None:
        def schema(info: ModelInfo) -> str:
            keys = info.key_attributes
            return ", ".join(f"{a} ({info.by_attribute[a].kind.value})" for a in keys)

        if schema(self.src) != schema(self.tgt):
            raise ValidationError(
                f"{self.options.source.__name__} and {self.options.target.__name__} share table "
                f"{self.source_table!r} but not its key schema ({schema(self.src)} vs "
                f"{schema(self.tgt)}); a table's key schema cannot change in place: migrate "
                "into a new table instead"
            )

    async def run(self) -> MigrationReport[S, T]:
        self.started = time.monotonic()
        states = (
            self.checkpoint.states
            if self.checkpoint is not None
            else [SegmentState() for _ in range(self.options.segments)]
        )
        self.report.resumed_segments = self.segments_done = sum(s.done for s in states)
        pagers = self.read.pagers(start_keys=[state.start_key for state in states])
        left = [
            (index, pager)
            for index, (state, pager) in enumerate(zip(states, pagers, strict=True))
            if not state.done
        ]
        try:
            # A missing source fails here, before a target table is created for nothing.
            await self.db.describe_table(self.options.source)
            if not self.options.dry_run and not self.in_place:
                await self.db.ensure_table(self.options.target)
            await fan_out(left, self._segment, workers=len(left))
        except (_Stop, BaseExceptionGroup) as exc:
            found = leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
            if not any(isinstance(e, _Stop) for e in found):
                raise
            key, reason = self.report.failed[-1]
            raise MigrationError(
                f"migration stopped at its first failed item: {reason}",
                report=self.report,
                table=self.source_table,
                key=key,
            ) from None
        finally:
            self.report.duration = time.monotonic() - self.started
        return self.report

    async def _segment(self, job: tuple[int, ItemPager]) -> None:
        """Migrate one segment page by page, checkpointing each page once it is written."""
        index, pager = job
        async for items, last_key in pager.pages():
            await self._page(items)
            # Migrated: let the page go before the next one is read (one page per segment).
            del items
            if self.checkpoint is not None:
                await self.checkpoint.advance(index, last_key)
            if last_key is None:
                self.segments_done += 1
            self._notify()

    def _notify(self) -> None:
        if self.options.progress is None:
            return
        r = self.report
        self.options.progress(
            MigrationProgress(
                scanned=r.scanned, completed=self.completed, transformed=r.transformed,
                written=r.written, skipped=r.skipped, failed=r.failed_count,
                segments_done=self.segments_done, segments=r.segments,
                elapsed=time.monotonic() - self.started,
            )
        )

    def _fail(self, key: dict[str, Any], reason: str) -> None:
        self.report.failed_count += 1
        if self.options.on_error != "skip":
            self.report.failed.append((key, reason))
        if self.options.on_error == "stop":
            raise _Stop(reason)

    # --- one page --------------------------------------------------------------------------

    async def _page(self, raw_items: Sequence[Item]) -> None:
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
                    write.key,
                    f"maps to target key {self.tgt.key_dict(write.new_key)}, as "
                    f"{first.key} does; not written, to keep {first.key}'s result",
                )
                continue
            seen[token] = write
            writes.append(write)
        if self.in_place and any(w.old_key is not None for w in writes):
            writes = await self._check_new_keys_free(writes)
        self.report.changed += len(writes)
        room = self.options.sample_size - len(self.report.samples)
        if room > 0:
            self.report.samples.extend((w.before, w.after) for w in writes[:room])
        if not self.options.dry_run and writes:
            written = await self._put(writes)
            moved = [(w, w.old_key) for w in written if w.old_key is not None]
            if moved:
                self.moved.update(_key_token(w.new_key) for w, _ in moved)
                # An old key that another item of this run moved onto now holds that item.
                await self._delete_old(
                    [(w, old) for w, old in moved if _key_token(old) not in self.moved]
                )
        self.completed += len(raw_items)

    async def _item(self, raw: Item) -> _Write | None:
        """Decode, transform and validate one item; None when there is nothing to write."""
        report = self.report
        report.scanned += 1
        src_key = {a: raw[a] for a in self.src.key_attributes if a in raw}
        key = self.src.key_dict(src_key)
        if self.in_place and _key_token(src_key) in self.moved:
            report.skipped += 1
            report.already_migrated += 1
            return None
        try:
            before = self.src.decode(raw)
        except ItemDecodeError as exc:
            if self.in_place and self._decodes_as_target(raw):
                report.skipped += 1
                report.already_migrated += 1
            else:
                self._fail(key, f"does not decode as {self.options.source.__name__}: {_why(exc)}")
            return None
        try:
            outcome = self.options.transform(before)
            after = await outcome if inspect.isawaitable(outcome) else outcome
        except Exception as exc:
            self._fail(key, f"transform failed: {type(exc).__name__}: {exc}")
            return None
        if after is None:
            report.skipped += 1
            return None
        if not isinstance(after, self.options.target):
            self._fail(
                key,
                f"transform returned {type(after).__name__}, expected "
                f"{self.options.target.__name__} or None",
            )
            return None
        try:
            # The encoder accepts exactly what reads back, so a stored result always decodes.
            item = self.tgt.encode_checked(after)
        except ValidationError as exc:
            name = self.options.target.__name__
            where = exc.message if exc.message.startswith(name) else f"{name}: {exc.message}"
            self._fail(key, f"result does not fit {where}")
            return None
        report.transformed += 1
        new_key = {a: item[a] for a in self.tgt.key_attributes}
        old_key: Item | None = None
        if self.in_place:
            if _same_item(item, raw):
                report.unchanged += 1
                return None
            if _key_token(new_key) != _key_token(src_key):
                if not self.options.allow_key_change:
                    self._fail(
                        key,
                        f"transform changed the key to {self.tgt.key_dict(new_key)}; an in-place "
                        "migration keeps keys unless allow_key_change=True",
                    )
                    return None
                old_key = src_key
        return _Write(key, before, after, item, new_key, old_key)

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

        async def look(write: _Write) -> None:
            existing = await get_item(
                self.db, self.options.target, write.new_key, consistent=True
            )
            if existing is not None and not _same_item(existing, write.item):
                occupied.add(write)

        moving = [write for write in writes if write.old_key is not None]
        await fan_out(moving, look, workers=self.db.max_concurrency)
        for write in writes:
            if write in occupied:
                self._fail(
                    write.key,
                    f"new key {self.tgt.key_dict(write.new_key)} already holds a different "
                    "item; not overwritten",
                )
        return [write for write in writes if write not in occupied]

    async def _put(self, writes: list[_Write]) -> list[_Write]:
        """Write the page; returns the writes DynamoDB confirmed."""
        try:
            await self.db.batch_put([w.after for w in writes])
        except BatchWriteError as exc:
            left = {id(obj) for obj in exc.unprocessed}
            done = [w for w in writes if id(w.after) not in left]
            self.report.written += len(done)
            for w in writes:
                if id(w.after) in left:
                    self._fail(w.key, f"not written: {exc.message}")
            return done
        self.report.written += len(writes)
        return writes

    async def _delete_old(self, moved: list[tuple[_Write, Item]]) -> None:
        """Delete the old items of writes that moved to a new key (after they were written)."""
        if not moved:
            return
        keys = [self.src.key_dict(old) for _, old in moved]
        try:
            await self.db.batch_delete(self.options.source, keys)
        except BatchWriteError as exc:
            self.report.deleted += len(moved) - len(exc.unprocessed)
            for (w, _), key in zip(moved, keys, strict=True):
                if any(key is left for left in exc.unprocessed):
                    self._fail(
                        w.key,
                        f"written under {self.tgt.key_dict(w.new_key)}, but the old item was "
                        f"not deleted: {exc.message}",
                    )
            return
        self.report.deleted += len(moved)


def _why(exc: DynamormError) -> str:
    """The codec's own message (msgspec's names the field), without our wrapper's prefix."""
    cause = exc.__cause__
    return str(cause) if cause is not None else exc.message
