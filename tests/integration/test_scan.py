"""Scans and parallel scans against DynamoDB Local: every property on every segment, limits,
the Session's limiter, early exits and errors leaving no task behind."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Annotated, Any

import anyio
import msgspec
import pytest

from dynamorm_async import (
    GlobalIndex,
    HashKey,
    LocalIndex,
    Model,
    RangeKey,
    Session,
    ThrottledError,
    ValidationError,
)
from dynamorm_async._model.model import model_info
from dynamorm_async._read.builders import read_source
from dynamorm_async.testing import RecordingTransport, local_session, local_transport
from tests.faultproxy import FaultConfig, FaultProxy

pytestmark = pytest.mark.timeout(60)


class Item(Model, table="scan_items"):
    pk: Annotated[str, HashKey()]
    sk: Annotated[int, RangeKey()]
    group: str = "a"
    rank: int = 0
    size: Decimal = Decimal(0)
    body: str = ""

    __indexes__ = (
        GlobalIndex("by_group", hash_key="group", range_key="rank"),
        LocalIndex("by_rank", range_key="rank"),
    )


class Brief(msgspec.Struct):
    sk: int
    rank: int


ITEMS = [
    Item(
        pk=f"p{n % 13:02}",
        sk=n,
        group=("a", "b", "c")[n % 3],
        rank=(n * 37) % 101,
        size=Decimal(n) / 4,
        body="x" * (n % 17),
    )
    for n in range(150)
]


def keys(items: list[Any]) -> Counter[tuple[str, int]]:
    return Counter((i.pk, i.sk) for i in items)


@pytest.fixture(scope="module")
async def db(dynamodb_endpoint: str) -> AsyncIterator[Session]:
    """One loaded table for the read-only tests."""
    async with local_session(dynamodb_endpoint, table_prefix=f"q{uuid.uuid4().hex[:10]}_") as s:
        await s.create_table(Item)
        try:
            await s.batch_put(ITEMS)
            yield s
        finally:
            await s.delete_table(Item, wait=False)


def _proxy_side(task: asyncio.Task[Any]) -> bool:
    # The fault proxy's aiohttp server answers in this loop too; its handlers are not ours.
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and "aiohttp/web_" in code.co_filename


def new_tasks(before: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """Tasks alive now that were not before, other than this test's own."""
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() - before if t is not current and not _proxy_side(t)}


# --- sequential scans ---------------------------------------------------------------------


async def test_scan_reads_everything(db: Session) -> None:
    everything = await db.scan(Item).all()
    assert keys(everything) == keys(ITEMS)
    assert sorted(everything, key=lambda i: i.sk) == ITEMS
    assert await db.scan(Item).count() == 150


async def test_scan_properties(db: Session) -> None:
    s = db.scan(Item)
    want = [i for i in ITEMS if i.group == "b" and i.rank > 50]
    assert keys(await s.filter((Item.group == "b") & (Item.rank > 50)).all()) == keys(want)
    assert await s.filter(Item.group == "b").filter(Item.rank > 50).count() == len(want)
    assert len(await s.filter(Item.group == "c").limit(7).all()) == 7
    assert await s.limit(9).count() == 9
    assert len(await s.consistent().all()) == 150
    assert keys(await s.page_size(11).all()) == keys(ITEMS)
    rows = await s.filter(Item.sk < 3).select(Item.rank).all()
    assert sorted(r["rank"] for r in rows) == sorted(i.rank for i in ITEMS[:3])
    briefs = await s.filter(Item.sk < 3).select(Brief).all()
    assert sorted(briefs, key=lambda b: b.sk) == [Brief(i.sk, i.rank) for i in ITEMS[:3]]


async def test_scan_indexes(db: Session) -> None:
    gsi = await db.scan(Item).index("by_group").all()
    lsi = await db.scan(Item).index("by_rank").consistent().all()
    assert keys(gsi) == keys(lsi) == keys(ITEMS)
    with pytest.raises(ValidationError, match="global secondary index"):
        await db.scan(Item).index("by_group").consistent().all()


async def test_scan_pages_forward_only(db: Session) -> None:
    s = db.scan(Item).filter(Item.group == "a")
    pages = [p async for p in s.pages(size=16)]
    assert all(p.prev_cursor is None for p in pages)
    assert [len(p.items) for p in pages] == [16, 16, 16, 2]
    assert pages[-1].next_cursor is None
    assert [i for p in pages for i in p.items] == await s.all()
    again = await s.page(16, pages[1].next_cursor)
    assert again.items == pages[2].items


# --- parallel scans -------------------------------------------------------------------------


@pytest.mark.parametrize("segments", [1, 2, 4, 7])
async def test_parallel_scan_reads_every_item_once(db: Session, segments: int) -> None:
    s = db.scan(Item).segments(segments)
    assert keys(await s.all()) == keys(ITEMS)
    assert keys([i async for i in s]) == keys(ITEMS)
    assert await s.count() == 150
    async with s.stream() as items:
        assert keys([i async for i in items]) == keys(ITEMS)


@pytest.mark.parametrize("segments", [3, 5])
async def test_every_property_applies_to_every_segment(db: Session, segments: int) -> None:
    s = (
        db.scan(Item)
        .segments(segments)
        .index("by_group")
        .filter(Item.rank >= 30)
        .page_size(4)
        .select(Item.sk, Item.rank)
    )
    want = sorted((i.sk, i.rank) for i in ITEMS if i.rank >= 30)
    assert sorted((r["sk"], r["rank"]) for r in await s.all()) == want
    assert sorted((r["sk"], r["rank"]) for r in [r async for r in s]) == want
    assert await s.count() == len(want)
    limited = await s.limit(10).all()
    assert len(limited) == 10 and all(r["rank"] >= 30 for r in limited)
    assert len([r async for r in s.limit(10)]) == 10
    assert await s.limit(10).count() == 10
    first = await s.first()
    assert first is not None and first["rank"] >= 30
    consistent = db.scan(Item).segments(segments).index("by_rank").consistent().select(Brief)
    assert sorted(await consistent.all(), key=lambda b: b.sk) == [
        Brief(i.sk, i.rank) for i in ITEMS
    ]


async def test_parallel_requests_run_under_the_session_limiter(
    dynamodb_endpoint: str, db: Session
) -> None:
    transport = RecordingTransport(local_transport(dynamodb_endpoint))
    async with Session(transport=transport, table_prefix=db.table_prefix, max_concurrency=2) as s:
        scan = s.scan(Item).segments(6).page_size(10)
        assert keys(await scan.all()) == keys(ITEMS)
        assert keys([i async for i in scan]) == keys(ITEMS)
        assert await scan.count() == 150
    scans = transport.payloads("Scan")
    assert {p["Segment"] for p in scans} == set(range(6))
    # Segments overlap, but never more of them than the Session's limiter lets through.
    assert transport.max_in_flight == 2
    assert transport.in_flight == 0


# --- early exits and errors leave no task ---------------------------------------------------


async def test_break_from_a_parallel_scan_leaves_no_task(db: Session) -> None:
    before = asyncio.all_tasks()
    s = db.scan(Item).segments(8).page_size(5)
    async for _ in s:
        break
    assert not new_tasks(before)
    seen = 0
    async for _ in s:
        seen += 1
        if seen == 17:
            break
    assert not new_tasks(before)
    async with s.stream() as items:
        async for _ in items:
            break
    assert not new_tasks(before)
    assert len(await s.limit(3).all()) == 3 and await s.first() is not None
    assert not new_tasks(before)
    pages = s.segments(1).pages(size=4)
    async for _ in pages:
        break
    assert not new_tasks(before)


async def test_cancelling_a_parallel_scan_leaves_no_task(db: Session) -> None:
    before = asyncio.all_tasks()
    s = db.scan(Item).segments(6).page_size(3)
    with anyio.CancelScope() as scope:
        async for _ in s:
            scope.cancel()
            await anyio.lowlevel.checkpoint()
    assert scope.cancelled_caught and not new_tasks(before)
    with anyio.CancelScope() as scope:
        async with s.stream() as items:
            async for _ in items:
                scope.cancel()
                await anyio.lowlevel.checkpoint()
    assert scope.cancelled_caught and not new_tasks(before)
    with anyio.move_on_after(0.02):
        await s.all()
    assert not new_tasks(before)


@pytest.mark.parametrize("share", [0.3, 1.0])
async def test_a_failing_segment_surfaces_as_the_library_error(
    dynamodb_endpoint: str, db: Session, share: float
) -> None:
    before = asyncio.all_tasks()
    config = FaultConfig(throttle_share=share, operations=frozenset({"Scan"}), seed=3)
    async with (
        FaultProxy(upstream=dynamodb_endpoint, config=config) as proxy,
        local_session(proxy.endpoint_url, table_prefix=db.table_prefix, max_attempts=1) as session,
    ):
        s = session.scan(Item).segments(6).page_size(5)
        with pytest.raises(ThrottledError):
            async for _ in s:
                pass
        assert not new_tasks(before)
        with pytest.raises(ThrottledError):
            await s.all()
        with pytest.raises(ThrottledError):
            await s.count()
        assert proxy.stats.throttled >= 3
    assert not new_tasks(before)


# --- delete over segments ---------------------------------------------------------------------


async def test_parallel_scan_delete(dynamodb_session: Session) -> None:
    await dynamodb_session.create_table(Item)
    await dynamodb_session.batch_put(ITEMS)
    s = dynamodb_session.scan(Item)
    assert await s.filter(Item.group == "a").segments(4).limit(10).delete() == 10
    assert await s.filter(Item.group == "a").segments(4).delete() == 40
    assert await s.count() == 100
    assert await s.index("by_group").segments(3).delete() == 100
    assert await s.count() == 0


# --- the read path of other executors --------------------------------------------------------


async def test_read_source_pagers_one_per_segment(db: Session) -> None:
    s = db.scan(Item).segments(3).filter(Item.group == "b").page_size(7).select(Brief)
    source = read_source(s)
    assert source.spec.segments == 3 and source.spec.model is Item and source.context is db
    pagers = source.pagers((model_info(Item).path("sk"), model_info(Item).path("size")))
    assert len(pagers) == 3
    rows = [row for pager in pagers async for page in pager.pages() for row in page.items]
    assert sorted(rows, key=lambda r: int(r["sk"]["N"])) == [
        {"sk": {"N": str(i.sk)}, "size": {"N": str(i.size)}} for i in ITEMS if i.group == "b"
    ]
    # By default a pager reads what the builder selects, plus the keys; every page but the
    # last says where the next one starts.
    (pager,) = read_source(db.scan(Item).page_size(40).select(Brief)).pagers()
    pages = [page async for page in pager.pages()]
    assert set(pages[0].items[0]) == {"pk", "sk", "rank"}
    assert sum(len(page.items) for page in pages) == len(ITEMS)
    assert all(page.last_key is not None for page in pages[:-1]) and pages[-1].last_key is None
    # A pager started after a page's key reads only the rest.
    (rest,) = read_source(db.scan(Item).page_size(40)).pagers(start_keys=[pages[0].last_key])
    assert sum([len(page.items) async for page in rest.pages()]) == len(ITEMS) - len(
        pages[0].items
    )


async def test_aggregation_reads_through_the_builders(db: Session) -> None:
    from dynamorm_async._aggregate.functions import Count

    rows = await db.scan(Item).segments(3).group_by(Item.group).aggregate(n=Count())
    assert {row.key: row["n"] for row in rows} == Counter(i.group for i in ITEMS)
    one = await db.query(Item).where(Item.pk == "p01").limit(5).aggregate(n=Count())
    assert one["n"] == 5
    assert "Scan(Item" in repr(db.scan(Item).segments(2))
