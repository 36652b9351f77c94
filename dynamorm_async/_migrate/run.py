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
every write acknowledged before it was read.

Running. Each segment is a job of a :class:`~.._runner.Runner` (:mod:`.segment` does its
pages). The default :class:`~.._runner.LocalRunner` runs them as one fan-out in this process,
bounded by the Session alone; ``DaskRunner`` runs one Dask task per segment, each with a
Session of its own built from this one's options. Segment reports add up into the run's report;
progress events (one per page and segment) add up into the ``progress`` snapshots.

Resume. A checkpoint (a file, :mod:`.checkpoint`, or a table every worker can reach,
:mod:`.table_checkpoint`) records, per segment, the ``LastEvaluatedKey`` of the last page whose
writes DynamoDB confirmed, and ``done`` for finished segments. A resumed run skips finished
segments and restarts the others after their last checkpointed page, so only the pages that
were in flight when the run stopped are read and transformed again (and, by the rules above,
written again harmlessly). Items that failed in a checkpointed page are in the first run's
report, not retried by the resumed run. A segment whose worker died in the middle of a run is
taken over by another (Dask re-runs the task) from the table checkpoint, with the counters and
failures saved there, so the run's report stays exact.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread

from .._checks import whole_number
from .._errors import ValidationError
from .._fanout import leaves
from .._model.model import Model, ModelInfo, model_info
from .._read.builders import read_source
from .._read.source import ReadSource
from .._runner import LocalRunner, Runner
from .checkpoint import NO_CHECKPOINT, Checkpoint, CheckpointSource, identity
from .report import (
    MigrationError,
    MigrationProgress,
    MigrationReport,
    SegmentReport,
)
from .segment import MigrationWork, OnError, SegmentJob, Stop
from .table_checkpoint import TableCheckpoint

if TYPE_CHECKING:
    from .._session import Session

__all__ = ["OnError", "migrate"]

S = TypeVar("S", bound=Model)
T = TypeVar("T", bound=Model)

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
    checkpoint: str | os.PathLike[str] | TableCheckpoint | None = None,
    allow_key_change: bool = False,
    sample_size: int = 3,
    page_size: int = 1000,
    progress: Callable[[MigrationProgress], None] | None = None,
    runner: Runner | None = None,
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
    names a JSON file, or is a :class:`TableCheckpoint`, that makes the run resumable.
    ``progress`` is called after every page. ``runner`` runs the segments: this process
    (:class:`LocalRunner`, the default) or a cluster (``DaskRunner``).
    """
    runner = _checked_options(
        db, source, target, on_error=on_error, sample_size=sample_size, dry_run=dry_run,
        checkpoint=checkpoint, allow_key_change=allow_key_change, runner=runner,
    )
    source_table, target_table = db.table_name(source), db.table_name(target)
    read = read_source(db.scan(source).consistent().page_size(page_size).segments(segments))
    file = None
    if checkpoint is not None and not isinstance(checkpoint, TableCheckpoint):
        ident = identity(source, source_table, target, target_table, segments)
        file = await anyio.to_thread.run_sync(Checkpoint.open, Path(checkpoint), ident, segments)
    report: MigrationReport[S, T] = MigrationReport(
        source=source, target=target, source_table=source_table, target_table=target_table,
        dry_run=dry_run, segments=segments, sample_size=sample_size,
    )
    work = MigrationWork(
        source=source, target=target, transform=transform, plan=read.plan(),
        run=uuid.uuid4().hex, checkpoint=NO_CHECKPOINT, dry_run=dry_run, on_error=on_error,
        allow_key_change=allow_key_change, sample_size=sample_size,
        in_place=source_table == target_table,
    )
    await _execute(db, runner, work, read, checkpoint, file, report, progress)
    return report


async def _execute(
    db: Session,
    runner: Runner,
    work: MigrationWork,
    read: ReadSource,
    checkpoint: str | os.PathLike[str] | TableCheckpoint | None,
    file: Checkpoint | None,
    report: MigrationReport[Any, Any],
    progress: Callable[[MigrationProgress], None] | None,
) -> None:
    """Prepare the tables and the checkpoint, then run the segments left into ``report``."""
    started = time.monotonic()
    try:
        # A missing source fails here, before a target table is created for nothing.
        await db.describe_table(work.source)
        store, done = await _open_store(db, checkpoint, file, report)
        if not work.dry_run and not work.in_place:
            await db.ensure_table(work.target)
        report.resumed_segments = len(done)
        pagers = read.pagers(start_keys=file.start_keys() if file is not None else None)
        jobs = [
            SegmentJob(index, pager.request, pager.start_key)
            for index, pager in enumerate(pagers)
            if index not in done
        ]
        collector = _Collector(report, progress, started)
        await _run(db, runner, replace(work, checkpoint=store), jobs, collector)
    finally:
        report.duration = time.monotonic() - started


def _checked_options(
    db: Session,
    source: type[Model],
    target: type[Model],
    *,
    on_error: str,
    sample_size: int,
    dry_run: bool,
    checkpoint: str | os.PathLike[str] | TableCheckpoint | None,
    allow_key_change: bool,
    runner: Runner | None,
) -> Runner:
    """ValidationError for options that do not go together; the runner to use."""
    if on_error not in _ON_ERROR:
        raise ValidationError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    whole_number("sample_size", sample_size, minimum=0)
    if dry_run and checkpoint is not None:
        raise ValidationError(
            "a dry run writes nothing, not even a checkpoint: drop checkpoint= (or dry_run)"
        )
    if runner is None:
        runner = LocalRunner()
    elif not isinstance(runner, Runner):
        raise ValidationError(
            f"runner must be a Runner such as LocalRunner() or DaskRunner(client), got "
            f"{type(runner).__name__}"
        )
    if isinstance(checkpoint, str | os.PathLike) and not runner.in_process:
        raise ValidationError(
            f"checkpoint file {os.fspath(checkpoint)!r} is on this machine only, and "
            f"{runner!r} runs segments elsewhere: use checkpoint=TableCheckpoint(name)"
        )
    table = db.table_name(source)
    if table == db.table_name(target):
        _check_key_schema(source, target, table)
        if allow_key_change and not runner.in_process:
            raise ValidationError(
                "an in-place migration that changes keys tracks the keys it moved in one "
                "process: run it with the LocalRunner (drop runner=), or migrate into a new table"
            )
    return runner


def _check_key_schema(source: type[Model], target: type[Model], table: str) -> None:
    def schema(info: ModelInfo) -> str:
        keys = info.key_attributes
        return ", ".join(f"{a} ({info.by_attribute[a].kind.value})" for a in keys)

    src, tgt = model_info(source), model_info(target)
    if schema(src) != schema(tgt):
        raise ValidationError(
            f"{source.__name__} and {target.__name__} share table {table!r} but not its key "
            f"schema ({schema(src)} vs {schema(tgt)}); a table's key schema cannot change in "
            "place: migrate into a new table instead"
        )


async def _open_store(
    db: Session,
    checkpoint: str | os.PathLike[str] | TableCheckpoint | None,
    file: Checkpoint | None,
    report: MigrationReport[Any, Any],
) -> tuple[CheckpointSource, set[int]]:
    """Where the run keeps its progress, and the segments finished before it started."""
    if isinstance(checkpoint, TableCheckpoint):
        r = report
        ident = identity(r.source, r.source_table, r.target, r.target_table, r.segments)
        return await checkpoint.open(db, ident)
    if file is not None:
        return file, {index for index, state in enumerate(file.states) if state.done}
    return NO_CHECKPOINT, set()


async def _run(
    db: Session,
    runner: Runner,
    work: MigrationWork,
    jobs: list[SegmentJob],
    collector: _Collector,
) -> None:
    """Run the jobs; a stop at the first failure becomes MigrationError with the report."""
    models = [work.source] if work.in_place else [work.source, work.target]
    try:
        # One span over every segment's calls, as over any other fan-out's.
        with db.fan_out_span("migrate", models, segments=len(jobs)) as span, span.current():
            await runner.run(db, work, jobs, on_result=collector.result, on_event=collector.event)
    except (Stop, BaseExceptionGroup) as exc:
        found = leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
        stop = next((e for e in found if isinstance(e, Stop)), None)
        if stop is None:
            raise
        report = collector.stopped(stop.report)
        key, reason = stop.report.failed[-1]
        raise MigrationError(
            f"migration stopped at its first failed item: {reason}",
            report=report,
            table=report.source_table,
            key=key,
        ) from None
    collector.finish()


class _Collector:
    """Adds the segments' progress events into snapshots and their reports into the report."""

    def __init__(
        self,
        report: MigrationReport[Any, Any],
        progress: Callable[[MigrationProgress], None] | None,
        started: float,
    ) -> None:
        self.report = report
        self.progress = progress
        self.started = started
        self.latest: dict[int, Mapping[str, int]] = {}
        self.totals: dict[str, int] = {}
        self.finished: dict[int, SegmentReport] = {}

    def event(self, event: Mapping[str, int]) -> None:
        """A segment's counters after a page (an empty event: nothing new, time passed)."""
        if event:
            self._update(event)
        if self.progress is None:
            return
        totals, r = self.totals, self.report
        self.progress(
            MigrationProgress(
                scanned=totals.get("scanned", 0), completed=totals.get("completed", 0),
                transformed=totals.get("transformed", 0), written=totals.get("written", 0),
                skipped=totals.get("skipped", 0), failed=totals.get("failed_count", 0),
                segments_done=r.resumed_segments + totals.get("done", 0), segments=r.segments,
                elapsed=time.monotonic() - self.started,
            )
        )

    def _update(self, event: Mapping[str, int]) -> None:
        segment = event["segment"]
        before = self.latest.get(segment, {})
        totals = self.totals
        for name, value in event.items():
            totals[name] = totals.get(name, 0) + value - before.get(name, 0)
        self.latest[segment] = event

    def result(self, job: SegmentJob, report: SegmentReport) -> None:
        """A finished segment's report (its events may still be on their way)."""
        self.finished[job.segment] = report
        self._update({"segment": job.segment, "done": 1, **report.counts()})

    def finish(self) -> None:
        """Add every segment's report, in segment order, into the run's report."""
        for segment in sorted(self.finished):
            self.finished[segment].add_to(self.report)

    def stopped(self, stop: SegmentReport) -> MigrationReport[Any, Any]:
        """The report of a run stopped by ``stop``'s segment: the finished segments, the
        stopped one, and the others as far as their last event said."""
        self.finished[stop.segment] = stop
        for segment, event in self.latest.items():
            if segment not in self.finished:
                partial = SegmentReport(segment)
                partial.restore(event)
                self.finished[segment] = partial
        self.finish()
        return self.report
