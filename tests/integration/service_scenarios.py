"""HTTP scenarios both orders services must pass, run against a real server over TCP.

The FastAPI and aiohttp tests start their server on a loopback port and hand its base URL and
a verification Session (same table prefix, its own client) to these functions, which talk to
the service only through httpx and check what landed in DynamoDB through the Session.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from typing import Any

import anyio
import httpx
import msgspec

from dynamorm_async import RequestEvent, Session, SessionOptions
from examples.fastapi_orders.orders import Order, OrderPage, Totals

__all__ = [
    "check_crud_and_errors",
    "check_concurrent_requests",
    "check_pagination",
    "check_totals",
    "client",
    "session_options",
]

CONCURRENT = 200


def session_options(
    endpoint: str, prefix: str, events: list[RequestEvent] | None = None
) -> SessionOptions:
    """Options for the service's own Session: same DynamoDB and prefix as the test's."""
    options: SessionOptions = {
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
        "table_prefix": prefix,
        "cursor_secret": b"service tests",
    }
    if events is not None:
        options["on_request"] = events.append
    return options


def client(base_url: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=CONCURRENT)
    return httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits)


def expect(response: httpx.Response, status: int, error: str | None = None) -> Any:
    """Assert the status (and the Problem's ``error`` code) and return the decoded body."""
    assert response.status_code == status, (response.request.url, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    if error is not None:
        assert body["error"] == error, body
        assert body["detail"]
    return body


def new_order(customer: str, order_id: str, total: str = "10.00", **extra: Any) -> dict[str, Any]:
    return {"customer": customer, "order_id": order_id, "total": total, **extra}


async def check_crud_and_errors(http: httpx.AsyncClient, db: Session) -> None:
    created = expect(
        await http.post(
            "/orders", json=new_order("ada", "A-1", "12.50", qty=2, tags=["gift"], receipt="AAE=")
        ),
        201,
    )
    order = msgspec.convert(created, Order)
    assert (order.status, order.total, order.qty, order.version) == ("new", Decimal("12.50"), 2, 1)
    assert order.tags == {"gift"} and order.receipt == b"\x00\x01"
    assert order.created_at is not None and order.created_at == order.updated_at
    stored = await db.get(Order, customer="ada", order_id="A-1", consistent=True)
    assert stored == order

    # A second create of the same key is refused and changes nothing.
    expect(await http.post("/orders", json=new_order("ada", "A-1", "99")), 409, "order_exists")
    assert (await db.get(Order, customer="ada", order_id="A-1", consistent=True)).total == 12.5

    got = expect(await http.get("/orders/ada/A-1"), 200)
    assert msgspec.convert(got, Order) == order
    expect(await http.get("/orders/ada/missing"), 404, "order_not_found")

    # Bodies: malformed JSON is 400; JSON that does not fit the struct is 422.
    expect(await http.post("/orders", content=b"{not json"), 400, "malformed_json")
    for bad in (
        new_order("ada", "A-2", "-1"),
        new_order("ada", "A-2", colour="red"),
        {"customer": "ada", "total": "1"},
        new_order("", "A-2"),
        new_order("ada", "A-2", qty=0),
    ):
        expect(await http.post("/orders", json=bad), 422, "invalid_body")

    # Optimistic locking: the version the client saw must still be current.
    paid = expect(await http.patch("/orders/ada/A-1", json={"status": "paid", "version": 1}), 200)
    assert (paid["status"], paid["version"]) == ("paid", 2)
    # DynamoDB stores numbers normalized: 12.50 comes back as 12.5.
    assert Decimal(paid["total"]) == Decimal("12.50")
    assert paid["created_at"] == created["created_at"]
    stale = await http.patch("/orders/ada/A-1", json={"status": "cancelled", "version": 1})
    assert "version 2" in expect(stale, 409, "version_conflict")["detail"]
    expect(
        await http.patch("/orders/ada/nope", json={"status": "paid", "version": 0}),
        404,
        "order_not_found",
    )
    expect(await http.patch("/orders/ada/A-1", json={"status": "lost", "version": 2}), 422)
    stored = await db.get(Order, customer="ada", order_id="A-1", consistent=True)
    assert (stored.status, stored.version) == ("paid", 2)
    # The PATCH of a missing order created nothing.
    assert await db.get_or_none(Order, customer="ada", order_id="nope", consistent=True) is None


async def walk(http: httpx.AsyncClient, url: str, size: int) -> list[OrderPage]:
    """Follow ``next`` cursors from the first page to the last."""
    pages = [msgspec.convert(expect(await http.get(url, params={"size": size}), 200), OrderPage)]
    while pages[-1].next is not None:
        params: dict[str, Any] = {"size": size, "cursor": pages[-1].next}
        pages.append(msgspec.convert(expect(await http.get(url, params=params), 200), OrderPage))
    return pages


def ids(page: OrderPage) -> list[str]:
    return [order.order_id for order in page.items]


async def check_pagination(http: httpx.AsyncClient, db: Session) -> None:
    batch = [new_order("bob", f"B-{i:03d}", f"{i}.10") for i in range(23)]
    batch += [new_order("eve", f"E-{i:03d}") for i in range(3)]
    assert expect(await http.post("/orders/import", json=batch), 200) == {"imported": 26}
    assert await db.query(Order).where(Order.customer == "bob").count() == 23

    url = "/customers/bob/orders"
    pages = await walk(http, url, 5)
    assert [len(p.items) for p in pages] == [5, 5, 5, 5, 3]
    assert [i for p in pages for i in ids(p)] == [f"B-{i:03d}" for i in range(23)]
    assert pages[0].prev is None
    assert pages[-1].items[-1].total == Decimal("22.10")

    # Back from the last page through prev cursors: the same pages, in reverse.
    back = [pages[-1]]
    while back[-1].prev is not None:
        params = {"size": 5, "cursor": back[-1].prev}
        back.append(msgspec.convert(expect(await http.get(url, params=params), 200), OrderPage))
    assert [ids(p) for p in reversed(back)] == [ids(p) for p in pages]

    # A page size that divides the result exactly ends without an empty trailing page.
    exact = await walk(http, "/customers/eve/orders", 3)
    assert [ids(p) for p in exact] == [["E-000", "E-001", "E-002"]]

    cursor = pages[1].next
    assert cursor is not None
    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    for bad in ("garbage", tampered, cursor[: len(cursor) // 2]):
        expect(await http.get(url, params={"size": 5, "cursor": bad}), 400, "invalid_cursor")
    # Cursors are bound to their query: bob's cursor does not open eve's orders.
    foreign = await http.get("/customers/eve/orders", params={"size": 5, "cursor": cursor})
    expect(foreign, 400, "invalid_cursor")
    for size in ("0", "101", "x"):
        expect(await http.get(url, params={"size": size}), 422, "invalid_request")


async def check_totals(http: httpx.AsyncClient, db: Session) -> None:
    batch = [new_order("cy", f"C-{i}", f"{i}.25") for i in range(6)]
    batch += [new_order("di", "D-0", "100")]
    expect(await http.post("/orders/import", json=batch), 200)
    for order_id, status in (("C-0", "paid"), ("C-1", "paid"), ("C-2", "cancelled")):
        expect(
            await http.patch(f"/orders/cy/{order_id}", json={"status": status, "version": 1}),
            200,
        )

    mine = msgspec.convert(
        expect(await http.get("/totals", params={"customer": "cy"}), 200), Totals
    )
    assert mine.customer == "cy"
    by_status = {t.status: (t.count, t.total) for t in mine.statuses}
    assert by_status == {
        "paid": (2, Decimal("1.50")),
        "cancelled": (1, Decimal("2.25")),
        "new": (3, Decimal("12.75")),
    }

    everyone = msgspec.convert(expect(await http.get("/totals"), 200), Totals)
    assert everyone.customer is None
    assert {t.status: (t.count, t.total) for t in everyone.statuses}["new"] == (
        4,
        Decimal("112.75"),
    )
    stored = await db.scan(Order).all()
    assert sum(o.total for o in stored) == sum(t.total for t in everyone.statuses)


async def check_concurrent_requests(
    http: httpx.AsyncClient, db: Session, events: list[RequestEvent]
) -> None:
    """200 concurrent creates, then 200 concurrent reads and updates, all through the service's
    one Session; every answer and every stored item is checked."""
    customers = [f"k{n}" for n in range(8)]
    wanted = {
        (customers[i % len(customers)], f"O-{i:04d}"): Decimal(i) + Decimal("0.01")
        for i in range(CONCURRENT)
    }
    answers: dict[tuple[str, str], httpx.Response] = {}

    async def create(key: tuple[str, str], total: Decimal) -> None:
        answers[key] = await http.post("/orders", json=new_order(*key, str(total)))

    async with anyio.create_task_group() as tg:
        for key, total in wanted.items():
            tg.start_soon(create, key, total)
    for (customer, order_id), response in answers.items():
        body = expect(response, 201)
        assert (body["customer"], body["order_id"]) == (customer, order_id)
        assert Decimal(body["total"]) == wanted[customer, order_id]
    assert len(answers) == CONCURRENT

    stored = {(o.customer, o.order_id): o for o in await db.scan(Order).all()}
    assert {k: o.total for k, o in stored.items()} == wanted
    assert all(o.version == 1 and o.status == "new" for o in stored.values())

    # Mixed: every order read, half of them paid, and 20 racers on one order's version.
    keys = sorted(wanted)
    reads: dict[tuple[str, str], httpx.Response] = {}
    updates: dict[tuple[str, str], httpx.Response] = {}
    racers: list[httpx.Response] = []

    async def read(key: tuple[str, str]) -> None:
        reads[key] = await http.get(f"/orders/{key[0]}/{key[1]}")

    async def pay(key: tuple[str, str]) -> None:
        updates[key] = await http.patch(
            f"/orders/{key[0]}/{key[1]}", json={"status": "paid", "version": 1}
        )

    async def race(status: str) -> None:
        contested = keys[0]
        racers.append(
            await http.patch(
                f"/orders/{contested[0]}/{contested[1]}", json={"status": status, "version": 1}
            )
        )

    async with anyio.create_task_group() as tg:
        for key in keys[1:101]:
            tg.start_soon(read, key)
        for key in keys[101:181]:
            tg.start_soon(pay, key)
        for n in range(20):
            tg.start_soon(race, "shipped" if n % 2 else "cancelled")
    assert len(reads) + len(updates) + len(racers) == CONCURRENT
    for key, response in reads.items():
        assert msgspec.convert(expect(response, 200), Order) == stored[key]
    for response in updates.values():
        assert expect(response, 200)["version"] == 2
    statuses = Counter(r.status_code for r in racers)
    assert statuses == {200: 1, 409: 19}, statuses
    winner = next(r.json() for r in racers if r.status_code == 200)

    after = {(o.customer, o.order_id): o for o in await db.scan(Order).all()}
    assert after[keys[0]].status == winner["status"] and after[keys[0]].version == 2
    assert all(after[k].status == "paid" and after[k].version == 2 for k in keys[101:181])
    assert all(after[k] == stored[k] for k in keys[181:])

    # Every call went through the service's single Session (its on_request hook saw them).
    ops = Counter(e.operation for e in events)
    assert ops["PutItem"] == CONCURRENT
    assert ops["GetItem"] >= 100 and ops["UpdateItem"] == 80 + 20
    assert all(e.error is None for e in events if e.operation in ("PutItem", "GetItem"))


async def settle() -> None:
    """Let cancelled callbacks finish so a leak check sees only tasks that really leaked."""
    for _ in range(3):
        await asyncio.sleep(0)
