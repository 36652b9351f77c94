"""What a migration reports: the final report, each segment's part of it, the progress
snapshots and the stop error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .._errors import DynamormError
from .._model.model import Model

__all__ = ["COUNTS", "MigrationError", "MigrationProgress", "MigrationReport", "SegmentReport"]

S = TypeVar("S", bound=Model)
T = TypeVar("T", bound=Model)

COUNTS = (
    "scanned",
    "completed",
    "transformed",
    "unchanged",
    "changed",
    "written",
    "deleted",
    "skipped",
    "already_migrated",
    "failed_count",
)
"""The counters a segment keeps; all but ``completed`` add up into :class:`MigrationReport`."""
_REPORTED = tuple(name for name in COUNTS if name != "completed")


@dataclass(frozen=True, slots=True)
class MigrationProgress:
    """A snapshot of a running migration, passed to the ``progress`` callback after each page."""

    scanned: int
    """Items read so far."""
    completed: int
    """Items of finished pages: written, skipped, unchanged or failed for good."""
    transformed: int
    """Items the transform turned into valid target items."""
    written: int
    """Items DynamoDB confirmed written."""
    skipped: int
    """Items left alone: the transform returned None, or they were already migrated."""
    failed: int
    """Items that failed (every mode counts them)."""
    segments_done: int
    """Segments read to their end, in this run or (resumed) before it."""
    segments: int
    """Parallel-scan segments of the run."""
    elapsed: float
    """Seconds since the run started."""

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
    sample_size: int = field(default=3, repr=False)
    """How many samples the run keeps (``migrate(sample_size=...)``)."""

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


@dataclass(slots=True)
class SegmentReport:
    """What one parallel-scan segment did: the counters of :data:`COUNTS`, its failures (keys
    and reasons) and its samples. Plain data, so it travels back from a worker process."""

    segment: int
    scanned: int = 0
    completed: int = 0
    transformed: int = 0
    unchanged: int = 0
    changed: int = 0
    written: int = 0
    deleted: int = 0
    skipped: int = 0
    already_migrated: int = 0
    failed_count: int = 0
    failed: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    samples: list[tuple[Any, Any]] = field(default_factory=list)
    done: bool = False

    def counts(self) -> dict[str, int]:
        """The counters, by name (what a checkpoint stores and a progress event carries)."""
        return {name: getattr(self, name) for name in COUNTS}

    def restore(self, counts: Mapping[str, int]) -> None:
        """Start from counters saved earlier (a resumed segment); unknown names are ignored."""
        for name in COUNTS:
            setattr(self, name, int(counts.get(name, 0)))

    def add_to(self, report: MigrationReport[Any, Any]) -> None:
        """Add this segment's part to ``report``: counters, failures, samples up to its size."""
        for name in _REPORTED:
            setattr(report, name, getattr(report, name) + getattr(self, name))
        report.failed.extend(self.failed)
        room = report.sample_size - len(report.samples)
        if room > 0:
            report.samples.extend(self.samples[:room])


class MigrationError(DynamormError):
    """A migration stopped (``on_error="stop"``) at its first failed item.

    ``report`` holds what the run did before it stopped, the failure included in
    ``report.failed``. Fix the transform (or the item) and run again; with a checkpoint the run
    resumes from the last page written before the failure.
    """

    def __init__(self, message: str, *, report: MigrationReport[Any, Any], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.report = report
