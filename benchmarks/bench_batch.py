"""batch_put throughput of dynamorm-async against hand-written aiobotocore loops, same run.

Writes N items (10,000 by default) to DynamoDB Local three ways, best of several rounds:

- ``dynamorm``: ``Session.batch_put`` of model instances (marshalling included in the time);
- ``hand, concurrent``: a plain aiobotocore client, items pre-serialized with boto3's
  TypeSerializer outside the timed region, chunks of 25 sent with ``asyncio.gather`` under a
  semaphore of the Session's ``max_concurrency``, UnprocessedItems re-sent;
- ``hand, sequential``: the same loop, one chunk after another;
- ``hand, concurrent+ser``: the concurrent loop with its TypeSerializer work inside the timed
  region, as a real caller pays it (the library's time always includes its marshalling and the
  validation of every item before the first request).

Every round writes fresh keys, and the order of the three runs rotates between rounds.

DynamoDB Local answers in about a millisecond and applies writes one at a time, so on a small
machine it, not the client, sets the pace and concurrency gains little over a sequential loop.
The second pass (``--latency-ms``, 10 by default; 0 skips it) puts a loopback proxy, in a
process of its own, in front of it that holds every request that long, as the round trip and
service time of a BatchWriteItem on the real service add up to.

    PYTHONPATH=. python benchmarks/bench_batch.py [--items N] [--rounds R] [--concurrency C]
        [--latency-ms MS]

DynamoDB Local comes from DYNAMODB_ENDPOINT, else is started for the run (Docker or the jar).
The goals (>= 0.95x the concurrent loop, >= 3x the sequential one) are reported, not asserted:
the exit code is 0.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Annotated, Any

import aiohttp
import msgspec
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from aiohttp import web
from boto3.dynamodb.types import TypeSerializer

from dynamorm_async import HashKey, Model, RangeKey, Session
from dynamorm_async.testing import dynamodb_endpoint_context, local_session

from _common import helper_server, serve_until_stdin_closes

CONCURRENT_GOAL = 0.95
SEQUENTIAL_GOAL = 3.0
CHUNK = 25


class Event(Model, table="bench_batch_events"):
    device: Annotated[str, HashKey()]
    seq: Annotated[int, RangeKey()]
    kind: str = "reading"
    value: Decimal = Decimal(0)
    count: int = 0
    ok: bool = True
    labels: set[str] = msgspec.field(default_factory=set)
    payload: str = ""


def build_events(n: int, run: str) -> list[Event]:
    return [
        Event(
            device=f"{run}-dev-{i % 200:03d}",
            seq=i,
            kind=("reading", "alarm", "heartbeat")[i % 3],
            value=Decimal(i * 7 % 10_000).scaleb(-2),
            count=i % 1000,
            ok=i % 11 != 0,
            labels={"a", f"l{i % 5}"},
            payload="x" * (80 + i % 60),
        )
        for i in range(n)
    ]


def serialize(events: list[Event]) -> list[dict[str, Any]]:
    """Wire items as a boto3 user would prepare them, outside the timed region."""
    serializer = TypeSerializer()
    out = []
    for e in events:
        plain = {
            "device": e.device,
            "seq": e.seq,
            "kind": e.kind,
            "value": e.value,
            "count": e.count,
            "ok": e.ok,
            "labels": set(e.labels),
            "payload": e.payload,
        }
        out.append({k: serializer.serialize(v) for k, v in plain.items()})
    return out


async def write_chunk(client: Any, table: str, chunk: list[dict[str, Any]]) -> None:
    requests: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
    while requests:
        response = await client.batch_write_item(RequestItems=requests)
        requests = response.get("UnprocessedItems") or {}


async def hand_sequential(client: Any, table: str, items: list[dict[str, Any]], _: int) -> None:
    for start in range(0, len(items), CHUNK):
        await write_chunk(client, table, items[start : start + CHUNK])


async def hand_concurrent_serializing(
    client: Any, table: str, events: list[Event], concurrency: int
) -> None:
    await hand_concurrent(client, table, serialize(events), concurrency)


async def hand_concurrent(
    client: Any, table: str, items: list[dict[str, Any]], concurrency: int
) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def bounded(chunk: list[dict[str, Any]]) -> None:
        async with semaphore:
            await write_chunk(client, table, chunk)

    await asyncio.gather(
        *(bounded(items[start : start + CHUNK]) for start in range(0, len(items), CHUNK))
    )


_HOP_BY_HOP = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive",
     "accept-encoding", "content-encoding", "date", "server"}
)


async def serve_delayed(upstream: str, seconds: float) -> None:
    """Run a loopback HTTP proxy to ``upstream`` that holds each request ``seconds``.

    Runs in a process of its own, started by :func:`delayed`.
    """
    async with aiohttp.ClientSession() as forward:

        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            await asyncio.sleep(seconds)
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Accept-Encoding"] = "identity"
            async with forward.request(
                request.method, upstream + request.path_qs, headers=headers, data=body
            ) as answer:
                data = await answer.read()
                kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
                return web.Response(status=answer.status, body=data, headers=kept)

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", handle)
        await serve_until_stdin_closes(app)


def delayed(upstream: str, seconds: float) -> AbstractAsyncContextManager[str]:
    """The URL of a delaying proxy to ``upstream`` (see serve_delayed), for the block."""
    return helper_server(__file__, "--serve-delayed", upstream, str(seconds))


async def timed(action: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await action()
    return time.perf_counter() - started


async def count_items(db: Session, table: str) -> int:
    total = 0
    request: dict[str, Any] = {"TableName": table, "Select": "COUNT"}
    while True:
        page = await db.call("Scan", request, table=table)
        total += int(page["Count"])
        last = page.get("LastEvaluatedKey")
        if not last:
            return total
        request["ExclusiveStartKey"] = last


async def measure(url: str, n: int, rounds: int, concurrency: int) -> dict[str, float]:
    """Best seconds of each way of writing ``n`` items, over ``rounds`` rounds."""
    prefix = f"bench{uuid.uuid4().hex[:8]}_"
    best: dict[str, float] = {}
    async with local_session(url, table_prefix=prefix, max_concurrency=concurrency) as db:
        await db.create_table(Event)
        table = db.table_name(Event)
        config = AioConfig(max_pool_connections=concurrency, retries={"mode": "standard"})
        async with get_session().create_client(
            "dynamodb",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=config,
        ) as client:
            written = 0
            # Round 0 warms up the JVM, both clients and their connection pools; not counted.
            for round_no in range(rounds + 1):
                runs: list[tuple[str, Callable[[], Awaitable[object]]]] = []
                ours = build_events(n, f"r{round_no}o")
                runs.append(("dynamorm batch_put", functools.partial(db.batch_put, ours)))
                for name, loop in (
                    ("hand, concurrent", hand_concurrent),
                    ("hand, sequential", hand_sequential),
                ):
                    tag = "c" if loop is hand_concurrent else "s"
                    wire = serialize(build_events(n, f"r{round_no}{tag}"))
                    runs.append((name, functools.partial(loop, client, table, wire, concurrency)))
                events = build_events(n, f"r{round_no}z")
                runs.append(
                    (
                        "hand, concurrent+ser",
                        functools.partial(
                            hand_concurrent_serializing, client, table, events, concurrency
                        ),
                    )
                )
                shift = round_no % len(runs)
                for name, action in runs[shift:] + runs[:shift]:
                    seconds = await timed(action)
                    written += n
                    if round_no:
                        best[name] = min(best.get(name, seconds), seconds)
        stored = await count_items(db, table)
        await db.delete_table(Event, wait=False)
    if stored != written:
        print(f"!! {stored} items stored, {written} written", file=sys.stderr)
    return best


def report(title: str, n: int, best: dict[str, float]) -> None:
    ours = best["dynamorm batch_put"]
    print(title)
    for name, seconds in sorted(best.items(), key=lambda kv: kv[1]):
        print(f"  {name:<20} {seconds:7.3f} s  {n / seconds:9,.0f} items/s")
    vs_concurrent = best["hand, concurrent"] / ours
    vs_sequential = best["hand, sequential"] / ours
    mark = {True: "ok", False: "MISSED"}
    print(f"  speed vs hand-written concurrent loop: {vs_concurrent:5.2f}x "
          f"(goal >= {CONCURRENT_GOAL}x: {mark[vs_concurrent >= CONCURRENT_GOAL]})")
    print(f"  speed vs hand-written sequential loop: {vs_sequential:5.2f}x "
          f"(goal >= {SEQUENTIAL_GOAL}x: {mark[vs_sequential >= SEQUENTIAL_GOAL]})")
    vs_serializing = best["hand, concurrent+ser"] / ours
    print(f"  speed vs concurrent loop timing its own serialization: {vs_serializing:5.2f}x")


async def main(url: str, n: int, rounds: int, concurrency: int, latency_ms: float) -> None:
    where = f"concurrency {concurrency}, best of {rounds} rounds"
    report(f"batch_put of {n:,} items, DynamoDB Local at {url}, {where}",
           n, await measure(url, n, rounds, concurrency))
    if latency_ms > 0:
        async with delayed(url, latency_ms / 1000) as slow:
            best = await measure(slow, n, rounds, concurrency)
        report(f"batch_put of {n:,} items, {latency_ms:g} ms added per call, {where}", n, best)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--serve-delayed", nargs=2, metavar=("UPSTREAM", "SECONDS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_delayed:
        asyncio.run(serve_delayed(args.serve_delayed[0], float(args.serve_delayed[1])))
        sys.exit(0)
    with dynamodb_endpoint_context() as url:
        asyncio.run(main(url, args.items, args.rounds, args.concurrency, args.latency_ms))
