"""Errors say whose fault it is: stored items that do not fit (ItemDecodeError, on every read
path, or skipped with on_invalid("skip")), DynamoDB's own rejections (RequestRejected), and
aggregates over unfit field types (ValidationError when built, before any request)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import pytest

from dynamorm_async import (
    DynamoDBError,
    HashKey,
    ItemDecodeError,
    Model,
    Page,
    RangeKey,
    RequestEvent,
    RequestRejected,
    Session,
    ValidationError,
)
from dynamorm_async._aggregate.functions import Avg, Count, Max, Sum
from tests.shared_types import Line, Status

pytestmark = pytest.mark.timeout(120)


class DecodeOrder(Model, table="decode_orders"):
    """Keyed by tenant, with an enum and structs that raw writes can break."""

    tenant: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    status: Status = Status.NEW
    total: Decimal = Decimal(0)
    customer: str = ""
    lines: list[Line] = msgspec.field(default_factory=list)


class StatusSlim(msgspec.Struct):
    order_id: str
    status: Status


GOOD = [f"{i:02d}" for i in (1, 2, 4, 5, 7, 8, 9)]
#: order_id -> (raw attributes that do not fit, the field path the error names)
BAD: dict[str, tuple[dict[str, Any], str]] = {
    "03": ({"status": {"S": "PAID"}}, "DecodeOrder.status"),
    "06": (
        {
            "lines": {
                "L": [{"M": {"sku": {"S": "x"}, "qty": {"N": "1"}}}, {"M": {"sku": {"S": "y"}}}]
            }
        },
        "DecodeOrder.lines[1].qty",
    ),
    "10": ({"total": {"S": "lots"}}, "DecodeOrder.total"),
}


def raw_item(order_id: str) -> dict[str, Any]:
    attributes, _ = BAD[order_id]
    return {"tenant": {"S": "p"}, "order_id": {"S": order_id}, **attributes}


def check(error: ItemDecodeError, order_id: str) -> None:
    """The error names the item (key, raw item), the model and the field, as the user writes."""
    assert error.key == {"tenant": "p", "order_id": order_id}
    assert error.item == raw_item(order_id)
    assert error.model is DecodeOrder
    assert error.path == BAD[order_id][1]
    assert error.path in str(error)


@pytest.fixture
async def db(dynamodb_session: Session) -> Session:
    db = dynamodb_session
    await db.create_table(DecodeOrder)
    for order_id in GOOD:
        await db.put(DecodeOrder(tenant="p", order_id=order_id, total=Decimal(order_id)))
    table = db.table_name(DecodeOrder)
    for order_id in BAD:
        await db.call("PutItem", {"TableName": table, "Item": raw_item(order_id)}, table=table)
    return db


async def raises_for(order_id: str, read: Callable[[], Awaitable[Any]]) -> ItemDecodeError:
    with pytest.raises(ItemDecodeError) as caught:
        await read()
    check(caught.value, order_id)
    return caught.value


# --- every read path raises ItemDecodeError -----------------------------------------------


async def test_item_reads_raise_item_decode_error(db: Session) -> None:
    for order_id in BAD:
        await raises_for(order_id, lambda o=order_id: db.get(DecodeOrder, tenant="p", order_id=o))
        await raises_for(
            order_id, lambda o=order_id: db.get_or_none(DecodeOrder, tenant="p", order_id=o)
        )
    await raises_for("03", lambda: db.batch_get(DecodeOrder, [{"tenant": "p", "order_id": "03"}]))
    await raises_for(
        "06", lambda: db.transact_get([(DecodeOrder, {"tenant": "p", "order_id": "06"})])
    )
    # Good items still read.
    assert (await db.get(DecodeOrder, tenant="p", order_id="01")).total == 1


async def test_query_and_scan_reads_raise_item_decode_error(db: Session) -> None:
    query = db.query(DecodeOrder).where(DecodeOrder.tenant == "p")
    await raises_for("03", query.all)
    await raises_for("03", lambda: query.page(size=5))
    await raises_for("06", lambda: query.where(DecodeOrder.order_id >= "06").first())
    await raises_for("03", db.scan(DecodeOrder).all)

    async def iterate() -> None:
        async for _ in db.scan(DecodeOrder):
            pass

    await raises_for("03", iterate)
    with pytest.raises(ItemDecodeError) as caught:
        await db.scan(DecodeOrder).segments(3).all()
    check(caught.value, caught.value.key["order_id"])  # type: ignore[index]


async def test_projections_raise_item_decode_error(db: Session) -> None:
    query = db.query(DecodeOrder).where(DecodeOrder.tenant == "p")
    reads: list[tuple[Callable[[], Awaitable[Any]], type, str]] = [
        (
            query.select(DecodeOrder.status, DecodeOrder.order_id).all,
            DecodeOrder,
            "DecodeOrder.status",
        ),
        (query.select(StatusSlim).all, StatusSlim, "StatusSlim.status"),
        (
            lambda: db.batch_get(
                DecodeOrder,
                [{"tenant": "p", "order_id": "03"}],
                select=[DecodeOrder.status, DecodeOrder.tenant],
            ),
            DecodeOrder,
            "DecodeOrder.status",
        ),
    ]
    for read, model, path in reads:
        with pytest.raises(ItemDecodeError) as caught:
            await read()
        error = caught.value
        assert (error.model, error.path) == (model, path)
        assert error.key == {"tenant": "p", "order_id": "03"}
        assert error.item is not None and error.item["status"] == {"S": "PAID"}


async def test_write_results_raise_item_decode_error(db: Session) -> None:
    update = db.update(DecodeOrder, tenant="p", order_id="03").set(DecodeOrder.customer, "ada")
    await raises_for("03", update.returning("ALL_OLD").execute)
    with pytest.raises(ItemDecodeError) as caught:
        await (
            db.update(DecodeOrder, tenant="p", order_id="06")
            .set(DecodeOrder.customer, "bob")
            .returning("ALL_NEW")
            .execute()
        )
    assert caught.value.path == "DecodeOrder.lines[1].qty" and caught.value.model is DecodeOrder
    assert caught.value.item is not None and caught.value.item["customer"] == {"S": "bob"}
    # UPDATED_OLD decodes only the touched fields: the bad one among them is named.
    with pytest.raises(ItemDecodeError) as old:
        await (
            db.update(DecodeOrder, tenant="p", order_id="10")
            .set(DecodeOrder.total, Decimal(1))
            .returning("UPDATED_OLD")
            .execute()
        )
    assert (old.value.path, old.value.item) == ("DecodeOrder.total", {"total": {"S": "lots"}})
    # A failed condition reads the stored item back: it does not fit either.
    with pytest.raises(ItemDecodeError) as failed:
        await db.delete(
            DecodeOrder, tenant="p", order_id="03", condition=DecodeOrder.customer == "nobody"
        )
    assert (failed.value.key, failed.value.path) == (
        {"tenant": "p", "order_id": "03"},
        "DecodeOrder.status",
    )


async def test_aggregation_inputs_raise_item_decode_error(db: Session) -> None:
    scan = db.scan(DecodeOrder)
    for segments in (1, 3):
        with pytest.raises(ItemDecodeError, match=r"Sum\(total\) adds numbers") as caught:
            await scan.segments(segments).aggregate(total=Sum(DecodeOrder.total))
        assert caught.value.key == {"tenant": "p", "order_id": "10"}
        assert caught.value.path == "DecodeOrder.total" and caught.value.model is DecodeOrder
        assert caught.value.table == db.table_name(DecodeOrder)
    with pytest.raises(ItemDecodeError, match="group_by status") as grouped:
        await scan.group_by(DecodeOrder.status).aggregate(n=Count(DecodeOrder.customer))
    assert grouped.value.key == {"tenant": "p", "order_id": "03"}
    assert grouped.value.path == "DecodeOrder.status"


# --- on_invalid("skip") ----------------------------------------------------------------------


async def test_skip_leaves_bad_items_out_and_logs_them(
    db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    query = db.query(DecodeOrder).where(DecodeOrder.tenant == "p").on_invalid("skip")
    with caplog.at_level(logging.WARNING, logger="dynamorm_async"):
        orders = await query.all()
    assert [o.order_id for o in orders] == GOOD
    logged = [r.getMessage() for r in caplog.records if r.name == "dynamorm_async"]
    assert len(logged) == len(BAD)
    for order_id in BAD:
        assert any(f"'order_id': '{order_id}'" in message for message in logged)
    assert [o.order_id async for o in query] == GOOD
    assert [o.order_id async for o in db.scan(DecodeOrder).on_invalid("skip")] == sorted(GOOD)
    # limit() counts results handed out, so a skipped item takes no place in it.
    first = await query.where(DecodeOrder.order_id >= "03").first()
    assert first is not None and first.order_id == "04"
    assert [o.order_id for o in await query.limit(3).all()] == GOOD[:3]
    parallel = await db.scan(DecodeOrder).segments(4).on_invalid("skip").all()
    assert sorted(o.order_id for o in parallel) == GOOD
    projected = await query.select(DecodeOrder.order_id, DecodeOrder.status).all()
    assert [row["order_id"] for row in projected] == sorted([*GOOD, "06", "10"])
    # The builder is immutable: the query it came from still raises.
    with pytest.raises(ItemDecodeError):
        await db.query(DecodeOrder).where(DecodeOrder.tenant == "p").all()
    with pytest.raises(ValidationError, match="'raise' or 'skip'"):
        db.scan(DecodeOrder).on_invalid("ignore")  # type: ignore[arg-type]


async def walk(
    first: Page[DecodeOrder], read: Callable[[str], Awaitable[Page[DecodeOrder]]], forward: bool
) -> tuple[list[Page[DecodeOrder]], list[str], list[str]]:
    pages, good, bad = [first], [], []
    page = first
    while True:
        good += [o.order_id for o in page.items]
        bad += [str(e.key["order_id"]) for e in page.invalid]  # type: ignore[index]
        cursor = page.next_cursor if forward else page.prev_cursor
        if cursor is None:
            return pages, good, bad
        page = await read(cursor)
        pages.append(page)


@pytest.mark.parametrize("size", [1, 2, 3, 4])
async def test_skip_pages_keep_cursors_exact_both_ways(db: Session, size: int) -> None:
    query = db.query(DecodeOrder).where(DecodeOrder.tenant == "p").on_invalid("skip")
    everything = sorted(GOOD + list(BAD))
    first = await query.page(size=size)
    pages, good, bad = await walk(first, lambda c: query.page(size=size, cursor=c), True)
    assert good == GOOD and sorted(bad) == sorted(BAD)
    for page in pages:
        for error in page.invalid:
            check(error, str(error.key["order_id"]))  # type: ignore[index]
    # Every page covers `size` stored items, bad ones included, in order.
    covered = [
        sorted([o.order_id for o in p.items] + [str(e.key["order_id"]) for e in p.invalid])  # type: ignore[index]
        for p in pages
    ]
    assert [x for chunk in covered for x in chunk] == everything
    assert all(len(chunk) == size for chunk in covered[:-1])
    # Backward from the last page gives the same pages, each item exactly once.
    last = pages[-1]
    assert last.prev_cursor is not None or len(pages) == 1
    back, good_back, bad_back = await walk(last, lambda c: query.page(size=size, cursor=c), False)
    assert sorted(good_back) == GOOD and sorted(bad_back) == sorted(BAD)
    assert [p.items for p in reversed(back)] == [p.items for p in pages]
    # pages() walks the same way.
    walked = [p async for p in query.pages(size)]
    assert [p.items for p in walked] == [p.items for p in pages]


async def test_scan_pages_skip_too(db: Session) -> None:
    scan = db.scan(DecodeOrder).on_invalid("skip")
    good, bad = [], []
    async for page in scan.pages(4):
        good += [o.order_id for o in page.items]
        bad += [str(e.key["order_id"]) for e in page.invalid]  # type: ignore[index]
    assert sorted(good) == GOOD and sorted(bad) == sorted(BAD)


async def test_skip_aggregation_counts_nothing_from_bad_items(db: Session) -> None:
    expected = sum(Decimal(o) for o in GOOD)
    for segments in (1, 3):
        scan = db.scan(DecodeOrder).segments(segments)
        row = await scan.on_invalid("skip").aggregate(
            total=Sum(DecodeOrder.total), n=Count(), hi=Max(DecodeOrder.total)
        )
        # "10" (a string total) counts nowhere: not in Count() either.
        assert row.values == {"total": expected, "n": len(GOOD) + 2, "hi": Decimal(9)}
        row = await scan.aggregate(total=Sum(DecodeOrder.total), n=Count()).on_invalid("skip")
        assert row.values["total"] == expected
    rows = (
        await db.scan(DecodeOrder)
        .group_by(DecodeOrder.status)
        .aggregate(n=Count())
        .on_invalid("skip")
    )
    # "03" (status "PAID") is left out; "06" and "10" have no status.
    assert [(r.key, r.n) for r in rows] == [(None, 2), (Status.NEW, len(GOOD))]
    newest = (
        db.query(DecodeOrder).where(DecodeOrder.tenant == "p").reverse().on_invalid("skip").limit(2)
    )
    limited = await newest.aggregate(n=Count(), total=Sum(DecodeOrder.total))
    # limit() counts aggregated items: "10", read first, takes no place in it.
    assert limited.values == {"n": 2, "total": Decimal(17)}


# --- DynamoDB's own rejections ---------------------------------------------------------------


async def test_dynamodb_validation_exception_is_request_rejected(db: Session) -> None:
    table = db.table_name(DecodeOrder)
    with pytest.raises(RequestRejected) as caught:
        await db.call(
            "Query",
            {
                "TableName": table,
                "IndexName": "no_such_index",
                "KeyConditionExpression": "tenant = :t",
                "ExpressionAttributeValues": {":t": {"S": "p"}},
            },
            table=table,
        )
    assert caught.value.code == "ValidationException"
    assert isinstance(caught.value, DynamoDBError)
    assert "DynamoDB rejected the request" in str(caught.value)
    assert "index" in caught.value.message.lower()
    with pytest.raises(RequestRejected, match=r"(?i)key") as too_long:
        await db.get(DecodeOrder, tenant="k" * 2100, order_id="1")
    assert too_long.value.code == "ValidationException"


async def test_unfit_aggregates_fail_when_built_without_a_request(
    dynamodb_endpoint: str, db: Session
) -> None:
    from dynamorm_async.testing import local_session

    events: list[RequestEvent] = []
    async with local_session(
        dynamodb_endpoint, table_prefix=db.table_prefix, on_request=events.append
    ) as counted:
        scan = counted.scan(DecodeOrder)
        with pytest.raises(
            ValidationError, match=r"Sum\(customer\) adds numbers.*DecodeOrder.customer"
        ):
            await scan.aggregate(total=Sum(DecodeOrder.customer))
        with pytest.raises(ValidationError, match=r"Avg\(status\) adds numbers"):
            scan.group_by(DecodeOrder.customer).aggregate(mean=Avg(DecodeOrder.status))
        with pytest.raises(ValidationError, match=r"Max\(lines\) compares"):
            Max(DecodeOrder.lines)
        assert events == []
        assert (await scan.on_invalid("skip").aggregate(n=Count())).values == {"n": 10}
        assert len(events) == 1
