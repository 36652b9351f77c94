"""Migration throughput: LocalRunner against DaskRunner with 1 and 2 worker processes.

Loads ``--items`` (default 20,000) orders of ~0.4 KB into DynamoDB Local (``DYNAMODB_ENDPOINT``,
else one started through ``dynamorm_async.testing.dynamodb_endpoint_context``), then migrates
them in place (text numbers and dates to typed fields) once per runner, reloading the table
before each run (not timed):

* ``local``: ``migrate(...)`` with the default LocalRunner, every segment in this process;
* ``dask-1`` / ``dask-2``: ``runner=DaskRunner(client)`` on a LocalCluster of 1 or 2 worker
  processes with ``--threads`` threads each (each thread runs one segment on its own event
  loop and Session). The cluster starts before the clock does.

Reported per runner: items/s (scanned / duration, as ``MigrationReport.items_per_second``) and
the speed-up over ``local``. Every run is checked to have migrated every item.

    PYTHONPATH=. python benchmarks/bench_dask.py [--items N] [--segments S] [--threads T]

DynamoDB Local is one Java process on the same machine: it serves every worker, and with few
cores it is the ceiling, so the figures say what the runners cost here, not what a cluster
against DynamoDB gains (see docs/guide/scaling.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

import anyio
from distributed import Client, LocalCluster

from dynamorm_async import HashKey, Model, Runner, Session, migrate
from dynamorm_async.distributed import DaskRunner
from dynamorm_async.testing import dynamodb_endpoint_context, local_session

START = datetime(2024, 1, 1, tzinfo=UTC)


class OrderV1(Model, table="bench_dask_orders"):
    id: Annotated[str, HashKey()]
    customer: str
    placed: str
    total: str
    lines: list[dict[str, str]]
    note: str
    schema: Literal[1] = 1


class OrderV2(Model, table="bench_dask_orders"):
    id: Annotated[str, HashKey()]
    customer: str
    placed: datetime
    total: Decimal
    lines: list[dict[str, str]]
    note: str
    schema: Literal[2] = 2


def order(i: int) -> OrderV1:
    return OrderV1(
        id=f"o{i:07d}", customer=f"c{i % 997}", placed=(START + timedelta(minutes=i)).isoformat(),
        total=f"{i % 5000}.{i % 100:02d}",
        lines=[{"sku": f"sku-{(i + k) % 311}", "qty": str(1 + k)} for k in range(3)],
        note="x" * 200,
    )


def upgrade(old: OrderV1) -> OrderV2:
    return OrderV2(id=old.id, customer=old.customer, placed=datetime.fromisoformat(old.placed),
                   total=Decimal(old.total), lines=old.lines, note=old.note)


@contextlib.asynccontextmanager
async def dask_cluster(workers: int, threads: int) -> AsyncIterator[Runner]:
    async with (
        LocalCluster(n_workers=workers, threads_per_worker=threads, asynchronous=True,
                     dashboard_address=":0") as cluster,
        Client(cluster, asynchronous=True) as client,
    ):
        await client.wait_for_workers(workers)
        yield DaskRunner(client)


async def run_once(db: Session, items: int, segments: int, runner: Runner | None) -> float:
    await db.delete_table(OrderV1)
    await db.create_table(OrderV1)
    await db.batch_put([order(i) for i in range(items)])
    report = await migrate(db, source=OrderV1, target=OrderV2, transform=upgrade,
                           segments=segments, runner=runner)
    assert report.written == report.scanned == items, report.summary()
    return report.items_per_second


async def main(args: argparse.Namespace, endpoint: str) -> None:
    async with local_session(endpoint, table_prefix=f"b{uuid.uuid4().hex[:8]}_") as db:
        await db.create_table(OrderV1)
        try:
            results: dict[str, float] = {}
            results["local"] = await run_once(db, args.items, args.segments, None)
            for workers in (1, 2):
                async with dask_cluster(workers, args.threads) as runner:
                    rate = await run_once(db, args.items, args.segments, runner)
                    results[f"dask-{workers}"] = rate
        finally:
            await db.delete_table(OrderV1, wait=False)
    print(f"{args.items:,} items, {args.segments} segments, {args.threads} threads per worker, "
          f"{os.cpu_count()} CPUs")
    for name, rate in results.items():
        print(f"{name:8} {rate:10,.0f} items/s   x{rate / results['local']:.2f}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    endpoint = os.environ.get("DYNAMODB_ENDPOINT")
    with contextlib.ExitStack() as stack:
        if not endpoint:
            endpoint = stack.enter_context(dynamodb_endpoint_context())
        anyio.run(main, args, endpoint)


if __name__ == "__main__":
    # Run from the module imported under its own name, so the workers unpickle the models and
    # the transform by reference (benchmarks/ is on their path as it is on this one).
    import bench_dask

    bench_dask.cli()
