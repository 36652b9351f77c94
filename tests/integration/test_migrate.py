"""Migrations against DynamoDB Local: in place and across tables, dry run, kill and resume."""

from __future__ import annotations

import itertools
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import anyio.lowlevel
import msgspec
import pytest

from dynamorm_async import GlobalIndex, HashKey, Model, RequestEvent, Session
from dynamorm_async._migrate.converters import (
    Reshape,
    parse_datetime,
    to_decimal,
    to_epoch,
    to_int,
    to_set,
)
from dynamorm_async._migrate.report import MigrationProgress
from dynamorm_async._migrate.run import migrate
from dynamorm_async.testing import local_session
from tests.wire_items import canonical_dump, raw_scan

pytestmark = pytest.mark.timeout(120)

START = datetime(2024, 1, 1, tzinfo=UTC)


class UserV1(Model, table="users"):
    """Version 1 kept numbers and times as text."""

    id: Annotated[str, HashKey()]
    name: str
    age: str
    joined: str
    balance: str
    tags: list[str] = msgspec.field(default_factory=list)
    legacy: str | None = None
    schema: Literal[1] = 1


class UserV2(Model, table="users"):
    """Version 2 (same table): typed values, a renamed and a new field, ``legacy`` gone."""

    id: Annotated[str, HashKey()]
    full_name: str
    age: int
    joined: datetime
    balance: Decimal
    tags: set[str] = msgspec.field(default_factory=set)
    plan: str = "free"
    schema: Literal[2] = 2


class Profile(Model, table="profiles"):
    """Another table, with an index, filled from UserV1."""

    id: Annotated[str, HashKey()]
    display: str
    age: int
    since: int
    cents: int
    tags: set[str] = msgspec.field(default_factory=set)

    __indexes__ = (GlobalIndex("by_age", hash_key="age"),)


UPGRADE = Reshape(
    UserV2,
    rename={"name": "full_name"},
    drop=["schema", "legacy"],
    defaults={"plan": "basic"},
    convert={"age": to_int, "joined": parse_datetime, "balance": to_decimal, "tags": to_set},
    source=UserV1,
)


def v1(i: int) -> UserV1:
    return UserV1(
        id=f"u{i:05d}",
        name=f"User {i}",
        age=str(18 + i % 60),
        joined=(START + timedelta(minutes=i)).isoformat(),
        balance=f"{i}.{i % 100:02d}",
        tags=[f"t{i % 3}", "all"],
        legacy="x" if i % 2 else None,
    )


def expected_v2(i: int) -> UserV2:
    return UserV2(
        id=f"u{i:05d}",
        full_name=f"User {i}",
        age=18 + i % 60,
        joined=START + timedelta(minutes=i),
        balance=Decimal(f"{i}.{i % 100:02d}"),
        tags={f"t{i % 3}", "all"},
        plan="basic",
    )


async def to_profile(user: UserV1) -> Profile | None:
    """An async transform built from the explicit converters; skips every tenth user."""
    if user.id.endswith("0"):
        return None
    await anyio.lowlevel.checkpoint()
    return Profile(
        id=user.id,
        display=user.name.upper(),
        age=to_int(user.age),
        since=to_epoch(parse_datetime(user.joined)),
        cents=to_int(to_decimal(user.balance) * 100),
        tags=to_set(user.tags),
    )


async def load(db: Session, count: int) -> None:
    await db.ensure_table(UserV1)
    await db.batch_put([v1(i) for i in range(count)])


async def test_10000_items_copied_to_another_table_then_upgraded_in_place(
    dynamodb_session: Session,
) -> None:
    db = dynamodb_session
    await load(db, 10_000)
    source_table = db.table_name(UserV1)
    source_before = canonical_dump(await raw_scan(db, source_table))

    # 1. Cross-table: reshape into a new table, created with its index.
    report = await migrate(
        db, source=UserV1, target=Profile, transform=to_profile, segments=3, page_size=1000
    )

    assert report.scanned == 10_000
    assert report.skipped == 1_000 and report.already_migrated == 0
    assert report.transformed == report.written == 9_000
    assert report.failed_count == 0
    assert report.target_table == db.table_name(Profile)
    description = await db.describe_table(Profile)
    assert [g["IndexName"] for g in description["GlobalSecondaryIndexes"]] == ["by_age"]
    stored = {p.id: p for p in map(Profile.from_dynamodb, await raw_scan(db, report.target_table))}
    assert len(stored) == 9_000
    for i in range(10_000):
        if i % 10 == 0:
            assert f"u{i:05d}" not in stored
            continue
        assert stored[f"u{i:05d}"] == Profile(
            id=f"u{i:05d}",
            display=f"USER {i}",
            age=18 + i % 60,
            since=int((START + timedelta(minutes=i)).timestamp()),
            cents=i * 100 + i % 100,
            tags={f"t{i % 3}", "all"},
        )
    assert canonical_dump(await raw_scan(db, source_table)) == source_before
    by_age = await db.call(
        "Query",
        {
            "TableName": report.target_table,
            "IndexName": "by_age",
            "KeyConditionExpression": "age = :a",
            "ExpressionAttributeValues": {":a": {"N": "20"}},
            "Select": "COUNT",
        },
    )
    assert by_age["Count"] == sum(1 for i in range(10_000) if i % 10 and 18 + i % 60 == 20)

    # 2. In place: the same table's items upgraded to the new shape.
    seen: list[MigrationProgress] = []
    report2 = await migrate(
        db, source=UserV1, target=UserV2, transform=UPGRADE, segments=4, page_size=1000,
        progress=seen.append,
    )

    assert (report2.scanned, report2.transformed, report2.written) == (10_000, 10_000, 10_000)
    assert (report2.skipped, report2.unchanged, report2.failed_count) == (0, 0, 0)
    assert report2.failed == [] and report2.ok and not report2.dry_run
    assert report2.source_table == report2.target_table == source_table
    assert report2.duration > 0 and report2.items_per_second > 0
    assert len(report2.samples) == 3
    assert "scanned 10000" in report2.summary() and "wrote 10000" in report2.summary()
    assert seen[-1].segments_done == 4 and seen[-1].scanned == seen[-1].completed == 10_000
    assert all(a.completed <= b.completed for a, b in itertools.pairwise(seen))

    raw = await raw_scan(db, source_table)
    assert len(raw) == 10_000
    assert all("name" not in item and "legacy" not in item for item in raw)
    assert all(item["schema"] == {"N": "2"} for item in raw)
    upgraded = sorted((UserV2.from_dynamodb(item) for item in raw), key=lambda u: u.id)
    assert upgraded == [expected_v2(i) for i in range(10_000)]

    # 3. Re-running over migrated items skips them all: nothing is rewritten or corrupted.
    before = canonical_dump(raw)
    again = await migrate(db, source=UserV1, target=UserV2, transform=UPGRADE, segments=4)
    assert (again.scanned, again.skipped, again.already_migrated) == (10_000, 10_000, 10_000)
    assert (again.transformed, again.written, again.failed_count) == (0, 0, 0)
    assert canonical_dump(await raw_scan(db, source_table)) == before


async def test_dry_run_leaves_the_table_byte_for_byte_unchanged(dynamodb_session: Session) -> None:
    db = dynamodb_session
    await load(db, 600)
    table = db.table_name(UserV1)
    before = canonical_dump(await raw_scan(db, table))

    report = await migrate(
        db, source=UserV1, target=UserV2, transform=UPGRADE, dry_run=True, segments=2,
        page_size=100, sample_size=5,
    )

    assert canonical_dump(await raw_scan(db, table)) == before
    assert report.dry_run
    assert (report.scanned, report.transformed, report.changed) == (600, 600, 600)
    assert report.written == 0 and report.failed_count == 0
    assert "dry run" in report.summary() and "would write 600" in report.summary()
    assert len(report.samples) == 5
    for old, new in report.samples:
        assert isinstance(old, UserV1) and isinstance(new, UserV2)
        assert new == expected_v2(int(old.id[1:]))

    # A cross-table dry run does not even create the target table.
    copy = await migrate(db, source=UserV1, target=Profile, transform=to_profile, dry_run=True)
    assert copy.changed == 540 and copy.written == 0
    assert db.table_name(Profile) not in await db.list_tables()
    assert canonical_dump(await raw_scan(db, table)) == before


class UserV2Run(Model, table="users"):
    """UserV2 plus the run that wrote the item, to prove every item is written once."""

    id: Annotated[str, HashKey()]
    full_name: str
    age: int
    joined: datetime
    balance: Decimal
    tags: set[str] = msgspec.field(default_factory=set)
    plan: str = "free"
    run: int = 0
    schema: Literal[2] = 2


UPGRADE_RUN = Reshape(
    UserV2Run,
    rename={"name": "full_name"},
    drop=["schema", "legacy"],
    defaults={"plan": "basic"},
    convert={"age": to_int, "joined": parse_datetime, "balance": to_decimal, "tags": to_set},
    source=UserV1,
)


async def items_covered(db: Session, table: str, checkpoint: dict[str, Any]) -> int:
    """How many items lie in the checkpointed part of every segment (finished pages)."""
    total_segments = checkpoint["segments"]
    covered = 0
    for index, state in enumerate(checkpoint["segments_state"]):
        segment = await raw_scan(db, table, Segment=index, TotalSegments=total_segments)
        if state["done"]:
            covered += len(segment)
        elif state["last_evaluated_key"] is not None:
            ids = [item["id"]["S"] for item in segment]
            covered += ids.index(state["last_evaluated_key"]["id"]["S"]) + 1
    return covered


async def test_killed_run_resumes_from_its_checkpoint_migrating_every_item_once(
    dynamodb_session: Session, tmp_path: Path
) -> None:
    db = dynamodb_session
    count, segments, page_size, kill_after = 2_000, 4, 50, 900
    await load(db, count)
    checkpoint = tmp_path / "users.ckpt.json"
    calls: dict[int, Counter[str]] = {1: Counter(), 2: Counter()}
    run = 1
    scope = anyio.CancelScope()

    async def transform(user: UserV1) -> UserV2Run:
        calls[run][user.id] += 1
        if run == 1 and calls[1].total() == kill_after:
            scope.cancel()  # the kill lands mid-page, while other segments are mid-write
        await anyio.lowlevel.checkpoint()
        return msgspec.structs.replace(UPGRADE_RUN(user), run=run)

    with scope:
        await migrate(
            db, source=UserV1, target=UserV2Run, transform=transform, segments=segments,
            page_size=page_size, checkpoint=checkpoint,
        )
    assert scope.cancelled_caught
    state = json.loads(checkpoint.read_text())
    assert state["segments"] == segments and len(state["segments_state"]) == segments
    assert not all(s["done"] for s in state["segments_state"])
    table = db.table_name(UserV1)
    covered = await items_covered(db, table, state)
    assert 0 < covered < count
    # The atomic write left no temporary file behind.
    assert [p.name async for p in anyio.Path(tmp_path).iterdir()] == [checkpoint.name]

    run = 2
    report = await migrate(
        db, source=UserV1, target=UserV2Run, transform=transform, segments=segments,
        page_size=page_size, checkpoint=checkpoint,
    )

    # Finished pages and segments were not read again; the in-flight ones were.
    assert report.scanned == count - covered
    assert report.resumed_segments == sum(s["done"] for s in state["segments_state"])
    assert report.failed_count == 0
    final_state = json.loads(checkpoint.read_text())
    assert all(s["done"] and s["last_evaluated_key"] is None for s in final_state["segments_state"])

    stored = {u.id: u for u in map(UserV2Run.from_dynamodb, await raw_scan(db, table))}
    assert len(stored) == count
    for i in range(count):
        item = stored[f"u{i:05d}"]
        expected = expected_v2(i)
        assert msgspec.structs.asdict(item) == {**msgspec.structs.asdict(expected), "run": item.run}
    # Exactly once: an item written by run 1 was never transformed by run 2 (it would carry
    # run=2 otherwise); an item written by run 2 was transformed once there and was not
    # written by run 1 (it would have been skipped as already migrated).
    both = 0
    for key, item in stored.items():
        assert calls[1][key] + calls[2][key] >= 1
        if item.run == 1:
            assert calls[1][key] == 1 and calls[2][key] == 0
        else:
            assert item.run == 2 and calls[2][key] == 1 and calls[1][key] <= 1
            both += calls[1][key]
    assert calls[1].total() >= kill_after
    assert both <= segments * page_size  # only pages in flight at the kill were redone
    assert report.written == sum(1 for item in stored.values() if item.run == 2)

    # A finished checkpoint makes a further run a no-op.
    done = await migrate(
        db, source=UserV1, target=UserV2Run, transform=transform, segments=segments,
        checkpoint=checkpoint,
    )
    assert done.scanned == 0 and done.resumed_segments == segments


def write_checkpoint(path: Path, table: str, states: list[dict[str, Any]]) -> None:
    """The checkpoint file a killed UserV1 -> UserV2 run leaves, in its documented format."""
    path.write_text(
        json.dumps(
            {
                "format": 1,
                "source": f"{UserV1.__module__}.{UserV1.__qualname__}",
                "source_table": table,
                "target": f"{UserV2.__module__}.{UserV2.__qualname__}",
                "target_table": table,
                "segments": len(states),
                "segments_state": states,
            }
        )
    )


async def test_a_resumed_parallel_scan_reads_only_what_each_segment_has_left(
    dynamodb_endpoint: str, tmp_path: Path
) -> None:
    events: list[RequestEvent] = []
    session = local_session(
        dynamodb_endpoint, table_prefix=f"r{uuid.uuid4().hex[:10]}_", on_request=events.append
    )
    async with session as db:
        try:
            await load(db, 300)
            table = db.table_name(UserV1)
            segments, page_size, pages_done = 3, 20, 2
            parts = [
                await raw_scan(db, table, Segment=n, TotalSegments=segments)
                for n in range(segments)
            ]
            # Segment 0 stopped after two written pages, segment 1 finished, segment 2 never
            # started.
            checkpoint = tmp_path / "users.ckpt.json"
            stopped_at = {"id": parts[0][pages_done * page_size - 1]["id"]}
            write_checkpoint(
                checkpoint,
                table,
                [
                    {"done": False, "last_evaluated_key": stopped_at},
                    {"done": True, "last_evaluated_key": None},
                    {"done": False, "last_evaluated_key": None},
                ],
            )
            events.clear()

            report = await migrate(
                db, source=UserV1, target=UserV2, transform=UPGRADE, segments=segments,
                page_size=page_size, checkpoint=checkpoint,
            )

            left = [len(parts[0]) - pages_done * page_size, 0, len(parts[2])]
            assert report.scanned == report.written == sum(left)
            assert report.resumed_segments == 1 and report.failed_count == 0
            # One Scan per page of what was left (DynamoDB Local also answers a full last
            # page with a resume key, which costs one empty page more).
            scans = [e for e in events if e.operation == "Scan"]
            assert len(scans) == sum(n // page_size + 1 for n in (left[0], left[2]))
            assert all(e.table == table for e in scans)
            saved = json.loads(checkpoint.read_text())["segments_state"]
            assert saved == [{"done": True, "last_evaluated_key": None}] * segments
            # What the checkpoint covered was not read again, so it is still version 1.
            stored = {i["id"]["S"]: i["schema"]["N"] for i in await raw_scan(db, table)}
            untouched = parts[0][: pages_done * page_size] + parts[1]
            assert {stored[i["id"]["S"]] for i in untouched} == {"1"}
            assert sum(v == "2" for v in stored.values()) == report.written
        finally:
            await db.delete_table(UserV1, wait=False)
