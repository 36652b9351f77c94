"""TableCheckpoint: a migration's progress in a DynamoDB table every worker can reach.

The table (``migrate(..., checkpoint=TableCheckpoint("migration_state"))``; the Session's table
prefix applies) is created on demand. Its hash key ``migration`` names the migration (models
and tables); its range key ``part`` names an item of it:

- ``identity``: what names the migration, as the checkpoint file's first entries; a resumed
  run must match it (the same source, target and segments).
- ``segment#00003``: segment 3's resume key (``LastEvaluatedKey`` of its last written page),
  ``done``, its counters as of that page, the run that owns it and the key digests of the
  page its owner is writing (``pending``).
- ``failed#<run>#00003#<n>#<part>``: the failures (keys and reasons) of the ``n``-th page of
  segment 3 that had any, in parts small enough for one item.

Ownership. A worker takes a segment with a put conditioned on the segment item's ``version``
(the model's :class:`Version`), and conditions every later write on the version it wrote
last. A second worker taking the segment (Dask re-running the task of a worker it lost)
bumps the version, so the first one's next write fails and it stops: two workers never both
own a segment. The new owner of a segment in the same run starts from its counters and
failures, and counts the items of the pending page that it finds already migrated as the
writes they were; a new run starts from the resume key alone, like a checkpoint file.
"""

from __future__ import annotations

import json
import types
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, cast

import msgspec

from .._batch.run import batch_put
from .._errors import ConditionFailed, DistributedError, ValidationError
from .._expressions.functions import begins_with
from .._model.model import HashKey, Model, RangeKey, Version
from .._read.builders import Query
from .._read.item import get_or_none
from .._wire.taggers import Item
from .._write.items import put
from .._write.table_requests import read_table_options
from .._write.tables import ensure_table
from .checkpoint import CheckpointSource, Claim, SegmentStore
from .report import SegmentReport

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = ["TableCheckpoint"]

_IDENTITY = "identity"
_DIGEST = 8  # bytes per key digest in ``pending`` (see .segment.key_digest)
_PART_BYTES = 300_000  # failures per item, under DynamoDB's 400 KB item limit
_CLAIM_ATTEMPTS = 5


class _Record(Model):
    """An item of a checkpoint table; ``part`` says which kind (see the module docstring)."""

    migration: Annotated[str, HashKey()]
    part: Annotated[str, RangeKey()]
    version: Annotated[int, Version()] = 0
    run: str = ""
    owner: str = ""
    done: bool = False
    start_key: str | None = None
    counts: dict[str, int] = msgspec.field(default_factory=dict)
    failure_pages: int = 0
    pending: bytes | None = None
    data: str | None = None


@cache
def _record_model(table: str) -> type[_Record]:
    """The record model of one checkpoint table (a model's table is part of its class)."""
    return cast(type[_Record], types.new_class("CheckpointRecord", (_Record,), {"table": table}))


def _segment_part(segment: int) -> str:
    return f"segment#{segment:05d}"


def _migration_key(ident: dict[str, Any]) -> str:
    return (
        f"{ident['source']}@{ident['source_table']}->{ident['target']}@{ident['target_table']}"
    )


@dataclass(frozen=True, slots=True)
class TableCheckpoint:
    """A migration checkpoint kept in DynamoDB table ``name``, for runs over several machines.

    ``migrate(..., checkpoint=TableCheckpoint("migration_state"))`` records every segment's
    resume key, counters and failures there (the table is created on demand, pay per
    request, with the Session's table prefix), so a worker that takes over a segment and a run
    started again both resume after the last written page. Several migrations may share one
    table. A checkpoint file does the same for a run on one machine.
    """

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError(
                f"TableCheckpoint takes a table name, e.g. TableCheckpoint('migration_state'), "
                f"got {self.name!r}"
            )

    async def open(
        self, context: ExecutionContext, ident: dict[str, Any]
    ) -> tuple[CheckpointSource, set[int]]:
        """Create the table when absent and check it belongs to this migration; returns what
        the workers open their store from and the segments finished before."""
        model = _record_model(self.name)
        billing, _ = read_table_options({})
        await ensure_table(context, model, billing, wait=True)
        migration = _migration_key(ident)
        text = json.dumps(ident, sort_keys=True)
        key = {"migration": migration, "part": _IDENTITY}
        stored = await get_or_none(context, model, key, consistent=True)
        if stored is None:
            await put(context, model(migration=migration, part=_IDENTITY, data=text), None)
        elif stored.data != text:
            raise ValidationError(
                f"checkpoint table {context.table_name(model)!r} holds migration {migration!r} "
                f"with other settings ({stored.data} there, {text} now); resume with the same "
                "source, target and segments, or delete its items to start over"
            )
        segments = (
            Query(context, model)
            .where(model.migration == migration, begins_with(model.part, "segment#"))
            .consistent()
        )
        done = {int(record.part.partition("#")[2]) async for record in segments if record.done}
        return _TableSource(self.name, migration), done


@dataclass(frozen=True, slots=True)
class _TableSource:
    """The checkpoint of one migration in one table: what a worker opens its store from."""

    name: str
    migration: str

    async def store(self, context: ExecutionContext, run: str) -> SegmentStore:
        return _TableStore(context, _record_model(self.name), self.migration, run)


class _TableStore:
    """One process's view of a checkpoint table: the segments it owns and their versions."""

    def __init__(
        self, context: ExecutionContext, model: type[_Record], migration: str, run: str
    ) -> None:
        self.context = context
        self.model = model
        self.migration = migration
        self.run = run
        self.owner = uuid.uuid4().hex
        self.records: dict[int, _Record] = {}

    async def claim(self, segment: int, start_key: Item | None) -> Claim:
        """Take the segment (see the module docstring); its saved state when this run had
        it before."""
        part = _segment_part(segment)
        key = {"migration": self.migration, "part": part}
        for _ in range(_CLAIM_ATTEMPTS):
            found = await get_or_none(self.context, self.model, key, consistent=True)
            record = found if found is not None else self.model(migration=self.migration, part=part)
            same_run = record.run == self.run
            claimed = msgspec.structs.replace(
                record,
                run=self.run,
                owner=self.owner,
                counts=record.counts if same_run else {},
                failure_pages=record.failure_pages if same_run else 0,
                pending=record.pending if same_run else None,
            )
            try:
                self.records[segment] = await put(self.context, claimed, None)
            except ConditionFailed:
                continue  # another worker took it between our read and our write
            return await self._resume(segment, record, same_run)
        raise DistributedError(
            f"segment {segment} of migration {self.migration!r} kept being taken by other "
            "workers: is the same migration running twice? Let one run finish, then resume",
            table=self.context.table_name(self.model),
        )

    async def _resume(self, segment: int, record: _Record, same_run: bool) -> Claim:
        report = SegmentReport(segment, done=record.done)
        start = json.loads(record.start_key) if record.start_key is not None else None
        if not same_run:
            return Claim(start, report)
        report.restore(record.counts)
        pending = record.pending or b""
        replayed = frozenset(pending[i : i + _DIGEST] for i in range(0, len(pending), _DIGEST))
        failures = await self._failures(segment, record.failure_pages)
        return Claim(start, report, replayed, failures)

    async def _failures(self, segment: int, pages: int) -> list[tuple[Item, str]]:
        """The failures saved for the first ``pages`` pages (with failures) of the segment."""
        if pages == 0:
            return []
        model = self.model
        prefix = f"failed#{self.run}#{segment:05d}#"
        query = (
            Query(self.context, model)
            .where(model.migration == self.migration, begins_with(model.part, prefix))
            .consistent()
        )
        found: list[tuple[Item, str]] = []
        async for record in query:
            page = int(record.part.removeprefix(prefix).partition("#")[0])
            if page < pages and record.data is not None:
                found.extend((key, reason) for key, reason in json.loads(record.data))
        return found

    async def pending(self, segment: int, keys: Sequence[bytes]) -> None:
        """Record the digests of the page about to be written (see the module docstring)."""
        record = self.records[segment]
        await self._save(segment, msgspec.structs.replace(record, pending=b"".join(keys)))

    async def advance(
        self,
        segment: int,
        last_key: Item | None,
        report: SegmentReport,
        failures: Sequence[tuple[Item, str]],
    ) -> None:
        """Record a written page: its failures first, then the segment's new state."""
        record = self.records[segment]
        pages = record.failure_pages
        if failures:
            await self._save_failures(segment, pages, failures)
            pages += 1
        await self._save(
            segment,
            msgspec.structs.replace(
                record,
                start_key=json.dumps(last_key) if last_key is not None else None,
                done=last_key is None,
                counts=report.counts(),
                failure_pages=pages,
                pending=None,
            ),
        )

    async def _save_failures(
        self, segment: int, page: int, failures: Sequence[tuple[Item, str]]
    ) -> None:
        # A batch put overwrites: a new owner replaying the page writes the same parts again.
        parts: list[_Record] = []
        chunk: list[tuple[Item, str]] = []
        size = 0
        for failure in failures:
            length = len(json.dumps(failure))
            if chunk and size + length > _PART_BYTES:
                parts.append(self._failure_part(segment, page, len(parts), chunk))
                chunk, size = [], 0
            chunk.append(failure)
            size += length
        parts.append(self._failure_part(segment, page, len(parts), chunk))
        await batch_put(self.context, parts)

    def _failure_part(
        self, segment: int, page: int, index: int, chunk: list[tuple[Item, str]]
    ) -> _Record:
        part = f"failed#{self.run}#{segment:05d}#{page:09d}#{index}"
        return self.model(migration=self.migration, part=part, data=json.dumps(chunk))

    async def _save(self, segment: int, record: _Record) -> None:
        try:
            self.records[segment] = await put(self.context, record, None)
        except ConditionFailed as exc:
            raise DistributedError(
                f"segment {segment} of migration {self.migration!r} was taken over by another "
                "worker (a re-run of this task, or the same migration started twice); this "
                "worker stopped",
                table=self.context.table_name(self.model),
            ) from exc
