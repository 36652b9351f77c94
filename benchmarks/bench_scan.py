"""Scan throughput: sequential vs parallel scan, and dynamorm-async vs raw aiobotocore paging.

Loads ``--items`` (default 20,000) items into DynamoDB Local (``DYNAMODB_ENDPOINT``, else one
started through ``dynamorm_async.testing.dynamodb_endpoint_context``), then times reading every
item as typed Python values, in the same run:

* library, sequential: ``await db.scan(Row).all()`` (model instances);
* library, parallel: ``await db.scan(Row).segments(4).all()`` (segments read ahead concurrently)
  and ``async for`` over the same parallel scan (segments read round by round);
* raw: a plain aiobotocore client (botocore's normal service model, which parses every
  AttributeValue) paging with its Scan paginator, each item through boto3's ``TypeDeserializer``
  into a dict.

Each figure is the best of ``--repeats`` runs; every variant must return every item. Ratios > 1
mean the first-named variant is faster.

    PYTHONPATH=. python benchmarks/bench_scan.py [--items N] [--segments S] [--repeats R]

Nothing is asserted about the ratios; the exit code is 0 when every variant read every item.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated, Any

import anyio
import msgspec
from aiobotocore.session import AioSession
from boto3.dynamodb.types import TypeDeserializer

from dynamorm_async import HashKey, Model, RangeKey, Session
from dynamorm_async.testing import dynamodb_endpoint_context, local_session


class Row(Model, table="bench_scan"):
    pk: Annotated[str, HashKey()]
    sk: Annotated[int, RangeKey()]
    name: str = ""
    amount: Decimal = Decimal(0)
    qty: int = 0
    active: bool = False
    tags: list[str] = msgspec.field(default_factory=list)
    note: str | None = None


def build_rows(n: int) -> list[Row]:
    return [
        Row(
            pk=f"p{i % 500:03}",
            sk=i,
            name=f"item number {i}",
            amount=Decimal(i) / 100,
            qty=i % 97,
            active=i % 2 == 0,
            tags=[f"t{i % 7}", f"t{i % 11}"],
            note=None if i % 3 else f"note {i}",
        )
        for i in range(n)
    ]


async def timed(run: Callable[[], Awaitable[int]], repeats: int) -> float:
    """Best wall time of ``repeats`` runs; each must return the full item count."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        count = await run()
        best = min(best, time.perf_counter() - started)
        if count != EXPECTED[0]:
            raise SystemExit(f"a run returned {count} items, expected {EXPECTED[0]}")
    return best


EXPECTED = [0]


async def library_all(db: Session, segments: int) -> int:
    return len(await db.scan(Row).segments(segments).all())


async def library_iter(db: Session, segments: int) -> int:
    n = 0
    async for _ in db.scan(Row).segments(segments):
        n += 1
    return n


async def raw_scan(client: Any, table: str) -> int:
    deserializer = TypeDeserializer()
    rows: list[dict[str, Any]] = []
    async for page in client.get_paginator("scan").paginate(TableName=table):
        rows.extend(
            {k: deserializer.deserialize(v) for k, v in item.items()} for item in page["Items"]
        )
    return len(rows)


async def bench(url: str, items: int, segments: int, repeats: int) -> None:
    EXPECTED[0] = items
    prefix = f"bench{uuid.uuid4().hex[:8]}_"
    async with local_session(url, table_prefix=prefix, max_concurrency=16) as db:
        await db.create_table(Row)
        try:
            started = time.perf_counter()
            await db.batch_put(build_rows(items))
            print(f"loaded {items} items in {time.perf_counter() - started:.1f}s")
            session = AioSession()
            async with session.create_client(
                "dynamodb",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id="local",
                aws_secret_access_key="local",
            ) as client:
                table = db.table_name(Row)
                # One untimed pass each warms the JVM's caches and both clients' pools.
                await library_all(db, 1)
                await raw_scan(client, table)
                sequential = await timed(lambda: library_all(db, 1), repeats)
                parallel = await timed(lambda: library_all(db, segments), repeats)
                parallel_iter = await timed(lambda: library_iter(db, segments), repeats)
                raw = await timed(lambda: raw_scan(client, table), repeats)
        finally:
            await db.delete_table(Row, wait=False)

    def rate(seconds: float) -> str:
        return f"{seconds * 1000:8.0f} ms  {items / seconds:9,.0f} items/s"

    print(f"library scan, sequential       {rate(sequential)}")
    print(f"library scan, segments({segments}) all()  {rate(parallel)}")
    print(f"library scan, segments({segments}) async for {rate(parallel_iter)}")
    print(f"raw aiobotocore + TypeDeserializer {rate(raw)}")
    print(f"ratio parallel all() vs sequential:     {sequential / parallel:5.2f}x")
    print(f"ratio parallel async for vs sequential: {sequential / parallel_iter:5.2f}x")
    print(f"ratio library (sequential) vs raw:      {raw / sequential:5.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.items < 1 or args.segments < 1 or args.repeats < 1:
        parser.error("--items, --segments and --repeats must be positive")
    with dynamodb_endpoint_context() as url:
        anyio.run(bench, url, args.items, args.segments, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
