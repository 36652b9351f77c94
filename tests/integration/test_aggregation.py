"""GROUP BY / HAVING over DynamoDB Local, each result checked against SQLite over the same rows.

One module-scoped table holds 5,200 generated sales (missing values, zeros, negatives, large
amounts, unicode, nested maps). Every test aggregates it through the library (query, scan, GSI
query, parallel scan) and runs the same GROUP BY in an in-memory SQLite database loaded from the
very same wire items. Amounts have at most four decimal places and are stored in SQLite as
integer units of 1E-4, so SQLite's integer SUM is exact and the comparison is exact equality:
Sum/Min/Max are units scaled back, Avg is the exact sum divided once to 38 digits, never
SQLite's floating-point AVG. Row order is compared too: SQLite's ORDER BY (NULL first, binary
text order) is the library's documented key order.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Annotated, Any

import pytest
import pytest_asyncio

from dynamorm_async import (
    AttributePath,
    GlobalIndex,
    HashKey,
    ItemDecodeError,
    Model,
    RangeKey,
    RequestEvent,
    Session,
    ValidationError,
)
from dynamorm_async._aggregate.accumulator import Row
from dynamorm_async._aggregate.functions import Avg, Count, HavingCondition, Max, Min, Sum
from dynamorm_async.testing import RecordingTransport, SentRequest, local_session, local_transport
from tests.shared_types import Address

pytestmark = pytest.mark.timeout(120)


class Sale(Model, table="agg_sales"):
    region: Annotated[str, HashKey()]
    sale_id: Annotated[str, RangeKey()]
    status: str | None = None
    channel: str | None = None
    amount: Decimal | None = None
    qty: int | None = None
    paid: bool | None = None
    placed_at: datetime | None = None
    ship_to: Address | None = None

    __indexes__ = (GlobalIndex("by_status", hash_key="status", range_key="sale_id"),)


class Reading(Model, table="agg_readings"):
    sensor: Annotated[str, HashKey()]
    at: Annotated[str, RangeKey()]
    value: Decimal | None = None


def path(value: object) -> AttributePath:
    """``Sale.x`` as the AttributePath it is at runtime (type checkers see the field type)."""
    assert isinstance(value, AttributePath)
    return value


CITY = path(Sale.ship_to).city
QTY = path(Sale.qty)
ITEMS = 5_200
STATUSES = ["new", "paid", "paid", "shipped", "void", "Zed", "Ünïcode", None]
CHANNELS = ["web", "store", "app", None]
CITIES = ["Berlin", "Oslo", "Zürich", "Aachen"]
T0 = datetime(2025, 3, 1, tzinfo=UTC)
AVG = Context(prec=38, rounding=ROUND_HALF_EVEN)


def generate(seed: int = 6) -> list[Sale]:
    rng = random.Random(seed)
    sales = []
    for i in range(ITEMS):
        status = rng.choice(STATUSES)
        roll = rng.random()
        amount: Decimal | None
        if status == "void" or roll < 0.10:
            amount = None  # "void" sales never carry an amount: their Sum/Avg/Min are None
        elif roll < 0.18:
            amount = rng.choice([Decimal(0), Decimal("0.0000"), Decimal("0.00")])
        elif roll < 0.22:
            # Large values with four decimals: a float sum of these would drift.
            amount = Decimal(rng.randint(10**13, 10**14 - 1)).scaleb(-4)
        else:
            amount = Decimal(rng.randint(-5_000_000, 2_000_000_000)).scaleb(-4)
        sales.append(
            Sale(
                region=f"r{i % 5}",
                sale_id=f"s{i:05d}",
                status=status,
                channel=rng.choice(CHANNELS),
                amount=amount,
                qty=None if rng.random() < 0.1 else rng.choice([0, 0, 1, 2, 3, 5, 8, 13, 20]),
                paid=rng.choice([True, False, None]),
                placed_at=None
                if rng.random() < 0.1
                else T0 + timedelta(seconds=rng.randint(-(10**7), 10**7), microseconds=i),
                ship_to=None if rng.random() < 0.15 else Address(city=rng.choice(CITIES)),
            )
        )
    return sales


# --- SQLite mirror ------------------------------------------------------------------------


def units(text: str) -> int:
    """An N value with at most four decimal places as exact integer units of 1E-4."""
    scaled = Decimal(text).scaleb(4)
    assert scaled == scaled.to_integral_value(), text
    return int(scaled)


def mirror(sales: Sequence[Sale]) -> sqlite3.Connection:
    """The same rows in SQLite, read off the wire items the library writes."""
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE sales (region TEXT, sale_id TEXT, status TEXT, channel TEXT, "
        "amount INTEGER, qty INTEGER, paid INTEGER, placed_at TEXT, city TEXT)"
    )
    rows = []
    for sale in sales:
        item = sale.to_dynamodb()

        def get(name: str, tag: str, item: dict[str, Any] = item) -> Any:
            return item[name][tag] if name in item else None

        amount, qty = get("amount", "N"), get("qty", "N")
        ship_to = get("ship_to", "M")
        rows.append(
            (
                get("region", "S"),
                get("sale_id", "S"),
                get("status", "S"),
                get("channel", "S"),
                None if amount is None else units(amount),
                None if qty is None else int(qty),
                get("paid", "BOOL"),
                get("placed_at", "S"),  # fixed-width UTC text: text order is time order
                None if ship_to is None else ship_to["city"]["S"],
            )
        )
    db.executemany("INSERT INTO sales VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return db


def money(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(f"{value}E-4")


def stamp(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@dataclass(frozen=True)
class Column:
    """One aggregate, the SQL computing the same thing, and how to read SQLite's answer."""

    aggregate: Any
    sql: str
    convert: Callable[[Any], Any]


def _avg(pair: str | None) -> Any:
    if pair is None:  # SUM of no values is NULL, and so is the concatenation
        return None
    total, count = (int(v) if v is not None else None for v in pair.split("|"))
    if not count:
        return None
    assert total is not None
    return AVG.divide(Decimal(f"{total}E-4"), Decimal(count))


COLUMNS: dict[str, Column] = {
    "n": Column(Count(), "COUNT(*)", int),
    "n_amount": Column(Count(Sale.amount), "COUNT(amount)", int),
    "n_city": Column(Count(CITY), "COUNT(city)", int),
    "total": Column(Sum(Sale.amount), "SUM(amount)", money),
    # SQLite's AVG is floating point; take its exact integer sum and count instead.
    "mean": Column(Avg(Sale.amount), "SUM(amount) || '|' || COUNT(amount)", _avg),
    "lo": Column(Min(Sale.amount), "MIN(amount)", money),
    "hi": Column(Max(Sale.amount), "MAX(amount)", money),
    "qty": Column(Sum(Sale.qty), "SUM(qty)", lambda v: None if v is None else Decimal(v)),
    "min_qty": Column(Min(Sale.qty), "MIN(qty)", lambda v: v),
    "mean_qty": Column(Avg(Sale.qty), "SUM(qty * 10000) || '|' || COUNT(qty)", _avg),
    "first": Column(Min(Sale.placed_at), "MIN(placed_at)", stamp),
    "last": Column(Max(Sale.placed_at), "MAX(placed_at)", stamp),
    "lo_status": Column(Min(Sale.status), "MIN(status)", lambda v: v),
    "hi_city": Column(Max(CITY), "MAX(city)", lambda v: v),
}
AGGREGATES = {name: column.aggregate for name, column in COLUMNS.items()}
KEY_COLUMNS = {"status": "status", "channel": "channel", "paid": "paid", "city": "city"}


def _key_value(column: str, value: Any) -> Any:
    return bool(value) if column == "paid" and value is not None else value


def expected(
    db: sqlite3.Connection,
    keys: Sequence[str],
    *,
    where: str = "",
    having: str = "",
    order: str = "",
    limit: int | None = None,
    params: Sequence[Any] = (),
) -> list[Row]:
    """The rows SQLite computes for the same grouping, in the library's default key order."""
    select = ", ".join([*keys, *(c.sql for c in COLUMNS.values())])
    sql = f"SELECT {select} FROM sales"
    if where:
        sql += f" WHERE {where}"
    if keys:
        sql += f" GROUP BY {', '.join(keys)}"
    if having:
        sql += f" HAVING {having}"
    if keys:
        sql += f" ORDER BY {order or ', '.join(keys)}"
    if limit is not None:
        sql += f" LIMIT {limit}"
    out = []
    for record in db.execute(sql, params):
        key_values = [_key_value(k, v) for k, v in zip(keys, record, strict=False)]
        key: Any = key_values[0] if len(keys) == 1 else tuple(key_values)
        results = record[len(keys) :]
        values = {
            name: column.convert(result)
            for (name, column), result in zip(COLUMNS.items(), results, strict=True)
        }
        out.append(Row(key, values))
    return out


def assert_rows(actual: list[Row], wanted: list[Row]) -> None:
    assert [r.key for r in actual] == [r.key for r in wanted]
    for got, want in zip(actual, wanted, strict=True):
        assert got.values == want.values, got.key
        # Exact types, not just equal numbers: sums and averages are Decimals.
        for name in ("total", "mean", "qty", "mean_qty"):
            if name in got.values and got[name] is not None:
                assert isinstance(got[name], Decimal)


# --- fixtures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    db: Session
    sql: sqlite3.Connection
    endpoint: str


@pytest_asyncio.fixture(scope="module")
async def loaded(dynamodb_endpoint: str) -> AsyncIterator[Loaded]:
    """The sales table, written once per module, and its SQLite mirror; dropped afterwards."""
    sales = generate()
    sql = mirror(sales)
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    async with local_session(dynamodb_endpoint, table_prefix=prefix) as db:
        try:
            await db.create_table(Sale)
            await db.create_table(Reading)
            await db.batch_put(sales)
            yield Loaded(db, sql, dynamodb_endpoint)
        finally:
            for name in await db.list_tables():
                await db.delete_table(name, wait=False)
            sql.close()


def test_dataset_has_the_edge_cases(loaded: Loaded) -> None:
    """The generator produced what the other tests claim to cover."""
    one = loaded.sql.execute
    assert one("SELECT COUNT(*) FROM sales").fetchone() == (ITEMS,)
    assert one("SELECT COUNT(*) FROM sales WHERE amount = 0").fetchone()[0] > 100
    assert one("SELECT COUNT(*) FROM sales WHERE qty = 0").fetchone()[0] > 100
    assert one("SELECT COUNT(*) FROM sales WHERE amount IS NULL").fetchone()[0] > 500
    assert one("SELECT COUNT(*) FROM sales WHERE amount < 0").fetchone()[0] > 0
    assert one("SELECT COUNT(*) FROM sales WHERE status IS NULL").fetchone()[0] > 100
    assert one("SELECT COUNT(*) FROM sales WHERE city IS NULL").fetchone()[0] > 100
    assert one("SELECT COUNT(*) FROM sales WHERE paid = 0").fetchone()[0] > 100
    assert one("SELECT COUNT(amount) FROM sales WHERE status = 'void'").fetchone() == (0,)
    # A float sum of these amounts is not exact, so the exact comparison means something.
    floats = one("SELECT SUM(amount * 1e-4) FROM sales").fetchone()[0]
    exact = money(one("SELECT SUM(amount) FROM sales").fetchone()[0])
    assert Decimal(repr(floats)) != exact


# --- grouped results against SQLite ---------------------------------------------------------


async def test_scan_grouped_by_one_key(loaded: Loaded) -> None:
    rows = await loaded.db.scan(Sale).group_by(Sale.status).aggregate(**AGGREGATES)
    assert_rows(rows, expected(loaded.sql, ["status"]))
    void = next(r for r in rows if r.key == "void")
    assert void.total is None and void.mean is None and void.lo is None and void.n > 0
    assert rows[0].key is None  # items without a status are their own group, first
    assert any(r.lo == 0 for r in rows) or any(r.min_qty == 0 for r in rows)


async def test_parallel_scan_grouped_by_two_keys_with_filter(loaded: Loaded) -> None:
    rows = await (
        loaded.db.scan(Sale)
        .segments(4)
        .filter(QTY > 0)
        .group_by(Sale.status, Sale.paid)
        .aggregate(**AGGREGATES)
    )
    assert_rows(rows, expected(loaded.sql, ["status", "paid"], where="qty > 0"))
    assert (None, None) in [r.key for r in rows]
    assert ("paid", False) in [r.key for r in rows]


async def test_query_grouped_by_a_nested_path(loaded: Loaded) -> None:
    rows = await (
        loaded.db.query(Sale).where(Sale.region == "r1").group_by(CITY).aggregate(**AGGREGATES)
    )
    assert_rows(rows, expected(loaded.sql, ["city"], where="region = 'r1'"))
    assert [r.key for r in rows] == [None, *sorted(CITIES)]


async def test_gsi_query_grouped(loaded: Loaded) -> None:
    rows = await (
        loaded.db.query(Sale)
        .index("by_status")
        .where(Sale.status == "paid")
        .group_by(Sale.channel)
        .aggregate(**AGGREGATES)
    )
    assert_rows(rows, expected(loaded.sql, ["channel"], where="status = 'paid'"))
    assert sum(r.n for r in rows) > 1000


async def test_parallel_scan_equals_sequential_scan(loaded: Loaded) -> None:
    grouped = loaded.db.scan(Sale).group_by(Sale.channel, CITY).aggregate(**AGGREGATES)
    sequential = await grouped
    parallel = (
        await loaded.db.scan(Sale).segments(7).group_by(Sale.channel, CITY).aggregate(**AGGREGATES)
    )
    assert parallel == sequential
    assert_rows(parallel, expected(loaded.sql, ["channel", "city"]))


# --- HAVING, ordering, limits ---------------------------------------------------------------


HAVINGS: list[tuple[HavingCondition, str]] = [
    (Sum(Sale.amount) > 10_000_000, "SUM(amount) > 100000000000"),
    (
        (Count() >= 40) & (Avg(Sale.qty) < Decimal("5.5")),
        "COUNT(*) >= 40 AND SUM(qty) * 10 < 55 * COUNT(qty)",
    ),
    (
        (Min(Sale.amount) < 0) | ~(Max(Sale.placed_at) > T0 + timedelta(days=100)),
        "MIN(amount) < 0 OR NOT (MAX(placed_at) > '2025-06-09T00:00:00.000000Z')",
    ),
    # Unknown (a NULL sum) stays unknown under NOT, so all-void groups never pass.
    (~(Sum(Sale.amount) > 30_000_000_000), "NOT (SUM(amount) > 300000000000000)"),
]


@pytest.mark.parametrize(("having", "sql"), HAVINGS)
async def test_having_matches_sql(loaded: Loaded, having: HavingCondition, sql: str) -> None:
    rows = await (
        loaded.db.scan(Sale)
        .segments(4)
        .group_by(Sale.status, Sale.channel)
        .aggregate(**AGGREGATES)
        .having(having)
    )
    wanted = expected(loaded.sql, ["status", "channel"], having=sql)
    assert 0 < len(wanted) < len(expected(loaded.sql, ["status", "channel"]))
    assert_rows(rows, wanted)


def test_having_timestamp_literal_matches_the_wire_format() -> None:
    wire = Sale(region="r", sale_id="s", placed_at=T0 + timedelta(days=100)).to_dynamodb()
    assert wire["placed_at"]["S"] == "2025-06-09T00:00:00.000000Z"


async def test_having_chained_calls_are_and(loaded: Loaded) -> None:
    rows = await (
        loaded.db.scan(Sale)
        .group_by(Sale.status)
        .aggregate(**AGGREGATES)
        .having(Count() > 100)
        .having(Count(CITY) < 700)
    )
    assert_rows(
        rows, expected(loaded.sql, ["status"], having="COUNT(*) > 100 AND COUNT(city) < 700")
    )


async def test_order_by_and_limit_groups(loaded: Loaded) -> None:
    grouped = (
        loaded.db.scan(Sale).segments(3).group_by(Sale.channel, Sale.status).aggregate(**AGGREGATES)
    )
    top = await grouped.order_by("total", desc=True).limit_groups(5)
    # None sums last in either direction; ties keep key order.
    order = "SUM(amount) IS NULL, SUM(amount) DESC, channel, status"
    assert_rows(top, expected(loaded.sql, ["channel", "status"], order=order, limit=5))
    low = await grouped.order_by("total").limit_groups(100)
    order = "SUM(amount) IS NULL, SUM(amount), channel, status"
    assert_rows(low, expected(loaded.sql, ["channel", "status"], order=order))
    assert low[-1].total is None
    by_key = await grouped.order_by("key", desc=True)
    assert by_key == list(reversed(await grouped))


# --- ungrouped aggregates -------------------------------------------------------------------


async def test_ungrouped_aggregate_over_query_scan_and_segments(loaded: Loaded) -> None:
    row = await loaded.db.query(Sale).where(Sale.region == "r2").aggregate(**AGGREGATES)
    assert isinstance(row, Row) and row.key == ()
    (wanted,) = expected(loaded.sql, [], where="region = 'r2'")
    assert row == wanted
    everything = await loaded.db.scan(Sale).segments(4).aggregate(**AGGREGATES)
    assert everything == expected(loaded.sql, [])[0]
    assert everything.n == ITEMS
    total = await loaded.db.query(Sale).where(Sale.region == "r2").aggregate(s=Sum(Sale.amount))
    assert total.s == wanted.total


async def test_ungrouped_aggregate_of_nothing(loaded: Loaded) -> None:
    row = await loaded.db.query(Sale).where(Sale.region == "nowhere").aggregate(**AGGREGATES)
    assert row.values == {name: 0 if name.startswith("n") else None for name in AGGREGATES}
    assert row == expected(loaded.sql, [], where="region = 'nowhere'")[0]
    empty_groups = await loaded.db.scan(Sale).filter(QTY > 1000).group_by(Sale.status)
    assert empty_groups == []


async def test_aggregation_then_group_by(loaded: Loaded) -> None:
    rows = await loaded.db.scan(Sale).aggregate(n=Count(), s=Sum(Sale.amount)).group_by(Sale.paid)
    wanted = expected(loaded.sql, ["paid"])
    assert [(r.key, r.n, r.s) for r in rows] == [(w.key, w.n, w.total) for w in wanted]


async def test_limit_caps_the_items_aggregated_across_segments(loaded: Loaded) -> None:
    capped = loaded.db.scan(Sale).segments(4).limit(1_000)
    row = await capped.aggregate(n=Count(), n_amount=Count(Sale.amount))
    assert row.n == 1_000
    assert 0 < row.n_amount <= 1_000
    assert (await capped.aggregate(n=Count())).n == 1_000  # Select=COUNT honours it too
    rows = await capped.group_by(Sale.status).aggregate(n=Count())
    assert sum(r.n for r in rows) == 1_000


# --- push-down ------------------------------------------------------------------------------


@dataclass
class Recorder:
    """Requests a Session sent: operation names from on_request, payloads from its transport."""

    events: list[RequestEvent]
    payloads: list[SentRequest]


async def recording_session(loaded: Loaded) -> tuple[Session, Recorder]:
    transport = RecordingTransport(local_transport(loaded.endpoint))
    recorder = Recorder([], transport.requests)
    db = Session(
        transport=transport,
        on_request=recorder.events.append,
        table_prefix=loaded.db.table_prefix,
    )
    await db.__aenter__()
    return db, recorder


def projected_names(payload: dict[str, Any]) -> set[str]:
    names = payload.get("ExpressionAttributeNames", {})
    return {names[p.strip()] for p in payload["ProjectionExpression"].split(",")}


async def test_plain_count_uses_select_count(loaded: Loaded) -> None:
    db, recorder = await recording_session(loaded)
    try:
        aggregation = db.scan(Sale).segments(4).aggregate(n=Count(), again=Count())
        assert aggregation.projection == ()
        row = await aggregation
        assert row.values == {"n": ITEMS, "again": ITEMS}
        assert {e.operation for e in recorder.events} == {"Scan"}
        assert len(recorder.payloads) == len(recorder.events) >= 4
        for operation, payload in recorder.payloads:
            assert operation == "Scan"
            assert payload["Select"] == "COUNT"
            assert "ProjectionExpression" not in payload
        assert {p["Segment"] for _, p in recorder.payloads} == {0, 1, 2, 3}

        recorder.events.clear()
        recorder.payloads.clear()
        filtered = db.query(Sale).where(Sale.region == "r3").filter(Sale.paid == False)  # noqa: E712
        row = await filtered.aggregate(n=Count())
        (wanted,) = loaded.sql.execute(
            "SELECT COUNT(*) FROM sales WHERE region = 'r3' AND paid = 0"
        ).fetchall()
        assert row.n == wanted[0]
        assert [e.operation for e in recorder.events] == ["Query"]
        assert recorder.payloads[0][1]["Select"] == "COUNT"
        assert "FilterExpression" in recorder.payloads[0][1]
    finally:
        await db.__aexit__(None, None, None)


async def test_projection_reads_only_what_aggregation_needs(loaded: Loaded) -> None:
    db, recorder = await recording_session(loaded)
    try:
        grouped = (
            db.scan(Sale)
            .filter(Sale.channel == "web")  # evaluated server-side on the whole item
            .group_by(CITY)
            .aggregate(n=Count(), total=Sum(Sale.amount))
            .having(Max(Sale.qty) > 0)
        )
        assert grouped.projection == ("ship_to", "amount", "qty", "region", "sale_id")
        rows = await grouped
        assert {e.operation for e in recorder.events} == {"Scan"}
        for _, payload in recorder.payloads:
            assert "Select" not in payload
            assert projected_names(payload) == {"ship_to", "amount", "qty", "region", "sale_id"}
        sql = (
            "SELECT city, COUNT(*), SUM(amount) FROM sales WHERE channel = 'web' "
            "GROUP BY city HAVING MAX(qty) > 0 ORDER BY city"
        )
        assert [(r.key, r.n, r.total) for r in rows] == [
            (city, n, money(total)) for city, n, total in loaded.sql.execute(sql)
        ]
        # Count(path) needs the attribute, so it is not a Select=COUNT.
        recorder.payloads.clear()
        await db.scan(Sale).aggregate(n=Count(Sale.amount))
        assert projected_names(recorder.payloads[0][1]) == {"amount", "region", "sale_id"}
    finally:
        await db.__aexit__(None, None, None)


# --- limits and errors ----------------------------------------------------------------------


async def test_max_groups_cap_raises(loaded: Loaded) -> None:
    for scan in (loaded.db.scan(Sale), loaded.db.scan(Sale).segments(4)):
        per_item = scan.group_by(Sale.sale_id).aggregate(n=Count()).max_groups(100)
        with pytest.raises(ValidationError, match=r"more than max_groups=100 groups") as info:
            await per_item
        assert info.value.table == loaded.db.table_name(Sale)
    # Under the cap it works, and the cap counts groups, not items.
    rows = await loaded.db.scan(Sale).segments(4).group_by(Sale.status).max_groups(7)
    assert len(rows) == 7 and rows[0].values == {}


async def test_mixed_types_name_the_item_key(loaded: Loaded) -> None:
    db = loaded.db
    table = db.table_name(Reading)
    for at, value in (("01", {"N": "4.5"}), ("02", {"N": "-1"}), ("03", {"S": "n/a"})):
        item = {"sensor": {"S": "s1"}, "at": {"S": at}, "value": value}
        await db.call("PutItem", {"TableName": table, "Item": item}, table=table)
    with pytest.raises(ItemDecodeError, match=r"Max\(value\) mixes value types") as info:
        await db.scan(Reading).aggregate(hi=Max(Reading.value))
    assert info.value.key == {"sensor": "s1", "at": "03"}
    assert info.value.table == table
    for segments in (1, 3):
        with pytest.raises(ItemDecodeError, match=r"Sum\(value\) adds numbers") as info:
            await (
                db.scan(Reading)
                .segments(segments)
                .group_by(Reading.sensor)
                .aggregate(s=Sum(Reading.value))
            )
        assert info.value.key == {"sensor": "s1", "at": "03"}
    numbers_only = db.query(Reading).where(Reading.sensor == "s1", Reading.at < "03")
    row = await numbers_only.aggregate(hi=Max(Reading.value), mean=Avg(Reading.value))
    assert row.values == {"hi": Decimal("4.5"), "mean": Decimal("1.75")}


async def test_builders_check_arguments_before_any_request(loaded: Loaded) -> None:
    db, recorder = await recording_session(loaded)
    try:
        scan = db.scan(Sale)
        with pytest.raises(ValidationError, match="group_by\\(\\) needs at least one"):
            scan.group_by()
        with pytest.raises(ValidationError, match="at least one named aggregate"):
            scan.aggregate()
        with pytest.raises(ValidationError, match="must be Count"):
            scan.aggregate(n="count")  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="another model"):
            scan.group_by(Reading.sensor)
        with pytest.raises(ValidationError, match="another model"):
            scan.aggregate(s=Sum(Reading.value))
        grouped = scan.group_by(Sale.status).aggregate(n=Count())
        with pytest.raises(ValidationError, match="already given"):
            grouped.aggregate(n=Sum(Sale.qty))
        with pytest.raises(ValidationError, match="reserved"):
            grouped.aggregate(key=Count())
        with pytest.raises(ValidationError, match=r"having\(\) takes"):
            grouped.having(QTY > 1)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="max_groups"):
            grouped.max_groups(0)
        with pytest.raises(ValidationError, match="limit_groups"):
            grouped.limit_groups(-1)
        with pytest.raises(ValidationError, match="not an aggregate"):
            await grouped.order_by("nope")
        with pytest.raises(AttributeError, match="immutable"):
            grouped.spec = None
        assert recorder.events == []
    finally:
        await db.__aexit__(None, None, None)
