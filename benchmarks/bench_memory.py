"""Memory stays flat: peak memory of streaming reads of many items, and their rate.

Loads ``--items`` orders (about 380 bytes each as DynamoDB sizes items, 515 bytes of wire JSON)
into DynamoDB Local (``DYNAMODB_ENDPOINT``, else one started through
``dynamorm_async.testing.dynamodb_endpoint_context``), then reads all of them with each
streaming read, one workload per fresh subprocess:

* ``db.scan(Order)`` with ``async for``, and through ``async with ... .stream()``;
* the same scan with ``.segments(4)``, both ways;
* ``db.query(Order).index("by_tenant")`` of the one tenant every order belongs to (so it reads
  every item), both ways;
* ``db.scan(Order).group_by(Order.status).aggregate(n=Count(), total=Sum(Order.total))``
  (eight groups).

``.all()`` is left out on purpose: it returns a list of every item, so its memory grows with
the table by design.

How memory is measured: resident set size, from ``/proc/self/status``. RSS counts everything
the process holds (Python objects, pymalloc arenas and their fragmentation, msgspec's and
aiohttp's C buffers), some of which tracemalloc would miss, and it does not slow the reads, so
the rates are real. Each workload runs in a process of its own: after opening the Session and
reading one item (the connection pool, lazily imported modules), it collects garbage, resets
the kernel's peak-RSS mark (``VmHWM``, by writing ``5`` to ``/proc/self/clear_refs``), reads
``VmRSS`` as the baseline, iterates, then reads ``VmHWM``: peak above baseline is
``VmHWM - baseline``. A fresh process matters: one that already grew reuses its freed memory
without raising RSS, which would hide growth. Where the mark cannot be reset, ``VmHWM`` since
the process started is used instead, an upper bound (marked in the table). Whether memory is
flat, rather than merely small, shows in how much the peak still rose while the second half of
the items was read (``VmHWM`` is also read at the midpoint; the aggregation has none). Sizes
are in MB (10**6 bytes); the kernel keeps its RSS counters per CPU, so they are exact only to
a few hundred kB. The goal, from issue 13: every workload under 50 MB above its
baseline.

Also reported: items/s (wall time) and the client's CPU time per item (this process only).
Against DynamoDB Local the wall time is mostly the server's, and its cost per page grows with
the table (a 1 MB Scan page of a 200,000-item table takes it seconds), so items/s falls as
``--items`` grows while the client's CPU per item stays put.

The orders go into a table named after the item count (``bench<items>_bench_memory_orders``),
loaded only when it does not already hold that many items, so against a DynamoDB Local you keep
running (``DYNAMODB_ENDPOINT``) a rerun skips the load.

    PYTHONPATH=. python benchmarks/bench_memory.py [--items N] [--quick]

The default, 50,000 items, keeps ``make bench`` to a few minutes; the issue's figure is
``--items 200000`` (about 20 minutes on a 2-core machine, nearly all of it DynamoDB Local).
``--quick`` is a smoke run of 20,000. The goal is reported as met or missed, never asserted;
the exit code is 0 unless a workload read the wrong number of items.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

import anyio

from dynamorm_async import Count, GlobalIndex, HashKey, Model, Query, RangeKey, Scan, Session, Sum
from dynamorm_async.testing import dynamodb_endpoint_context, local_session

GOAL_MB = 50
DEFAULT_ITEMS = 50_000
QUICK_ITEMS = 20_000
WARM_UP = 10_000
SEGMENTS = 4
CONCURRENCY = 16
TENANT = "acme"
_STATUSES = ("new", "paid", "packed", "shipped", "delivered", "returned", "refunded", "void")
_TEXT = (
    "please leave the parcel with the neighbour at number twelve if nobody answers the door; "
    "the side gate is open on weekdays, ring twice, mind the dog, it is friendly but loud. "
)


class Order(Model, table="bench_memory_orders"):
    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    tenant: str
    status: str
    total: Decimal
    qty: int
    placed_at: datetime
    city: str
    lines: list[str]
    note: str

    # Every order has the one tenant, so a query of that tenant reads the whole table, while
    # the table's own keys spread over many partitions and scan segments get even shares.
    __indexes__ = (GlobalIndex("by_tenant", hash_key="tenant", range_key="order_id"),)


def order(i: int) -> Order:
    """Order ``i``: deterministic, so a partial load can be completed by writing them all."""
    return Order(
        customer=f"customer-{i % 4001:05d}",
        order_id=f"2025-{i:09d}",
        tenant=TENANT,
        status=_STATUSES[i * 7 % len(_STATUSES)],
        total=Decimal(i * 7919 % 10_000_000).scaleb(-2),
        qty=i % 49 + 1,
        placed_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=i * 613 % 31_536_000),
        city=("Lisbon", "Porto", "Braga", "Faro", "Coimbra")[i % 5],
        lines=[f"sku-{(i * 31 + n) % 999_983:06d} x{n + 1}" for n in range(4)],
        note=_TEXT[i % 60 :] + _TEXT[: i % 60],
    )


def session(url: str, items: int) -> Session:
    """A Session on the table of ``items`` orders (its name says how many it holds)."""
    return local_session(url, table_prefix=f"bench{items}_", max_concurrency=CONCURRENCY)


# --- the workloads ------------------------------------------------------------------------------


@dataclass
class Halfway:
    """The peak RSS once half of the ``items`` results were read (None until then)."""

    items: int
    peak: int | None = None


async def drain(results: AsyncIterable[object], halfway: Halfway | None = None) -> int:
    """Iterate ``results`` to the end, keeping nothing; how many there were."""
    count = 0
    async for _ in results:
        count += 1
        if halfway is not None and count == halfway.items // 2:
            halfway.peak = resident()[1]
    return count


async def drain_stream(reads: Scan[Order] | Query[Order], halfway: Halfway) -> int:
    async with reads.stream() as results:
        return await drain(results, halfway)


def tenant_query(db: Session) -> Query[Order]:
    return db.query(Order).index("by_tenant").where(Order.tenant == TENANT)


async def aggregate(db: Session, _: Halfway) -> int:
    """The grouped aggregation; how many items it counted. It has no midpoint to watch."""
    rows = await db.scan(Order).group_by(Order.status).aggregate(n=Count(), total=Sum(Order.total))
    return sum(int(group["n"]) for group in rows)


Workload = Callable[[Session, Halfway], Awaitable[int]]
WORKLOADS: dict[str, tuple[str, Workload]] = {
    "scan": ("scan, async for", lambda db, half: drain(db.scan(Order), half)),
    "scan-stream": ("scan, stream()", lambda db, half: drain_stream(db.scan(Order), half)),
    "parallel": (
        f"scan segments({SEGMENTS}), async for",
        lambda db, half: drain(db.scan(Order).segments(SEGMENTS), half),
    ),
    "parallel-stream": (
        f"scan segments({SEGMENTS}), stream()",
        lambda db, half: drain_stream(db.scan(Order).segments(SEGMENTS), half),
    ),
    "query": ("query (GSI), async for", lambda db, half: drain(tenant_query(db), half)),
    "query-stream": (
        "query (GSI), stream()",
        lambda db, half: drain_stream(tenant_query(db), half),
    ),
    "aggregate": ("scan group_by(status).aggregate(Count, Sum)", aggregate),
}


# --- one workload, in a process of its own -------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One workload's figures; sizes in bytes."""

    count: int
    seconds: float
    cpu_seconds: float
    """This process's CPU time: the client's share, without DynamoDB Local's."""
    baseline: int
    peak: int
    halfway_peak: int | None
    peak_was_reset: bool


def resident() -> tuple[int, int]:
    """This process's current and peak resident set size in bytes (VmRSS, VmHWM)."""
    sizes: dict[str, int] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                sizes[name] = int(value.split()[0]) * 1024  # the kernel reports kB
    return sizes["VmRSS"], sizes["VmHWM"]


def reset_peak() -> bool:
    """Set VmHWM to the current RSS (Linux 4.0 and later); False where not permitted."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


async def measure(url: str, items: int, workload: str) -> Measured:
    run = WORKLOADS[workload][1]
    halfway = Halfway(items)
    async with session(url, items) as db:
        await db.scan(Order).first()
        gc.collect()
        was_reset = reset_peak()
        baseline, _ = resident()
        started, cpu = time.perf_counter(), time.process_time()
        count = await run(db, halfway)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        _, peak = resident()
    return Measured(count, seconds, cpu_seconds, baseline, peak, halfway.peak, was_reset)


def in_subprocess(url: str, items: int, workload: str) -> Measured:
    """Run ``workload`` in a fresh interpreter (this script's ``--child`` mode)."""
    argv = [sys.executable, __file__, "--items", str(items), "--endpoint", url]
    done = subprocess.run([*argv, "--child", workload], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"workload {workload!r} failed:\n{done.stderr}")
    return Measured(**json.loads(done.stdout.splitlines()[-1]))


# --- loading and reporting ---------------------------------------------------------------------


def orders(items: int) -> Iterator[Order]:
    return (order(i) for i in range(items))


async def prepare(url: str, items: int) -> None:
    """Create and fill the table unless it already holds ``items`` orders, then warm up."""
    async with session(url, items) as db:
        created = await db.ensure_table(Order)
        # DynamoDB Local keeps ItemCount exact (AWS refreshes it about every six hours); a
        # partial load is completed by writing every order again, as the keys are the same.
        if not created and (await db.describe_table(Order))["ItemCount"] == items:
            print(f"{db.table_name(Order)} already holds {items:,} orders", flush=True)
        else:
            started = time.perf_counter()
            await db.batch_put(orders(items))
            elapsed = time.perf_counter() - started
            print(
                f"loaded {items:,} orders in {elapsed:.1f} s ({items / elapsed:,.0f}/s)", flush=True
            )
        # DynamoDB Local compiles its hot paths on first use; keep that out of the rates.
        await drain(db.scan(Order).segments(SEGMENTS).limit(WARM_UP))
        await drain(tenant_query(db).limit(WARM_UP))


def mb(size: float) -> str:
    return f"{size / 1e6:.1f}"


def row(title: str, measured: Measured) -> str:
    above = max(0, measured.peak - measured.baseline)
    bound = "" if measured.peak_was_reset else " (upper bound)"
    halfway = measured.halfway_peak
    later = "n/a" if halfway is None else mb(max(0, measured.peak - halfway))
    cells = [
        title,
        f"{measured.count / measured.seconds:,.0f}",
        f"{measured.cpu_seconds / max(1, measured.count) * 1e6:.0f}",
        mb(measured.baseline),
        mb(above) + bound,
        later,
        "met" if above < GOAL_MB * 1e6 else "MISSED",
    ]
    return f"| {' | '.join(cells)} |"


def report(items: int, results: dict[str, Measured]) -> bool:
    """Print the table and the goal, met or missed; False when a count was wrong."""
    print(
        "\n| workload | items/s | client CPU (µs/item) | baseline RSS (MB) "
        f"| peak above baseline (MB) | peak rise in 2nd half (MB) | < {GOAL_MB} MB |"
    )
    print("|---" * 7 + "|")
    right = True
    for key, measured in results.items():
        print(row(WORKLOADS[key][0], measured))
        if measured.count != items:
            right = False
            print(f"  WRONG COUNT: {measured.count:,} items read, expected {items:,}")
    print(f"\ngoal (reported, not asserted): under {GOAL_MB} MB above the baseline, every workload")
    return right


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, help=f"default {DEFAULT_ITEMS:,}; the issue's: 200000")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_ITEMS:,} items")
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=WORKLOADS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    items: int = (
        args.items if args.items is not None else QUICK_ITEMS if args.quick else DEFAULT_ITEMS
    )
    if items < 1:
        parser.error("--items must be positive")
    if not os.path.exists("/proc/self/status"):
        print("bench_memory.py reads /proc/self/status (Linux); nothing measured here")
        return 0
    if args.child:
        measured = anyio.run(measure, args.endpoint, items, args.child)
        print(json.dumps(asdict(measured)))
        return 0
    with dynamodb_endpoint_context() as url:
        print(f"DynamoDB Local at {url}; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        anyio.run(prepare, url, items)
        results: dict[str, Measured] = {}
        for key in WORKLOADS:
            results[key] = in_subprocess(url, items, key)
            print(f"{WORKLOADS[key][0]}: {results[key].seconds:.1f} s", flush=True)
    print(f"{items:,} orders; load average {os.getloadavg()[0]:.1f}")
    return 0 if report(items, results) else 1


if __name__ == "__main__":
    sys.exit(main())
