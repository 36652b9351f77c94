"""Where a migration keeps its progress: the store protocol, no store, and the checkpoint file.

A segment asks its :class:`SegmentStore` where to start (:meth:`~SegmentStore.claim`), names the
keys of a page before writing it (:meth:`~SegmentStore.pending`) and records every page once
its writes are confirmed (:meth:`~SegmentStore.advance`). :data:`NO_CHECKPOINT` keeps nothing;
:class:`Checkpoint` is the file of a single-machine run; the table every worker can reach is
:class:`~.table_checkpoint.TableCheckpoint`.

The checkpoint file is JSON, replaced atomically after every page a segment finished::


    {"format": 1, "source": "app.models.UserV1", "source_table": "users",
     "target": "app.models.UserV2", "target_table": "users", "segments": 4,
     "segments_state": [{"done": false, "last_evaluated_key": {"id": {"S": "u00042"}}}, ...]}

The first six entries say which migration it belongs to; resuming another migration from it
is a ValidationError.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.to_thread

from .._errors import ValidationError
from .._wire.taggers import Item
from .report import SegmentReport

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = [
    "CHECKPOINT_FORMAT",
    "NO_CHECKPOINT",
    "Checkpoint",
    "CheckpointSource",
    "Claim",
    "SegmentState",
    "SegmentStore",
    "identity",
]

CHECKPOINT_FORMAT = 1


def identity(
    source: type, source_table: str, target: type, target_table: str, segments: int
) -> dict[str, Any]:
    """What names a migration in its checkpoint file."""
    return {
        "format": CHECKPOINT_FORMAT,
        "source": _qualname(source),
        "source_table": source_table,
        "target": _qualname(target),
        "target_table": target_table,
        "segments": segments,
    }


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass(slots=True)
class SegmentState:
    """Where a segment's next page starts (None: at the start), and whether it is done."""

    start_key: Item | None = None
    done: bool = False


@dataclass(slots=True)
class Claim:
    """Where a segment starts, as its store knows it.

    ``report`` holds what the run already did in the segment (a segment taken over from a
    worker that died) and ``failures`` its failed wire keys with reasons; ``replayed`` the key
    digests of the page that worker was writing, whose items the new owner finds already
    written and counts as this run's writes.
    """

    start_key: Item | None
    report: SegmentReport
    replayed: frozenset[bytes] = field(default_factory=frozenset)
    failures: list[tuple[Item, str]] = field(default_factory=list)


class SegmentStore(Protocol):
    """Where the segments of one run keep their progress."""

    async def claim(self, segment: int, start_key: Item | None) -> Claim:
        """Take the segment; ``start_key`` is where the caller would start it."""
        ...

    async def pending(self, segment: int, keys: Sequence[bytes]) -> None:
        """Record the key digests of the page about to be written."""
        ...

    async def advance(
        self,
        segment: int,
        last_key: Item | None,
        report: SegmentReport,
        failures: Sequence[tuple[Item, str]],
    ) -> None:
        """Record a written page: everything before ``last_key`` is migrated (all when None);
        ``report`` is the segment's state after it, ``failures`` the page's failed keys."""
        ...


class CheckpointSource(Protocol):
    """What a migration's ``checkpoint`` becomes in each process: its store there."""

    async def store(self, context: ExecutionContext, run: str) -> SegmentStore:
        """The store of run ``run``, reached through ``context``."""
        ...


class _NoCheckpoint:
    """Keeps nothing: every segment starts where the caller says."""

    async def store(self, context: ExecutionContext, run: str) -> SegmentStore:
        return self

    async def claim(self, segment: int, start_key: Item | None) -> Claim:
        return Claim(start_key, SegmentReport(segment))

    async def pending(self, segment: int, keys: Sequence[bytes]) -> None:
        return None

    async def advance(
        self,
        segment: int,
        last_key: Item | None,
        report: SegmentReport,
        failures: Sequence[tuple[Item, str]],
    ) -> None:
        return None


NO_CHECKPOINT = _NoCheckpoint()


class Checkpoint(_NoCheckpoint):
    """Per-segment progress in a JSON file, replaced atomically after every page.

    One machine only: the file is this process's, so a run that keeps its progress in it runs
    its segments here (``LocalRunner``).
    """

    def __init__(self, path: Path, identity: dict[str, Any], states: list[SegmentState]) -> None:
        self.path = path
        self.identity = identity
        self.states = states
        self._lock = anyio.Lock()

    @classmethod
    def open(cls, path: Path, identity: dict[str, Any], segments: int) -> Checkpoint:
        """Load the file when it exists (it must belong to this migration), else start fresh."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path, identity, [SegmentState() for _ in range(segments)])
        try:
            data = json.loads(text)
            found = {k: data[k] for k in identity}
            states = [
                SegmentState(start_key=s.get("last_evaluated_key"), done=bool(s["done"]))
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

    def start_keys(self) -> list[Item | None]:
        """Where each segment starts (None: at its beginning)."""
        return [state.start_key for state in self.states]

    async def advance(
        self,
        segment: int,
        last_key: Item | None,
        report: SegmentReport,
        failures: Sequence[tuple[Item, str]],
    ) -> None:
        """Record that every item before ``last_key`` (all of them, when None) is migrated;
        the counters stay in the caller's report."""
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
