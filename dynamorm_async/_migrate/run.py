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

Resume. A checkpoint file records, per segment, the ``LastEvaluatedKey`` of the last page whose
writes DynamoDB confirmed, and ``done`` for finished segments. A resumed run skips finished
segments and restarts the others after their last checkpointed page, so only the pages that
were in flight when the run stopped are read and transformed again (and, by the rules above,
written again harmlessly). Items that failed in a checkpointed page are in the first run's
report, not retried by the resumed run.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import anyio
import anyio.to_thread

from .._checks import whole_number
from .._errors import BatchWriteError, DynamormError, ItemDecodeError, ValidationError
from .._model.model import Model, ModelInfo, model_info
from .._wire.taggers import AttributeValue, Item
from .._wire.values import canonical

if TYPE_CHECKING:
    from .._session import Session

__all__ = [
    "MigrationError",
    "MigrationProgress",
    "MigrationReport",
    "OnError",
    "migrate",
]

S = TypeVar("S", bound=Model)
T = TypeVar("T", bound=Model)

OnError = Literal["collect", "skip", "stop"]
_ON_ERROR = ("collect", "skip", "stop")
_CHECKPOINT_FORMAT = 1
_MAX_SEGMENTS = 1_000_000


class MigrationError(DynamormError):
    """A migration stopped (``on_error="stop"``) at its first failed item.

    ``report`` holds what the run did before it stopped, the failure included in
    ``report.failed``. Fix the transform (or the item) and run again; with a checkpoint the run
    resumes from the last page written before the failure.
    """

    def __init__(self, message: str, *, report: MigrationReport[Any, Any], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.report = report


@dataclass(frozen=True, slots=True)
class MigrationProgress:
    """A snapshot of a running migration, passed to the ``progress`` callback after each page."""

    scanned: int
    completed: int
    """Items of finished pages: written, skipped, unchanged or failed for good."""
    transformed: int
    written: int
    skipped: int
    failed: int
    segments_done: int
    segments: int
    elapsed: float

    @property
    def rate(self) -> float:
        """Items scanned per second so far."""
        return self.scanned / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(slots=True)
class MigrationReport(Generic[S, T]):
    """What a migration did (or, with ``dry_run``, would do).

    Every scanned item ends in one of: ``skipped`` (the transform returned None, or
    ``already_migrated``), ``unchanged`` (its new form equals the stored item, so nothing is
    written), ``changed`` (written, or to be written in a dry run) or failed. ``failed`` lists
    ``(key, reason)`` pairs (``on_error="collect"`` or ``"stop"``); ``failed_count`` counts
    failures in every mode. An item whose write failed counts as changed and as failed.
    ``samples`` holds up to ``sample_size`` ``(before, after)`` pairs of changed items.
    """

    source: type[S]
    target: type[T]
    source_table: str
    target_table: str
    dry_run: bool
    segments: int
    scanned: int = 0
    transformed: int = 0
    unchanged: int = 0
    changed: int = 0
    written: int = 0
    deleted: int = 0
    skipped: int = 0
    already_migrated: int = 0
    failed: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    failed_count: int = 0
    samples: list[tuple[S, T]] = field(default_factory=list)
    resumed_segments: int = 0
    duration: float = 0.0

    @property
    def items_per_second(self) -> float:
        """Items scanned per second over the whole run."""
        return self.scanned / self.duration if self.duration > 0 else 0.0

    @property
    def ok(self) -> bool:
        """True when no item failed."""
        return self.failed_count == 0

    def summary(self) -> str:
        """One line for logs: the counts, the time taken and the rate."""
        verb = "would write" if self.dry_run else "wrote"
        written = self.changed if self.dry_run else self.written
        parts = [
            f"{'dry run: ' if self.dry_run else ''}{self.source.__name__} "
            f"({self.source_table}) -> {self.target.__name__} ({self.target_table}):",
            f"scanned {self.scanned},",
            f"transformed {self.transformed},",
            f"{verb} {written},",
            f"unchanged {self.unchanged},",
            f"skipped {self.skipped} ({self.already_migrated} already migrated),",
        ]
        if self.deleted:
            parts.append(f"deleted {self.deleted} old keys,")
        parts.append(f"failed {self.failed_count}")
        resumed = f", {self.resumed_segments} segments done before" if self.resumed_segments else ""
        return (
            " ".join(parts)
            + f" in {self.duration:.1f}s ({self.items_per_second:,.0f} items/s{resumed})"
        )


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
    whole_number("segments", segments, maximum=_MAX_SEGMENTS)
    whole_number("page_size", page_size)
    whole_number("sample_size", sample_size, minimum=0)
    if dry_run and checkpoint is not None:
        raise ValidationError(
            "a dry run writes nothing, not even a checkpoint: drop checkpoint= (or dry_run)"
        )
    run = _Migration(
        db,
        source=source,
        target=target,
        transform=transform,
        dry_run=dry_run,
        segments=segments,
        on_error=on_error,
        allow_key_change=allow_key_change,
        sample_size=sample_size,
        page_size=page_size,
        progress=progress,
    )
    if checkpoint is not None:
        run.checkpoint = await anyio.to_thread.run_sync(
            _Checkpoint.open, Path(checkpoint), run.identity(), segments
        )
    return await run.run()


# --- checkpoint --------------------------------------------------------------------------------


@dataclass(slots=True)
class _SegmentState:
    start_key: Item | None = None
    done: bool = False


class _Checkpoint:
    """Per-segment progress in a JSON file, replaced atomically after every page."""

    def __init__(self, path: Path, identity: dict[str, Any], states: list[_SegmentState]) -> None:
        self.path = path
        self.identity = identity
        self.states = states
        self._lock = anyio.Lock()

    @classmethod
    def open(cls, path: Path, identity: dict[str, Any], segments: int) -> _Checkpoint:
        """Load the file when it exists (it must belong to this migration), else start fresh."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path, identity, [_SegmentState() for _ in range(segments)])
        try:
            data = json.loads(text)
            found = {k: data[k] for k in identity}
            states = [
                _SegmentState(start_key=s.get("last_evaluated_key"), done=bool(s["done"]))
                for s in data["segments_state"]
            ]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValidationError(
                f"{path} is not a migration checkpoint ({type(exc).__name__}: {exc}); "
                "delete it or choose another checkpoint file"
            ) from exc
        if found != identity or len(states) != segments:
            diff = ", ".join(
                f"{k}: {found[k]!r} in the file, {identity[k]!r} now"
                for k in identity
                if found[k] != identity[k]
            )
            raise ValidationError(
                f"checkpoint {path} belongs to another migration ({diff}); resume with the "
                "same source, target and segments, or delete it to start over"
            )
        return cls(path, identity, states)

    async def advance(self, segment: int, last_key: Item | None) -> None:
        """Record that every item before ``last_key`` (all of them, when None) is migrated."""
        state = self.states[segment]
        state.start_key = last_key
        state.done = last_key is None
        async with self._lock:
            # Not cancellable: a cancelled run still leaves a complete file behind.
            await anyio.to_thread.run_sync(self._write)

    def _write(self) -> None:
        data = dict(self.identity)
        data["segments_state"] = [
            {"done": s.done, "last_evaluated_key": s.start_key} for s in self.states
        ]
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with temp.open("w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, self.path)


# --- the run -----------------------------------------------------------------------------------


def _same_item(a: Mapping[str, AttributeValue], b: Mapping[str, AttributeValue]) -> bool:
    return a.keys() == b.keys() and all(canonical(a[k]) == canonical(b[k]) for k in a)


def _key_token(key: Mapping[str, AttributeValue]) -> tuple[Any, ...]:
    return tuple(sorted((name, canonical(av)) for name, av in key.items()))


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


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
    """One run of :func:`migrate`: its settings, its report and the state shared by segments."""

    def __init__(
        self,
        db: Session,
        *,
        source: type[S],
        target: type[T],
        transform: Callable[[S], T | Awaitable[T | None] | None],
        dry_run: bool,
        segments: int,
        on_error: OnError,
        allow_key_change: bool,
        sample_size: int,
        page_size: int,
        progress: Callable[[MigrationProgress], None] | None,
    ) -> None:
        self.db = db
        self.source = source
        self.target = target
        self.src: ModelInfo = model_info(source)
        self.tgt: ModelInfo = model_info(target)
        self.source_table = db.table_name(source)
        self.target_table = db.table_name(target)
        self.in_place = self.source_table == self.target_table
        self.transform = transform
        self.dry_run = dry_run
        self.segments = segments
        self.on_error = on_error
        self.allow_key_change = allow_key_change
        self.sample_size = sample_size
        self.page_size = page_size
        self.progress = progress
        self.checkpoint: _Checkpoint | None = None
        self.report: MigrationReport[S, T] = MigrationReport(
            source=source,
            target=target,
            source_table=self.source_table,
            target_table=self.target_table,
            dry_run=dry_run,
            segments=segments,
        )
        # New keys this run wrote in place: never deleted as "old" keys, never re-migrated.
        self.moved: set[tuple[Any, ...]] = set()
        self.segments_done = 0
        self.completed = 0
        self.started = 0.0
        if self.in_place:
            self._check_key_schema()

    def identity(self) -> dict[str, Any]:
        return {
            "format": _CHECKPOINT_FORMAT,
            "source": _qualname(self.source),
            "source_table": self.source_table,
            "target": _qualname(self.target),
            "target_table": self.target_table,
            "segments": self.segments,
        }

    def _check_key_schema(self) -> None:
        def schema(info: ModelInfo) -> str:
            keys = info.key_attributes
            return ", ".join(f"{a} ({info.by_attribute[a].kind.value})" for a in keys)

        if schema(self.src) != schema(self.tgt):
            raise ValidationError(
                f"{self.source.__name__} and {self.target.__name__} share table "
                f"{self.source_table!r} but not its key schema ({schema(self.src)} vs "
                f"{schema(self.tgt)}); a table's key schema cannot change in place: migrate "
                "into a new table instead"
            )

    async def run(self) -> MigrationReport[S, T]:
        self.started = time.monotonic()
        states = (
            self.checkpoint.states
            if self.checkpoint is not None
            else [_SegmentState() for _ in range(self.segments)]
        )
        self.report.resumed_segments = self.segments_done = sum(s.done for s in states)
        try:
            # A missing source fails here, before a target table is created for nothing.
            await self.db.describe_table(self.source)
            if not self.dry_run and not self.in_place:
                await self.db.ensure_table(self.target)
            async with anyio.create_task_group() as tg:
                for index, state in enumerate(states):
                    if not state.done:
                        tg.start_soon(self._segment, index, state.start_key)
        except BaseExceptionGroup as group:
            leaves = _leaves(group)
            if any(isinstance(e, _Stop) for e in leaves):
                key, reason = self.report.failed[-1]
                raise MigrationError(
                    f"migration stopped at its first failed item: {reason}",
                    report=self.report,
                    table=self.source_table,
                    key=key,
                ) from None
            if len(leaves) == 1:
                raise leaves[0] from leaves[0].__cause__
            raise
        finally:
            self.report.duration = time.monotonic() - self.started
        return self.report

    async def _segment(self, index: int, start_key: Item | None) -> None:
        payload: dict[str, Any] = {
            "TableName": self.source_table,
            "Segment": index,
            "TotalSegments": self.segments,
            "Limit": self.page_size,
            # A migration must see every write acknowledged before it read the page.
            "ConsistentRead": True,
        }
        while True:
            if start_key is not None:
                payload["ExclusiveStartKey"] = start_key
            response = await self.db.call("Scan", payload, table=self.source_table)
            await self._page(response.get("Items", []))
            start_key = response.get("LastEvaluatedKey")
            if self.checkpoint is not None:
                await self.checkpoint.advance(index, start_key)
            if start_key is None:
                self.segments_done += 1
            self._notify()
            if start_key is None:
                return

    def _notify(self) -> None:
        if self.progress is None:
            return
        r = self.report
        self.progress(
            MigrationProgress(
                scanned=r.scanned,
                completed=self.completed,
                transformed=r.transformed,
                written=r.written,
                skipped=r.skipped,
                failed=r.failed_count,
                segments_done=self.segments_done,
                segments=self.segments,
                elapsed=time.monotonic() - self.started,
            )
        )

    def _fail(self, key: dict[str, Any], reason: str) -> None:
        self.report.failed_count += 1
        if self.on_error != "skip":
            self.report.failed.append((key, reason))
        if self.on_error == "stop":
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
        room = self.sample_size - len(self.report.samples)
        if room > 0:
            self.report.samples.extend((w.before, w.after) for w in writes[:room])
        if not self.dry_run and writes:
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
                self._fail(key, f"does not decode as {self.source.__name__}: {_why(exc)}")
            return None
        try:
            outcome = self.transform(before)
            after = await outcome if inspect.isawaitable(outcome) else outcome
        except Exception as exc:
            self._fail(key, f"transform failed: {type(exc).__name__}: {exc}")
            return None
        if after is None:
            report.skipped += 1
            return None
        if not isinstance(after, self.target):
            self._fail(
                key,
                f"transform returned {type(after).__name__}, expected {self.target.__name__} "
                "or None",
            )
            return None
        try:
            # The encoder accepts exactly what reads back, so a stored result always decodes.
            item = self.tgt.encode_checked(after)
        except ValidationError as exc:
            name = self.target.__name__
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
                if not self.allow_key_change:
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
        occupied: dict[int, Item] = {}

        async def look(position: int, write: _Write) -> None:
            response = await self.db.call(
                "GetItem",
                {"TableName": self.target_table, "Key": write.new_key, "ConsistentRead": True},
                table=self.target_table,
                key=self.tgt.key_dict(write.new_key),
            )
            existing = response.get("Item")
            if existing is not None and not _same_item(existing, write.item):
                occupied[position] = existing

        async with anyio.create_task_group() as tg:
            for position, write in enumerate(writes):
                if write.old_key is not None:
                    tg.start_soon(look, position, write)
        kept: list[_Write] = []
        for position, write in enumerate(writes):
            if position in occupied:
                self._fail(
                    write.key,
                    f"new key {self.tgt.key_dict(write.new_key)} already holds a different "
                    "item; not overwritten",
                )
            else:
                kept.append(write)
        return kept

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
            await self.db.batch_delete(self.source, keys)
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


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out.extend(_leaves(exc))
        else:
            out.append(exc)
    return out
