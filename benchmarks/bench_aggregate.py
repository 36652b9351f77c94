"""Streaming GROUP BY of dynamorm-async against "fetch every item into a list, then group".

Loads ``--items`` (default 50,000) orders of ~0.5 KB into DynamoDB Local (``DYNAMODB_ENDPOINT``,
else one started through ``dynamorm_async.testing.dynamodb_endpoint_context``), then answers one
question both ways in the same run, over the same scan (``--segments``, default 4; pass
``--segments 1 4`` to add a sequential scan):

    per status: COUNT(*), SUM(total), AVG(total), MIN(total), MAX(total), MAX(placed_at)

* streaming: ``db.scan(Order).group_by(Order.status).aggregate(...)``: projects only the
  attributes aggregation reads and folds each page into per-group states as it arrives;
* list: ``await db.scan(Order).all()``, then the same aggregates in a plain Python loop over the
  model instances, with exact Decimal arithmetic like the library's.

Reported per way: wall time and client CPU time (this process only; DynamoDB Local runs in its
own, and its scan speed dominates wall time), each the best of ``--repeats`` runs without
tracing; and peak memory, from separate runs under ``tracemalloc`` (peak traced bytes above what
was allocated before the run). Then the ratios list / streaming. Both answers are checked equal.

    PYTHONPATH=. python benchmarks/bench_aggregate.py [--items N] [--segments S ...] [--repeats R]

Nothing is asserted about the ratios; the exit code is 0 when both answers agree.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import random
import sys
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Annotated, Any, TypeVar

import anyio
import msgspec

from dynamorm_async import HashKey, Model, RangeKey, Session
from dynamorm_async._aggregate.accumulator import Row
from dynamorm_async._aggregate.functions import Avg, Count, Max, Min, Sum
from dynamorm_async.testing import dynamodb_endpoint_context, local_session

T = TypeVar("T")

_STATUSES = ("new", "paid", "shipped", "cancelled", "returned", "void", "held", "refunded")
_CITIES = ("Berlin", "Hamburg", "München", "Köln", "Leipzig", "Dresden")
_AVG = Context(prec=38, rounding=ROUND_HALF_EVEN)
_SUM = Context(prec=400)


class Address(msgspec.Struct):
    street: str
    city: str
    zip: str | None = None


class Order(Model, table="bench_aggregate_orders"):
    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    status: str = "new"
    total: Decimal = Decimal(0)
    qty: int = 0
    placed_at: datetime | None = None
    ship_to: Address | None = None
    lines: list[str] = msgspec.field(default_factory=list)
    note: str | None = None


def build_orders(n: int, seed: int = 11) -> list[Order]:
    """``n`` orders of a realistic size (~0.5 KB each: an address, order lines, a note)."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        Order(
            customer=f"customer-{i % 1009:04d}",
            order_id=f"2025-{i:08d}",
            status=rng.choice(_STATUSES),
            total=Decimal(rng.randrange(0, 10_000_000)).scaleb(-2),
            qty=rng.randrange(1, 50),
            placed_at=start + timedelta(seconds=rng.randrange(0, 3 * 10**7)),
            ship_to=Address(
                street=f"{rng.randrange(1, 200)} Hauptstraße", city=rng.choice(_CITIES)
            ),
            lines=[f"sku-{rng.randrange(10**6):06d} x{rng.randrange(1, 9)}" for _ in range(5)],
            note="".join(rng.choices("abcdefghijklmnopqrstuvwxyz ", k=240)),
        )
        for i in range(n)
    ]


# --- the two ways ---------------------------------------------------------------------------


async def streaming(db: Session, segments: int) -> list[Row]:
    return await (
        db.scan(Order)
        .segments(segments)
        .group_by(Order.status)
        .aggregate(
            n=Count(),
            total=Sum(Order.total),
            avg=Avg(Order.total),
            lo=Min(Order.total),
            hi=Max(Order.total),
            last=Max(Order.placed_at),
        )
    )


async def fetch_all_then_group(db: Session, segments: int) -> list[Row]:
    orders = await db.scan(Order).segments(segments).all()
    groups: dict[str, list[Any]] = {}
    for order in orders:
        state = groups.get(order.status)
        if state is None:
            groups[order.status] = [1, order.total, order.total, order.total, order.placed_at]
            continue
        state[0] += 1
        state[1] = _SUM.add(state[1], order.total)
        state[2] = min(state[2], order.total)
        state[3] = max(state[3], order.total)
        if order.placed_at is not None and (state[4] is None or order.placed_at > state[4]):
            state[4] = order.placed_at
    return [
        Row(
            status,
            {
                "n": n,
                "total": total,
                "avg": _AVG.divide(total, Decimal(n)),
                "lo": lo,
                "hi": hi,
                "last": last,
            },
        )
        for status, (n, total, lo, hi, last) in sorted(groups.items())
    ]


# --- measuring ------------------------------------------------------------------------------


async def timed(run: Callable[[], Awaitable[T]], repeats: int) -> tuple[float, float, T]:
    """Best wall time and best client CPU time of ``repeats`` runs, and the last result.

    CPU time is this process only: it leaves out DynamoDB Local (a separate process), so it
    shows the client-side cost that wall time, dominated by the server, hides.
    """
    best_wall = best_cpu = float("inf")
    result: T | None = None
    for _ in range(repeats):
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        result = await run()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    assert result is not None
    return best_wall, best_cpu, result


async def peak_memory(run: Callable[[], Awaitable[object]]) -> int:
    """Peak bytes traced while ``run`` executes, above what was allocated before it."""
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = await run()
        _, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        tracemalloc.stop()
    return peak - before


async def load(db: Session, items: int) -> None:
    orders = build_orders(items)
    started = time.perf_counter()
    await db.create_table(Order)
    await db.batch_put(orders)
    print(f"loaded {items:,} items in {time.perf_counter() - started:.1f} s")


async def bench(endpoint: str, items: int, shapes: list[int], repeats: int) -> bool:
    prefix = f"bench{uuid.uuid4().hex[:8]}_"
    async with local_session(endpoint, table_prefix=prefix, max_concurrency=16) as db:
        try:
            await load(db, items)
            # DynamoDB Local compiles its hot paths on first use; keep that out of the timings.
            await streaming(db, max(shapes))
            await fetch_all_then_group(db, max(shapes))
            agree = True
            header = f"{'scan':<13}{'way':<20}{'wall':>9}{'client CPU':>12}{'peak memory':>14}"
            print(f"\n{header}")
            ratios = []
            for shape in shapes:
                label = "sequential" if shape == 1 else f"{shape} segments"
                by_groups = functools.partial(streaming, db, shape)
                by_list = functools.partial(fetch_all_then_group, db, shape)
                wall_s, cpu_s, rows_stream = await timed(by_groups, repeats)
                wall_l, cpu_l, rows_list = await timed(by_list, repeats)
                mem_s = await peak_memory(by_groups)
                mem_l = await peak_memory(by_list)
                if rows_stream != rows_list:
                    agree = False
                    print(f"MISMATCH ({label}):\n  streaming {rows_stream}\n  list {rows_list}")
                if sum(row["n"] for row in rows_stream) != items:
                    agree = False
                    print(f"MISMATCH ({label}): streaming counted the wrong number of items")
                for name, wall, cpu, mem in (
                    ("streaming group_by", wall_s, cpu_s, mem_s),
                    ("all() then group", wall_l, cpu_l, mem_l),
                ):
                    print(
                        f"{label:<13}{name:<20}{wall:>8.2f}s{cpu:>11.2f}s{mem / 2**20:>10.1f} MiB"
                    )
                    label = ""
                ratios.append((shape, wall_l / wall_s, cpu_l / cpu_s, mem_l / mem_s))
            print("\nratios, all() then group / streaming (above 1: streaming is better)")
            for shape, wall_ratio, cpu_ratio, memory_ratio in ratios:
                label = "sequential" if shape == 1 else f"{shape} segments"
                print(
                    f"{label:<13}wall time {wall_ratio:5.2f}x   client CPU {cpu_ratio:5.2f}x   "
                    f"peak memory {memory_ratio:5.1f}x"
                )
            return agree
        finally:
            with contextlib.suppress(Exception):
                await db.delete_table(Order, wait=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument(
        "--segments",
        type=int,
        nargs="+",
        default=[4],
        help="scan shapes to measure, e.g. --segments 1 4 (1: a sequential scan)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.items < 1 or args.repeats < 1 or min(args.segments) < 1:
        parser.error("--items, --segments and --repeats must be positive")
    with dynamodb_endpoint_context() as endpoint:
        print(f"DynamoDB Local at {endpoint}; Python {sys.version.split()[0]}")
        agree = anyio.run(bench, endpoint, args.items, args.segments, args.repeats)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
