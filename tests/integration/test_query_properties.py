"""Query properties against DynamoDB Local: filters, limit, page size, direction, consistency,
projections, terminals and immutability, on the table, a GSI and an LSI; update() and delete()
from a query."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import pytest

from dynamorm_async import (
    TTL,
    GlobalIndex,
    HashKey,
    LocalIndex,
    Model,
    RangeKey,
    RequestEvent,
    Session,
    ValidationError,
)
from dynamorm_async.testing import local_session
from tests.shared_types import Address

pytestmark = pytest.mark.timeout(60)


class QueryOrder(Model, table="orders"):
    """An order whose table has the GSIs and LSIs the query tests read through."""

    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    status: str = "new"
    total: Decimal = Decimal(0)
    qty: int = 0
    region: str = "eu"
    tags: set[str] = msgspec.field(default_factory=set)
    lines: list[str] = msgspec.field(default_factory=list)
    ship_to: Address | None = None
    note: str | None = None
    expires_at: Annotated[datetime | None, TTL()] = None

    __indexes__ = (
        GlobalIndex("by_status", hash_key="status", range_key="total"),
        GlobalIndex("by_region", hash_key="region", range_key="order_id", projection="KEYS_ONLY"),
        LocalIndex("by_qty", range_key="qty"),
        LocalIndex("by_qty_slim", range_key="qty", projection=["total"]),
    )


class Slim(msgspec.Struct):
    order_id: str
    total: Decimal
    expires_at: datetime | None = None


EXPIRES = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)

ORDERS = [
    QueryOrder(
        customer="c1" if n < 40 else "c2",
        order_id=f"o{n:03}",
        status=("new", "paid", "void")[n % 3],
        total=Decimal(n) + Decimal("0.5"),
        qty=(n * 7) % 40,
        region=("eu", "us")[n % 2],
        tags={"gift"} if n % 4 == 0 else ({"rush", "gift"} if n % 5 == 0 else set()),
        lines=[f"l{i}" for i in range(n % 4)],
        ship_to=Address(city=("Oslo", "Lima")[n % 2], zip=None if n % 3 else f"{n:04}")
        if n % 6
        else None,
        note=None if n % 2 else f"note {n}",
        expires_at=EXPIRES if n % 7 == 0 else None,
    )
    for n in range(50)
]
C1 = [o for o in ORDERS if o.customer == "c1"]


class Sessions(msgspec.Struct):
    db: Session
    counted: Session
    events: list[RequestEvent]


@pytest.fixture(scope="module")
async def loaded(dynamodb_endpoint: str) -> AsyncIterator[Sessions]:
    """One loaded table for the read-only tests, and a second Session on it that records
    every request it sends."""
    prefix = f"q{uuid.uuid4().hex[:10]}_"
    events: list[RequestEvent] = []
    async with (
        local_session(dynamodb_endpoint, table_prefix=prefix) as db,
        local_session(dynamodb_endpoint, table_prefix=prefix, on_request=events.append) as c,
    ):
        await db.create_table(QueryOrder)
        try:
            await db.batch_put(ORDERS)
            yield Sessions(db, c, events)
        finally:
            await db.delete_table(QueryOrder, wait=False)


@pytest.fixture
def db(loaded: Sessions) -> Session:
    return loaded.db


@pytest.fixture
def counted(loaded: Sessions) -> tuple[Session, list[RequestEvent]]:
    loaded.events.clear()
    return loaded.counted, loaded.events


def ids(orders: list[QueryOrder]) -> list[str]:
    return [o.order_id for o in orders]


# --- filters on the table, a GSI and an LSI -----------------------------------------------

FILTERS: list[tuple[str, Any, Callable[[QueryOrder], bool]]] = [
    ("==", QueryOrder.region == "us", lambda o: o.region == "us"),
    ("!=", QueryOrder.region != "us", lambda o: o.region != "us"),
    ("<", QueryOrder.total < 10, lambda o: o.total < 10),
    ("<=", QueryOrder.total <= Decimal("10.5"), lambda o: o.total <= Decimal("10.5")),
    (">", QueryOrder.qty > 20, lambda o: o.qty > 20),
    (">=", QueryOrder.qty >= 20, lambda o: o.qty >= 20),
    ("between", QueryOrder.qty.between(5, 15), lambda o: 5 <= o.qty <= 15),
    ("is_in", QueryOrder.qty.is_in([0, 7, 14, 21]), lambda o: o.qty in (0, 7, 14, 21)),
    ("exists", QueryOrder.note.exists(), lambda o: o.note is not None),
    ("not_exists", QueryOrder.ship_to.not_exists(), lambda o: o.ship_to is None),
    ("contains set", QueryOrder.tags.contains("rush"), lambda o: "rush" in o.tags),
    ("contains list", QueryOrder.lines.contains("l2"), lambda o: "l2" in o.lines),
    ("begins_with", QueryOrder.region.begins_with("e"), lambda o: o.region.startswith("e")),
    ("size", QueryOrder.lines.size() > 1, lambda o: len(o.lines) > 1),
    ("is_type", QueryOrder.ship_to.zip.is_type("S"), lambda o: bool(o.ship_to and o.ship_to.zip)),
    ("nested", QueryOrder.ship_to.city == "Oslo", lambda o: o.ship_to is not None
     and o.ship_to.city == "Oslo"),
    ("list index", QueryOrder.lines[1] == "l1", lambda o: len(o.lines) > 1),
    (
        "and/or/not",
        ((QueryOrder.region == "us") | (QueryOrder.qty < 5)) & ~QueryOrder.tags.contains("gift"),
        lambda o: (o.region == "us" or o.qty < 5) and "gift" not in o.tags,
    ),
]

TARGET_KEYS = {
    "table": {"customer", "order_id"},
    "gsi": {"status", "total"},
    "lsi": {"customer", "qty"},
}

TARGETS: list[tuple[str, Callable[[Session], Any], Callable[[QueryOrder], bool], Any]] = [
    ("table", lambda db: db.query(QueryOrder).where(QueryOrder.customer == "c1"),
     lambda o: o.customer == "c1", lambda o: o.order_id),
    ("gsi",
     lambda db: db.query(QueryOrder).where(QueryOrder.status == "paid", QueryOrder.total > 0),
     lambda o: o.status == "paid", lambda o: (o.total, o.order_id)),
    ("lsi", lambda db: db.query(QueryOrder).index("by_qty").where(
        QueryOrder.customer == "c1", QueryOrder.qty >= 0),
     lambda o: o.customer == "c1", lambda o: (o.qty, o.order_id)),
]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t[0])
@pytest.mark.parametrize("flt", FILTERS, ids=lambda f: f[0])
async def test_filters_on_table_gsi_and_lsi(db: Session, flt: Any, target: Any) -> None:
    _, condition, keep = flt
    name, build, chosen, order = target
    if {p._attribute for p in condition.paths()} & TARGET_KEYS[name]:
        # DynamoDB takes no filter on the keys a query reads by: refused before any request.
        with pytest.raises(ValidationError, match=r"put that condition in \.where\(\)"):
            await build(db).filter(condition).all()
        return
    want = sorted((o for o in ORDERS if chosen(o) and keep(o)), key=order)
    got = await build(db).filter(condition).all()
    assert got == want


async def test_every_filter_keeps_some_and_drops_some() -> None:
    for name, _, keep in FILTERS:
        assert 0 < sum(map(keep, C1)) < len(C1), name


# --- limit, page size, streaming --------------------------------------------------------------


async def test_limit_counts_items_after_the_filter_and_keeps_paging(
    counted: tuple[Session, list[RequestEvent]],
) -> None:
    session, events = counted
    q = (
        session.query(QueryOrder)
        .where(QueryOrder.customer == "c1")
        .filter(QueryOrder.qty > 30)
        .page_size(4)
    )
    want = [o for o in C1 if o.qty > 30][:5]
    assert await q.limit(5).all() == want
    # 4 items evaluated per request; the 5th match lies beyond the first few pages.
    last = C1.index(want[-1]) + 1
    assert len(events) == -(-last // 4)
    assert all(e.operation == "Query" for e in events)


async def test_limit_without_a_filter_reads_only_what_it_returns(
    counted: tuple[Session, list[RequestEvent]],
) -> None:
    session, events = counted
    got = await session.query(QueryOrder).where(QueryOrder.customer == "c1").limit(3).all()
    assert ids(got) == ["o000", "o001", "o002"] and len(events) == 1


@pytest.mark.parametrize(("size", "requests"), [(7, 6), (10, 5), (40, 2), (100, 1)])
async def test_page_size_is_dynamodb_limit_per_request(
    counted: tuple[Session, list[RequestEvent]], size: int, requests: int
) -> None:
    # 40 items: a full last page still returns a LastEvaluatedKey, so one more request.
    session, events = counted
    q = session.query(QueryOrder).where(QueryOrder.customer == "c1")
    assert await q.page_size(size).all() == C1
    assert len(events) == requests


async def test_iteration_reads_one_page_at_a_time(
    counted: tuple[Session, list[RequestEvent]],
) -> None:
    session, events = counted
    q = session.query(QueryOrder).where(QueryOrder.customer == "c1").page_size(5)
    seen = []
    async for order in q:
        seen.append(order)
        assert len(events) == (len(seen) - 1) // 5 + 1
        if len(seen) == 12:
            break
    assert seen == C1[:12] and len(events) == 3


# --- direction, consistency, terminals ----------------------------------------------------


async def test_reverse_on_table_gsi_and_lsi(db: Session) -> None:
    for _, build, chosen, order in TARGETS:
        want = sorted((o for o in ORDERS if chosen(o)), key=order, reverse=True)
        assert await build(db).reverse().all() == want
        assert await build(db).reverse().first() == want[0]


async def test_consistent_reads_on_table_and_lsi(db: Session) -> None:
    q = db.query(QueryOrder).where(QueryOrder.customer == "c1").consistent()
    assert await q.all() == C1
    lsi = (
        db.query(QueryOrder)
        .index("by_qty")
        .where(QueryOrder.customer == "c1", QueryOrder.qty < 3)
        .consistent()
    )
    assert await lsi.all() == sorted((o for o in C1 if o.qty < 3), key=lambda o: o.qty)


async def test_first_count_and_all(db: Session) -> None:
    q = db.query(QueryOrder).where(QueryOrder.customer == "c1")
    assert await q.first() == C1[0]
    assert await q.count() == 40
    assert await q.filter(QueryOrder.region == "us").count() == 20
    assert await q.filter(QueryOrder.region == "us").limit(7).count() == 7
    assert await q.limit(100).count() == 40
    assert await q.page_size(3).count() == 40
    assert await q.filter(QueryOrder.qty > 100).first() is None
    gsi = db.query(QueryOrder).where(QueryOrder.status == "void", QueryOrder.total.between(10, 20))
    assert await gsi.count() == len(await gsi.all()) == 3


async def test_builders_are_immutable_and_reusable(db: Session) -> None:
    base = db.query(QueryOrder).where(QueryOrder.customer == "c1")
    filtered = base.filter(QueryOrder.region == "us")
    limited = filtered.limit(2)
    reversed_ = base.reverse()
    assert await base.all() == C1
    assert len(await filtered.all()) == 20
    assert ids(await limited.all()) == ["o001", "o003"]
    assert ids(await reversed_.limit(1).all()) == ["o039"]
    # Running a builder twice gives the same results; deriving did not change the parents.
    assert await base.all() == C1 and len(await filtered.all()) == 20


# --- projections --------------------------------------------------------------------------


async def test_select_paths_gives_dicts_keyed_by_field_name(db: Session) -> None:
    q = db.query(QueryOrder).where(QueryOrder.customer == "c1").select(
        QueryOrder.total,
        QueryOrder.ship_to.city,
        QueryOrder.lines[2],
        QueryOrder.lines[0],
        QueryOrder.expires_at,
    )
    rows = await q.all()
    assert len(rows) == 40
    for row, order in zip(rows, C1, strict=True):
        want: dict[str, Any] = {"total": order.total}
        if order.ship_to is not None:
            want["ship_to.city"] = order.ship_to.city
        if order.lines:
            want["lines[0]"] = order.lines[0]
        if len(order.lines) > 2:
            want["lines[2]"] = order.lines[2]
        if order.expires_at is not None:
            want["expires_at"] = order.expires_at
        assert row == want
    # Key attributes read for the cursor are returned only when selected.
    keyed = (
        await db.query(QueryOrder)
        .where(QueryOrder.customer == "c2")
        .select(QueryOrder.order_id)
        .all()
    )
    assert keyed == [{"order_id": o.order_id} for o in ORDERS if o.customer == "c2"]


async def test_select_struct_gives_typed_partials(db: Session) -> None:
    q = db.query(QueryOrder).where(QueryOrder.customer == "c1")
    rows = await q.reverse().select(Slim).all()
    assert rows == [Slim(o.order_id, o.total, o.expires_at) for o in reversed(C1)]
    assert all(type(r) is Slim for r in rows)


async def test_select_on_indexes(db: Session) -> None:
    # A KEYS_ONLY GSI: model instances are refused, projected keys work.
    keys_only = db.query(QueryOrder).where(QueryOrder.region == "us")
    with pytest.raises(ValidationError, match="does not project"):
        await keys_only.all()
    rows = await keys_only.select(QueryOrder.order_id).all()
    assert rows == [{"order_id": o.order_id} for o in ORDERS if o.region == "us"]
    # An LSI projecting only `total` reads the rest through to the table.
    lsi = db.query(QueryOrder).index("by_qty_slim").where(
        QueryOrder.customer == "c1", QueryOrder.qty < 4
    )
    want = sorted((o for o in C1 if o.qty < 4), key=lambda o: o.qty)
    assert await lsi.all() == want
    assert await lsi.select(QueryOrder.total).all() == [{"total": o.total} for o in want]
    gsi = db.query(QueryOrder).where(QueryOrder.status == "new", QueryOrder.total < 5).select(Slim)
    assert await gsi.all() == [
        Slim(o.order_id, o.total, o.expires_at)
        for o in sorted(ORDERS, key=lambda o: o.total)
        if o.status == "new" and o.total < 5
    ]


async def test_select_with_filter_limit_and_consistency(db: Session) -> None:
    q = (
        db.query(QueryOrder)
        .where(QueryOrder.customer == "c1", QueryOrder.order_id.begins_with("o01"))
        .filter(QueryOrder.region == "eu")
        .consistent()
        .limit(3)
        .select(QueryOrder.qty)
    )
    assert await q.all() == [{"qty": o.qty} for o in C1[10:20] if o.region == "eu"][:3]
    assert await q.first() == {"qty": C1[10].qty}


# --- update() and delete() from a query -----------------------------------------------------


@pytest.fixture
async def fresh(dynamodb_session: Session) -> Session:
    await dynamodb_session.create_table(QueryOrder)
    await dynamodb_session.batch_put(ORDERS)
    return dynamodb_session


async def test_update_from_a_query_pinning_the_full_key(fresh: Session) -> None:
    q = fresh.query(QueryOrder).where(QueryOrder.customer == "c1", QueryOrder.order_id == "o004")
    await q.update().set(QueryOrder.status, "shipped").increment(QueryOrder.qty, 2)
    got = await fresh.get(QueryOrder, customer="c1", order_id="o004")
    assert got.status == "shipped" and got.qty == ORDERS[4].qty + 2


async def test_update_needs_exactly_the_primary_key(fresh: Session) -> None:
    base = fresh.query(QueryOrder)
    with pytest.raises(ValidationError, match="pin the full primary key"):
        base.where(QueryOrder.customer == "c1").update()
    with pytest.raises(ValidationError, match="pin the full primary key"):
        base.where(QueryOrder.customer == "c1", QueryOrder.order_id > "o1").update()
    with pytest.raises(ValidationError, match=r"drop filter\(\)"):
        base.where(QueryOrder.customer == "c1", QueryOrder.order_id == "o1").filter(
            QueryOrder.qty > 1
        ).update()
    with pytest.raises(ValidationError, match=r"drop index\(\), consistent\(\)"):
        base.index("by_qty").where(
            QueryOrder.customer == "c1", QueryOrder.order_id == "o1"
        ).consistent(
        ).update()


async def test_delete_from_a_query(fresh: Session) -> None:
    q = fresh.query(QueryOrder).where(QueryOrder.customer == "c1")
    assert await q.filter(QueryOrder.region == "us").limit(5).delete() == 5
    assert await q.count() == 35
    assert await q.filter(QueryOrder.region == "us").delete() == 15
    assert [o.region for o in await q.all()] == ["eu"] * 20
    # Through a GSI: the table's keys are projected and deleted.
    gsi = fresh.query(QueryOrder).where(QueryOrder.status == "paid", QueryOrder.total >= 0)
    paid = len(await gsi.all())
    assert await gsi.delete() == paid
    assert await gsi.count() == 0
    assert await fresh.scan(QueryOrder).count() == 50 - 20 - paid
