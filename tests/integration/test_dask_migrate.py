"""Migrations on a Dask LocalCluster of two worker processes, against DynamoDB Local.

The worker processes import this module to unpickle the models and transforms (they are
shipped by reference), so everything they run is defined at module level here.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Annotated, Any, Literal

import anyio
import distributed
import pytest

from dynamorm_async import (
    HashKey,
    LocalRunner,
    MigrationProgress,
    MigrationReport,
    Model,
    Session,
    TableCheckpoint,
    migrate,
)
from dynamorm_async._migrate.cli import main
from dynamorm_async.distributed import DaskRunner
from dynamorm_async.testing import local_session
from tests.wire_items import canonical_dump, raw_scan

pytestmark = pytest.mark.timeout(240)


class OrderV1(Model, table="dask_orders"):
    """Version 1 kept numbers as text."""

    id: Annotated[str, HashKey()]
    status: str
    total: str
    qty: str
    schema: Literal[1] = 1


class OrderV2(Model, table="dask_orders"):
    """Version 2: typed numbers; the schema literal tells migrated items apart."""

    id: Annotated[str, HashKey()]
    status: str
    total: Decimal
    qty: int
    schema: Literal[2] = 2


def v1(i: int) -> OrderV1:
    return OrderV1(id=f"o{i:05d}", status=f"s{i % 5}", total=f"{i}.{i % 100:02d}", qty=str(i % 9))


def expected(i: int) -> OrderV2:
    return OrderV2(id=f"o{i:05d}", status=f"s{i % 5}", total=Decimal(f"{i}.{i % 100:02d}"),
                   qty=i % 9)


def skipped(i: int) -> bool:
    return i % 97 == 0


def fails(i: int) -> bool:
    return i % 1000 == 7 and not skipped(i)


def upgrade(order: OrderV1) -> OrderV2 | None:
    """Skips every 97th order and fails on a few, to compare skips and failures."""
    i = int(order.id[1:])
    if skipped(i):
        return None
    if fails(i):
        raise ValueError(f"order {order.id} cannot be upgraded")
    return OrderV2(id=order.id, status=order.status, total=Decimal(order.total),
                   qty=int(order.qty))


def slow_upgrade(order: OrderV1) -> OrderV2 | None:
    """``upgrade`` at about 1,000 items per second per worker, so a run can be cut mid-way."""
    time.sleep(0.001)
    return upgrade(order)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two worker processes of one thread each, shared by the tests of this module."""
    with distributed.LocalCluster(
        # ":0": no fixed port, so clusters started side by side (the CLI's) do not collide.
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as local:
        yield local


@pytest.fixture
async def dask(cluster: Any) -> AsyncIterator[Any]:
    async with distributed.Client(cluster.scheduler_address, asynchronous=True) as client:
        await client.wait_for_workers(2)
        yield client


async def load(db: Session, count: int) -> None:
    await db.ensure_table(OrderV1)
    await db.batch_put([v1(i) for i in range(count)])


def outcome(report: MigrationReport[Any, Any]) -> dict[str, Any]:
    """Everything a report says about the items (not how long it took)."""
    return {
        "counts": (report.scanned, report.transformed, report.unchanged, report.changed,
                   report.written, report.deleted, report.skipped, report.already_migrated,
                   report.failed_count, report.resumed_segments),
        "failed": sorted((key["id"], reason) for key, reason in report.failed),
        "samples": len(report.samples),
    }


def expected_failures(count: int) -> list[tuple[str, str]]:
    return [
        (f"o{i:05d}", f"transform failed: ValueError: order o{i:05d} cannot be upgraded")
        for i in range(count)
        if fails(i)
    ]


async def assert_all_migrated(db: Session, count: int) -> None:
    stored = {i["id"]["S"]: i for i in await raw_scan(db, db.table_name(OrderV1))}
    assert len(stored) == count
    for i in range(count):
        item = stored[f"o{i:05d}"]
        if skipped(i) or fails(i):
            assert item["schema"] == {"N": "1"}
        else:
            assert OrderV2.from_dynamodb(item) == expected(i)


class CopyHere(Model, table="dask_copy_here"):
    """The LocalRunner's target table."""

    id: Annotated[str, HashKey()]
    status: str
    total: Decimal
    qty: int


class CopyThere(Model, table="dask_copy_there"):
    """The DaskRunner's target table: the same shape."""

    id: Annotated[str, HashKey()]
    status: str
    total: Decimal
    qty: int


def copy_as(target: type[CopyHere] | type[CopyThere], order: OrderV1) -> Any:
    upgraded = upgrade(order)
    if upgraded is None:
        return None
    return target(id=order.id, status=upgraded.status, total=upgraded.total, qty=upgraded.qty)


def copy_here(order: OrderV1) -> CopyHere | None:
    result: CopyHere | None = copy_as(CopyHere, order)
    return result


def copy_there(order: OrderV1) -> CopyThere | None:
    result: CopyThere | None = copy_as(CopyThere, order)
    return result


async def test_20000_items_through_dask_give_the_table_and_report_of_the_local_runner(
    dynamodb_session: Session, dask: Any
) -> None:
    db, count = dynamodb_session, 20_000
    await load(db, count)
    calls: list[float] = []
    seen: list[MigrationProgress] = []

    def progress(snapshot: MigrationProgress) -> None:
        calls.append(time.monotonic())
        seen.append(snapshot)

    local = await migrate(db, source=OrderV1, target=CopyHere, transform=copy_here,
                          segments=4, page_size=500, runner=LocalRunner())
    remote = await migrate(db, source=OrderV1, target=CopyThere, transform=copy_there,
                           segments=4, page_size=500, runner=DaskRunner(dask), progress=progress)

    assert outcome(remote) == outcome(local)
    assert outcome(local)["failed"] == expected_failures(count)
    skips = sum(skipped(i) for i in range(count))
    assert (local.scanned, local.skipped) == (count, skips)
    assert local.written == count - skips - len(expected_failures(count))
    here = await raw_scan(db, db.table_name(CopyHere))
    there = await raw_scan(db, db.table_name(CopyThere))
    assert len(there) == local.written and canonical_dump(there) == canonical_dump(here)
    # Progress from every worker reached the caller, at least once a second.
    assert seen[-1].segments_done == 4 and seen[-1].scanned == count
    assert max(b - a for a, b in itertools.pairwise(calls)) < 1.0


async def test_a_worker_killed_mid_run_loses_nothing_and_the_report_is_exact(
    dynamodb_session: Session, dask: Any
) -> None:
    db = dynamodb_session
    count = 4_000
    await load(db, count)
    pids: dict[str, int] = await dask.run(os.getpid)
    killed: list[tuple[int, int]] = []

    def kill_one(snapshot: MigrationProgress) -> None:
        if not killed and snapshot.scanned > 0:
            pid = next(iter(pids.values()))
            os.kill(pid, signal.SIGKILL)
            killed.append((pid, snapshot.scanned))

    report = await migrate(db, source=OrderV1, target=OrderV2, transform=slow_upgrade,
                           segments=4, page_size=100, runner=DaskRunner(dask),
                           checkpoint=TableCheckpoint("migration_state"), progress=kill_one)

    (pid, scanned_at_kill), = killed
    # Both single-thread workers were busy then: two of the four segments had not started.
    assert scanned_at_kill < count // 2
    await dask.wait_for_workers(2)
    assert pid not in (await dask.run(os.getpid)).values()
    await assert_all_migrated(db, count)
    # Exact: every item counted once, the dead worker's written pages as written, its
    # checkpointed failures kept.
    skips = sum(skipped(i) for i in range(count))
    failures = expected_failures(count)
    assert outcome(report)["failed"] == failures
    assert (report.scanned, report.skipped, report.already_migrated) == (count, skips, 0)
    assert report.written == report.changed == report.transformed == count - skips - len(failures)
    assert report.failed_count == len(failures)


async def idle(dask: Any) -> None:
    """Wait until no worker runs a task (cancelled ones included)."""

    def executing(dask_worker: Any) -> int:
        return len(dask_worker.state.executing)

    with anyio.fail_after(30):
        while any((await dask.run(executing)).values()):  # noqa: ASYNC110 (polls the cluster)
            await anyio.sleep(0.1)


async def covered(db: Session, segments: int) -> tuple[int, int]:
    """Items of the pages the checkpoint table says are written, and the segments done."""
    table = db.table_name(OrderV1)
    records = await raw_scan(db, f"{db.table_prefix}migration_state")
    states = {r["part"]["S"]: r for r in records if r["part"]["S"].startswith("segment#")}
    items, done = 0, 0
    for segment in range(segments):
        state = states.get(f"segment#{segment:05d}")
        if state is None:
            continue
        part = await raw_scan(db, table, Segment=segment, TotalSegments=segments)
        if state["done"]["BOOL"]:
            items += len(part)
            done += 1
        elif "S" in state.get("start_key", {}):
            last = json.loads(state["start_key"]["S"])["id"]["S"]
            items += [i["id"]["S"] for i in part].index(last) + 1
    return items, done


async def test_a_run_stopped_half_way_resumes_from_the_table_checkpoint(
    dynamodb_session: Session, dask: Any
) -> None:
    db = dynamodb_session
    count, segments = 3_000, 4
    await load(db, count)
    checkpoint = TableCheckpoint("migration_state")

    def stop_half_way(snapshot: MigrationProgress) -> None:
        if snapshot.scanned >= count // 3:
            scope.cancel()

    with anyio.CancelScope() as scope:
        await migrate(db, source=OrderV1, target=OrderV2, transform=slow_upgrade,
                      segments=segments, page_size=100, runner=DaskRunner(dask),
                      checkpoint=checkpoint, progress=stop_half_way)
    assert scope.cancelled_caught
    await idle(dask)
    items_done, segments_done = await covered(db, segments)
    assert 0 < items_done < count

    report = await migrate(db, source=OrderV1, target=OrderV2, transform=slow_upgrade,
                           segments=segments, page_size=100, runner=DaskRunner(dask),
                           checkpoint=checkpoint)

    # Only what was left was read; nothing the first run wrote was read again.
    assert report.scanned == count - items_done
    assert report.resumed_segments == segments_done and report.already_migrated == 0
    await assert_all_migrated(db, count)
    assert await covered(db, segments) == (count, segments)


def upgrade_all(order: OrderV1) -> OrderV2:
    return OrderV2(id=order.id, status=order.status, total=Decimal(order.total),
                   qty=int(order.qty))


def test_the_command_line_runs_on_a_local_cluster(
    dynamodb_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    prefix = f"c{uuid.uuid4().hex[:8]}_"
    module = __name__

    async def prepare() -> None:
        async with local_session(dynamodb_endpoint, table_prefix=prefix) as db:
            await load(db, 300)

    async def check_and_drop() -> None:
        async with local_session(dynamodb_endpoint, table_prefix=prefix) as db:
            stored = await raw_scan(db, db.table_name(OrderV1))
            assert sorted(OrderV2.from_dynamodb(i).id for i in stored) == [
                f"o{i:05d}" for i in range(300)
            ]
            for name in await db.list_tables():
                await db.delete_table(name, wait=False)

    anyio.run(prepare)
    code = main([
        "migrate", f"{module}:upgrade_all", "--source", f"{module}:OrderV1",
        "--target", f"{module}:OrderV2", "--endpoint-url", dynamodb_endpoint,
        "--region", "us-east-1", "--table-prefix", prefix, "--segments", "3",
        "--page-size", "50", "--dask", "local:1", "--checkpoint-table", "cli_state",
    ])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "scanned 300, transformed 300, wrote 300," in out
    assert err.splitlines()[-1].startswith("progress: scanned=300 completed=300 written=300")
    anyio.run(check_and_drop)

