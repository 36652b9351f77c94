"""dynamorm-async side by side with the Python DynamoDB clients a user would pick instead.

Six workloads, each run by every library in the same process against the same
DynamoDB Local (``DYNAMODB_ENDPOINT``, else one started through
``dynamorm_async.testing.dynamodb_endpoint_context``), with the same dummy credentials and
region, on tables of one shape holding the same items:

1. decode a ~1 MB Scan response body into objects (items/s): each library's own scan call
   against a loopback server, in a process of its own, that answers every request with the
   same ~1 MB Scan body (built from the table's items, with an ``x-amz-crc32`` header as
   DynamoDB sends), ``--decode-repeats`` bodies per timing. So the figure includes one loopback
   HTTP round trip per body; the reference lines do not: ``json.loads`` of the same body, and
   dynamorm-async's own decoding of it into models (what its transport and scan do with the
   bytes), which the decode goal compares, each the fastest of at least five runs;
2. batch write ``--writes`` items (items/s), fresh keys for every library and round;
3. sequential scan of the ``--items`` table (items/s);
4. parallel scan of it in ``--segments`` segments (items/s);
5. ``get_item`` of ``--gets`` keys, ``--concurrency`` in flight (ops/s);
6. query of one partition in ``--pages`` pages of ``--page-size`` (items/s).

How each library is driven (its idiomatic fastest API; results as Python values):

* raw aiobotocore: its plain client (``max_pool_connections`` = ``--concurrency``); requests
  are wire-format dicts written out by hand, results go through boto3's ``TypeDeserializer``
  into dicts; paginators for scan and query; no parallel scan of its own, so the segments run
  under ``asyncio.gather``; batch chunks of 25 with ``--concurrency`` in flight.
* aiodynamo: ``Client`` over its aiohttp adapter, dicts with its default numeric type (float);
  ``scan()``, ``query_single_page(limit=...)`` page by page, ``get_item``, ``batch_write`` in
  chunks of 25 with ``--concurrency`` in flight. Its scan takes no segment, so each segment is
  paged through ``send_request`` + ``dy2py`` and the segments run under ``asyncio.gather``.
* pydynox (Rust core; skipped with a note when it is not installed): ``DynamoDBClient``, dicts;
  ``scan()``, ``parallel_scan()``, ``query(page_size=...)``, ``get_item``, and ``batch_write``
  of all the items at once (it chunks and retries on its own).
* dynamorm-async: ``Session(max_concurrency=--concurrency)``; typed models; ``scan().all()``,
  ``scan().segments(n).all()``, ``async for`` over ``query().page_size(n)``, ``get``,
  ``batch_put``.

Each round runs every workload once per library, the libraries taking turns in an order that
rotates between rounds and workloads; an untimed first round warms up the JVM, the connection
pools and the caches. Figures are medians over ``--rounds`` rounds. The table gives, per
workload, dynamorm-async's rate over the best other library's and over raw aiobotocore's; the
performance goals (>= 1.1x the best peer everywhere, get_item >= 3x raw aiobotocore, decoding
within 1.2x of ``json.loads``) are reported as met or missed, never asserted: the exit code is 0
when every library returned every result.

Two more tables give the CPU time per result of each library's runs: this process's (every
thread, so pydynox's runtime counts too), which is what a client library controls, and
DynamoDB Local's (read from ``/proc`` when it runs on this machine), with the cores it kept
busy during dynamorm-async's runs. Where the server's share is large the server sets the pace,
and the rates of clients that send it the same requests converge, whatever their own CPU.

    PYTHONPATH=. python benchmarks/bench_peers.py [--quick] [--rounds R] [--items N]
        [--writes N] [--gets N] [--pages N] [--page-size N] [--segments S] [--concurrency C]
        [--decode-kib K] [--decode-repeats N]

The peers come with the ``bench`` extra (``pip install -e '.[dev,bench]'``; ``make bench``
installs it). ``--quick`` is a smoke run with small sizes and one round.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import importlib.metadata
import importlib.util
import json
import os
import random
import statistics
import sys
import time
import uuid
import zlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from decimal import Decimal
from typing import Any

import anyio
import msgspec
from aiohttp import web

from dynamorm_async import DynamormError
from dynamorm_async.testing import dynamodb_endpoint_context

from _common import helper_server, serve_until_stdin_closes, server_cpu
from _peers import (
    LIBRARIES,
    OURS,
    QUERY_PK,
    RAW,
    Entry,
    Opener,
    Peer,
    Row,
    Tables,
    Values,
    Written,
    bounded,
    session,
    wire,
)

PEER_GOAL = 1.1
SINGLE_ITEM_GOAL = 3.0
DECODE_GOAL = 1.2


# --- the data ---------------------------------------------------------------------------------

_NOTE = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt"


def values(i: int, pk: str) -> Values:
    """Item ``i`` as plain Python values (~300 bytes on the wire)."""
    return {
        "pk": pk,
        "sk": i,
        "name": f"item number {i}",
        "amount": Decimal(i * 7 % 100_000).scaleb(-2),
        "qty": i % 97,
        "active": i % 2 == 0,
        "tags": [f"t{i % 7}", f"t{i % 11}"],
        "note": f"{i}: {_NOTE}",
    }


def spread(n: int, prefix: str) -> list[Values]:
    """``n`` items in partitions of about 50, so that scan segments get even shares."""
    partitions = max(1, n // 50)
    return [values(i, f"{prefix}{i % partitions:04d}") for i in range(n)]


def scan_body(kib: int) -> tuple[bytes, int]:
    """A Scan response body of about ``kib`` KiB of items of this shape, and its item count."""
    items: list[dict[str, Any]] = []
    size = 0
    while size < kib * 1024:
        items.append(wire(values(len(items), f"p{len(items) % 200:04d}")))
        size += len(msgspec.json.encode(items[-1])) + 1
    body = {"Count": len(items), "Items": items, "ScannedCount": len(items)}
    return msgspec.json.encode(body), len(items)


async def serve_scan_body(kib: int) -> None:
    """Answer every request with ``scan_body(kib)`` as DynamoDB would (run by bench())."""
    body, _ = scan_body(kib)
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amz-crc32": str(zlib.crc32(body))}

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, headers={**headers, "x-amzn-RequestId": uuid.uuid4().hex})

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", handle)
    await serve_until_stdin_closes(app)


# --- measuring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    rounds: int
    items: int
    writes: int
    gets: int
    pages: int
    page_size: int
    segments: int
    concurrency: int
    decode_kib: int
    decode_repeats: int


@dataclass(frozen=True)
class Contestant:
    name: str
    local: Peer  # on DynamoDB Local
    canned: Peer  # on the server that answers with the ~1 MB Scan body


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    unit: str
    expected: int
    # Untimed preparation for one contestant and round; returns the timed action.
    start: Callable[[Contestant, int], Callable[[], Awaitable[int]]]


async def repeat(action: Callable[[], Awaitable[int]], times: int) -> int:
    return sum([await action() for _ in range(times)])


def workloads(cfg: Config, keys: list[tuple[str, int]], body_items: int) -> list[Workload]:
    def writes(c: Contestant, round_no: int) -> Callable[[], Awaitable[int]]:
        rows = spread(cfg.writes, f"{c.name[:3]}{round_no}-")
        return functools.partial(c.local.batch_write, c.local.prepare(rows))

    def gets(c: Contestant, _: int) -> Callable[[], Awaitable[int]]:
        jobs = [functools.partial(c.local.get, pk, sk) for pk, sk in keys]
        return functools.partial(bounded, jobs, cfg.concurrency)

    return [
        Workload(
            "decode",
            f"decode a {cfg.decode_kib:,} KiB Scan body",
            "items/s",
            body_items * cfg.decode_repeats,
            lambda c, _: functools.partial(repeat, c.canned.scan, cfg.decode_repeats),
        ),
        Workload("write", f"batch write {cfg.writes:,} items", "items/s", cfg.writes, writes),
        Workload(
            "scan",
            f"sequential scan of {cfg.items:,}",
            "items/s",
            cfg.items,
            lambda c, _: c.local.scan,
        ),
        Workload(
            "parallel",
            f"parallel scan, {cfg.segments} segments",
            "items/s",
            cfg.items,
            lambda c, _: functools.partial(c.local.parallel_scan, cfg.segments),
        ),
        Workload(
            "get", f"get_item x{len(keys):,}, {cfg.concurrency} in flight", "ops/s", len(keys), gets
        ),
        Workload(
            "query",
            f"query, {cfg.pages} pages of {cfg.page_size}",
            "items/s",
            cfg.pages * cfg.page_size,
            lambda c, _: functools.partial(c.local.query, cfg.page_size),
        ),
    ]


def fastest_rate(decode: Callable[[], int], repeats: int) -> float:
    """Items per second of the fastest of ``repeats`` runs of ``decode`` (which returns its
    item count). The fastest, as ``timeit`` advises: in a process holding this many modules a
    full garbage collection landing in one run costs more than the decoding itself."""
    gc.collect()
    best, items = float("inf"), 0
    for _ in range(max(repeats, 5)):
        started = time.perf_counter()
        items = decode()
        best = min(best, time.perf_counter() - started)
    return items / best


def json_loads_rate(body: bytes, items: int, repeats: int) -> float:
    """Items per second of ``json.loads`` on the Scan body: the decode reference."""

    def decode() -> int:
        return len(json.loads(body)["Items"])

    return fastest_rate(decode, repeats)


def own_decode_rate(body: bytes, items: int, repeats: int) -> float:
    """Items per second of dynamorm-async's own decoding of the Scan body into ``Row`` models,
    without the HTTP round trip: what the transport and a scan do with an answer's bytes
    (private functions, reached here to time exactly that)."""
    from dynamorm_async._model.model import model_info
    from dynamorm_async._transport.answers import read_answer

    info = model_info(Row)
    shape = info.wire_shape
    assert shape is not None

    def decode() -> int:
        return len([info.decode(item) for item in shape.items(read_answer(body)["Items"])])

    rate = fastest_rate(decode, repeats)
    assert decode() == items
    return rate


@dataclass
class Samples:
    """One figure per round, keyed by (workload title, library name); reference rates under
    (their name, "")."""

    rates: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    client_cpu: dict[tuple[str, str], list[float]] = field(
        default_factory=lambda: defaultdict(list)
    )
    """This process's CPU microseconds per result (every thread: pydynox's runtime too)."""
    server_cpu: dict[tuple[str, str], list[float]] = field(
        default_factory=lambda: defaultdict(list)
    )
    """DynamoDB Local's CPU microseconds per result, when its process can be read."""


async def measure(
    contestants: list[Contestant],
    work: list[Workload],
    rounds: int,
    references: Mapping[str, Callable[[], float]],
    server: Callable[[], float] | None,
) -> Samples:
    """Rates and CPU per result of every workload and library, one per round. Round 0 warms
    up and is not kept."""
    samples = Samples()
    for round_no in range(rounds + 1):
        started = time.perf_counter()
        for index, workload in enumerate(work):
            shift = (round_no + index) % len(contestants)
            for contestant in contestants[shift:] + contestants[:shift]:
                action = workload.start(contestant, round_no)
                gc.collect()
                # The decode workload talks to the canned-body server, not DynamoDB Local.
                clock = server if workload.key != "decode" else None
                server_began = clock() if clock else 0.0
                began, cpu_began = time.perf_counter(), time.process_time()
                count = await action()
                seconds = time.perf_counter() - began
                cpu = time.process_time() - cpu_began
                if count != workload.expected:
                    raise SystemExit(
                        f"{contestant.name}, {workload.title}: {count} results, "
                        f"expected {workload.expected}"
                    )
                if round_no:
                    key = (workload.title, contestant.name)
                    samples.rates[key].append(count / seconds)
                    samples.client_cpu[key].append(cpu / count * 1e6)
                    if clock:
                        samples.server_cpu[key].append((clock() - server_began) / count * 1e6)
        if round_no:
            for name, reference in references.items():
                samples.rates[name, ""].append(reference())
        label = f"round {round_no}/{rounds}" if round_no else "warm-up round"
        print(f"{label} took {time.perf_counter() - started:.1f} s", flush=True)
    return samples


# --- reporting --------------------------------------------------------------------------------


def rate_text(rate: float) -> str:
    return f"{rate / 1000:.1f}k" if rate >= 1000 else f"{rate:.0f}"


def mark(met: bool) -> str:
    return "met" if met else "MISSED"


@dataclass(frozen=True)
class Standing:
    """dynamorm-async's median rate over the best other library's and raw aiobotocore's."""

    best_peer: str
    vs_best: float
    vs_raw: float


def standings(
    work: list[Workload], names: list[str], median: dict[tuple[str, str], float]
) -> dict[str, Standing]:
    out = {}
    for workload in work:
        ours = median[workload.title, OURS]
        peers = {name: median[workload.title, name] for name in names if name != OURS}
        best = max(peers, key=peers.__getitem__)
        out[workload.key] = Standing(best, ours / peers[best], ours / peers[RAW])
    return out


def medians(figures: dict[tuple[str, str], list[float]]) -> dict[tuple[str, str], float]:
    return {key: statistics.median(runs) for key, runs in figures.items() if runs}


def report(work: list[Workload], names: list[str], samples: Samples) -> None:
    """Print the tables (Markdown) and the performance goals, met or missed."""
    median = medians(samples.rates)
    ranks = standings(work, names, median)
    columns = [name for name, _, _ in LIBRARIES]
    print(f"\n| workload | {' | '.join(columns)} | vs best peer | vs {RAW} |")
    print("|---" * (len(columns) + 3) + "|")
    for workload in work:
        cells = [
            rate_text(median[workload.title, name]) if name in names else "n/a" for name in columns
        ]
        rank = ranks[workload.key]
        print(
            f"| {workload.title} ({workload.unit}) | {' | '.join(cells)} "
            f"| {rank.vs_best:.2f} ({rank.best_peer}) | {rank.vs_raw:.2f} |"
        )
    loads, own = median["json_loads_rate", ""], median["own_decode_rate", ""]
    print(f"\njson.loads of the same Scan body: {rate_text(loads)} items/s")
    print(
        f"dynamorm-async's decoding of it into models, without HTTP: {rate_text(own)} items/s "
        f"({loads / median[work[0].title, OURS]:.2f}x json.loads' time with the round trip)"
    )
    report_cpu(work, names, samples)
    report_goals(ranks, loads / own)


def report_cpu(work: list[Workload], names: list[str], samples: Samples) -> None:
    """CPU per result: what each client spends (the part a library controls), and what
    DynamoDB Local spends answering it (the same work whoever asks)."""
    client, server, rates = (
        medians(samples.client_cpu),
        medians(samples.server_cpu),
        medians(samples.rates),
    )
    columns = [name for name, _, _ in LIBRARIES]
    print("\nclient CPU per result (microseconds, this process, every thread; lower is better)")
    print(f"| workload | {' | '.join(columns)} | best peer's over ours |")
    print("|---" * (len(columns) + 2) + "|")
    for workload in work:
        cells = [f"{client[workload.title, n]:.1f}" if n in names else "n/a" for n in columns]
        peers = [client[workload.title, n] for n in names if n != OURS]
        print(
            f"| {workload.title} | {' | '.join(cells)} "
            f"| {min(peers) / client[workload.title, OURS]:.2f} |"
        )
    if not server:
        print("(DynamoDB Local's CPU is not readable here: another host or no /proc)")
        return
    print("\nDynamoDB Local's CPU per result (microseconds), and its cores busy in our runs")
    print(f"| workload | {' | '.join(columns)} | cores busy |")
    print("|---" * (len(columns) + 2) + "|")
    for workload in work[1:]:  # the decode workload is answered by the canned-body server
        key = (workload.title, OURS)
        cells = [f"{server[workload.title, n]:.0f}" if n in names else "n/a" for n in columns]
        busy = server[key] * rates[key] / 1e6
        print(f"| {workload.title} | {' | '.join(cells)} | {busy:.2f} of {os.cpu_count()} |")


def report_goals(ranks: dict[str, Standing], decode_cost: float) -> None:
    """``decode_cost``: dynamorm-async's decoding time (no HTTP) over json.loads' on the
    same body."""
    print("performance goals (reported, not asserted):")
    behind = [
        f"{key} {rank.vs_best:.2f}x" for key, rank in ranks.items() if rank.vs_best < PEER_GOAL
    ]
    print(
        f"  every workload >= {PEER_GOAL:g}x the best peer: "
        + (mark(True) if not behind else f"{mark(False)} ({', '.join(behind)})")
    )
    single = ranks["get"].vs_raw
    print(
        f"  get_item >= {SINGLE_ITEM_GOAL:g}x raw aiobotocore: {single:.2f}x, "
        f"{mark(single >= SINGLE_ITEM_GOAL)}"
    )
    print(
        f"  decode within {DECODE_GOAL:g}x of json.loads: takes {decode_cost:.2f}x its time, "
        f"{mark(decode_cost <= DECODE_GOAL)}"
    )


# --- the run ----------------------------------------------------------------------------------


def available() -> list[tuple[str, Opener]]:
    found = []
    for name, module, opener in LIBRARIES:
        if module is not None and importlib.util.find_spec(module) is None:
            print(
                f"note: {name} is not installed, its column stays empty "
                "(the bench extra has it: pip install -e '.[dev,bench]')"
            )
            continue
        found.append((name, opener))
    return found


async def load(url: str, tables: Tables, cfg: Config) -> list[tuple[str, int]]:
    """Create and fill the tables; the keys the get_item workload reads."""
    rows = spread(cfg.items, "p")
    started = time.perf_counter()
    async with session(url, tables, cfg.concurrency) as db:
        for model in (Row, Entry, Written):
            await db.create_table(model)
        await db.batch_put([Row(**v) for v in rows])
        await db.batch_put([Entry(**values(i, QUERY_PK)) for i in range(cfg.pages * cfg.page_size)])
    print(f"loaded the tables in {time.perf_counter() - started:.1f} s", flush=True)
    return [(v["pk"], v["sk"]) for v in random.Random(13).choices(rows, k=cfg.gets)]


async def drop(url: str, tables: Tables) -> None:
    async with session(url, tables, 1) as db:
        for model in (Row, Entry, Written):
            with contextlib.suppress(DynamormError):
                await db.delete_table(model, wait=False)


async def bench(url: str, cfg: Config) -> None:
    tables = Tables(f"bench{uuid.uuid4().hex[:8]}_")
    body, body_items = scan_body(cfg.decode_kib)
    references = {
        reference.__name__: functools.partial(reference, body, body_items, cfg.decode_repeats)
        for reference in (json_loads_rate, own_decode_rate)
    }
    try:
        keys = await load(url, tables, cfg)
        work = workloads(cfg, keys, body_items)
        async with contextlib.AsyncExitStack() as stack:
            canned = await stack.enter_async_context(
                helper_server(__file__, "--serve-scan-body", str(cfg.decode_kib))
            )
            contestants = []
            for name, opener in available():
                local = await stack.enter_async_context(opener(url, tables, cfg.concurrency))
                stub = await stack.enter_async_context(opener(canned, tables, cfg.concurrency))
                contestants.append(Contestant(name, local, stub))
            samples = await measure(contestants, work, cfg.rounds, references, server_cpu(url))
    finally:
        await drop(url, tables)
    print(f"\nmedian of {cfg.rounds} round(s); ratios: dynamorm-async's rate over the other's")
    report(work, [c.name for c in contestants], samples)


FULL = Config(
    rounds=5,
    items=10_000,
    writes=5_000,
    gets=1_000,
    pages=50,
    page_size=100,
    segments=4,
    concurrency=32,
    decode_kib=1024,
    decode_repeats=3,
)
QUICK = replace(FULL, rounds=1, items=1_000, writes=500, gets=200, pages=5, decode_repeats=1)


def versions() -> str:
    found = [f"Python {sys.version.split()[0]}", f"{os.cpu_count()} CPUs"]
    for dist in ("aiobotocore", "aiodynamo", "pydynox", "dynamorm-async"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{dist} {importlib.metadata.version(dist)}")
    return ", ".join(found)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes, one round")
    for option in fields(Config):
        parser.add_argument(
            "--" + option.name.replace("_", "-"),
            type=int,
            help=f"default {getattr(FULL, option.name)} ({getattr(QUICK, option.name)} if --quick)",
        )
    parser.add_argument("--serve-scan-body", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_scan_body:
        asyncio.run(serve_scan_body(args.serve_scan_body))
        return 0
    base = QUICK if args.quick else FULL
    given = {f.name: getattr(args, f.name) for f in fields(Config) if getattr(args, f.name)}
    cfg = replace(base, **given)
    if min(asdict(cfg).values()) < 1:
        parser.error("every size must be positive")
    with dynamodb_endpoint_context() as url:
        print(f"DynamoDB Local at {url}; {versions()}", flush=True)
        anyio.run(bench, url, cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
