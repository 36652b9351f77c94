"""The model is the schema: a write that would not read back is refused before any request.

Each write path (put, create, batch_put, the batch writer, transaction puts and updates, update
actions, migration targets) gets the values of the issue that once stored unreadable items.
Requests are counted with the Session's ``on_request`` hook; the table is read afterwards to
show nothing was written, not even the valid items sent alongside a bad one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamorm_async import (
    TTL,
    CreatedAt,
    HashKey,
    Model,
    RangeKey,
    Session,
    UpdatedAt,
    ValidationError,
    Version,
    migrate,
)
from dynamorm_async.testing import local_session
from tests.shared_types import Line, Status


class ContractOrder(Model, table="orders"):
    """Keyed by tenant, with one field per rule of the write contract."""

    tenant: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    status: Status = Status.NEW
    ref: uuid.UUID | None = None
    lines: list[Line] = msgspec.field(default_factory=list)
    tags: set[bytes] = msgspec.field(default_factory=set)
    discount: Annotated[int, msgspec.Meta(ge=0, le=100)] = 0
    note: str | None = "n/a"
    placed: datetime | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class Requests:
    """A Session that counts the requests it sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, event: Any) -> None:
        self.sent.append(event.operation)


@pytest.fixture
async def db(
    dynamodb_endpoint: str, dynamodb_session: Session
) -> AsyncIterator[tuple[Session, Requests]]:
    await dynamodb_session.create_table(ContractOrder)
    requests = Requests()
    async with local_session(
        dynamodb_endpoint, table_prefix=dynamodb_session.table_prefix, on_request=requests
    ) as counted:
        yield counted, requests


def good(order_id: str = "ok") -> ContractOrder:
    return ContractOrder(tenant="p", order_id=order_id, lines=[Line("a", 1)], ref=uuid.uuid4())


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"x": value}
    return value


# (case, field values that do not read back, the error's message)
BAD_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("enum name", {"status": "PAID"}, r"ContractOrder\.status: expected a Status member"),
    (
        "dict for a struct",
        {"lines": [Line("a", 1), {"sku": "x"}]},
        r"ContractOrder\.lines\[1\]: expected a Line, got dict",
    ),
    (
        "str for a UUID",
        {"ref": "not-a-uuid"},
        r"ContractOrder\.ref: expected a uuid\.UUID, got str",
    ),
    (
        "nested wrong type",
        {"lines": [Line("a", "1")]},  # type: ignore[arg-type]
        r"ContractOrder\.lines\[0\]\.qty: expected an int, got str '1'",
    ),
    ("str in set[bytes]", {"tags": {"x"}}, r"ContractOrder\.tags: expected bytes, got str 'x'"),
    ("constraint", {"discount": 101}, r"ContractOrder\.discount: Expected `int` <= 100"),
    ("str for a datetime", {"placed": "2025-01-01"}, r"ContractOrder\.placed: expected a datetime"),
    ("NaN", {"extra": {"x": float("nan")}}, r"ContractOrder\.extra\['x'\]: nan cannot be stored"),
    (
        "too deep",
        {"extra": _deep(32)},
        r"ContractOrder\.extra: value nests maps/lists more than 32",
    ),
    ("None, not Optional", {"lines": None}, r"ContractOrder\.lines: None cannot be stored"),
]


def _bad(fields: dict[str, Any]) -> Callable[[], ContractOrder]:
    return lambda: ContractOrder(tenant="p", order_id="bad", **fields)


BAD = [(case, _bad(fields), message) for case, fields, message in BAD_FIELDS]


async def stored(db: Session) -> list[ContractOrder]:
    return await db.scan(ContractOrder).all()


@pytest.mark.parametrize(("case", "make", "message"), BAD, ids=[case for case, _, _ in BAD])
async def test_put_and_create_refuse_before_any_request(
    db: tuple[Session, Requests], case: str, make: Callable[[], ContractOrder], message: str
) -> None:
    session, requests = db
    for write in (session.put, session.create):
        with pytest.raises(ValidationError, match=message) as caught:
            await write(make())
        assert caught.value.table is not None and caught.value.table.endswith("orders")
    assert requests.sent == []
    assert await stored(session) == []


async def test_a_batch_with_one_bad_item_writes_none_of_them(db: tuple[Session, Requests]) -> None:
    session, requests = db
    for _, make, message in BAD:
        with pytest.raises(ValidationError, match=message):
            await session.batch_put([good("a"), make(), good("b")])
    assert requests.sent == []
    assert await stored(session) == []


async def test_the_batch_writer_refuses_the_bad_item_at_put(db: tuple[Session, Requests]) -> None:
    session, requests = db
    async with session.batch_writer() as writer:
        writer.put(good("a"))
        for _, make, message in BAD:
            with pytest.raises(ValidationError, match=message):
                writer.put(make())
    assert requests.sent == ["BatchWriteItem"]
    assert [o.order_id for o in await stored(session)] == ["a"]


async def test_a_transaction_with_one_bad_put_sends_nothing(db: tuple[Session, Requests]) -> None:
    session, requests = db
    for _, make, message in BAD:
        with pytest.raises(ValidationError, match=message):
            async with session.transaction() as tx:
                tx.put(good("a"))
                tx.put(make())
    assert requests.sent == []
    assert await stored(session) == []


async def test_update_actions_refuse_what_a_put_refuses(db: tuple[Session, Requests]) -> None:
    session, requests = db
    await session.put(good("u"))
    before = await stored(session)
    requests.sent.clear()
    update = session.update(ContractOrder, tenant="p", order_id="u")
    attempts: list[tuple[Callable[[], Any], str]] = [
        (lambda: update.set(ContractOrder.status, "PAID"), r"expected a Status member"),
        (lambda: update.set(ContractOrder.ref, "not-a-uuid"), r"not-a-uuid"),
        (
            lambda: update.set(ContractOrder.lines, [Line("a", 1), {"sku": "x"}]),
            r"\[1\]: expected a Line",
        ),
        (lambda: update.append(ContractOrder.lines, [Line("a", "1")]), r"qty: expected an int"),  # type: ignore
        (lambda: update.add(ContractOrder.tags, {"x"}), r"expected bytes"),
        (lambda: update.set(ContractOrder.discount, -1), r">= 0"),
        (lambda: update.set(ContractOrder.extra, _deep(32)), r"more than 32 levels"),
        (lambda: update.set(ContractOrder.lines, None), r"None"),
    ]
    for attempt, message in attempts:
        with pytest.raises(ValidationError, match=message):
            attempt()
    with pytest.raises(ValidationError, match=r"expected a Status member"):
        async with session.transaction() as tx:
            tx.put(good("t"))
            tx.update(ContractOrder, tenant="p", order_id="u").set(ContractOrder.status, "PAID")  # type: ignore
    assert requests.sent == []
    assert await stored(session) == before


async def test_none_in_an_optional_field_with_another_default_reads_back_as_none(
    db: tuple[Session, Requests],
) -> None:
    session, _ = db
    written = await session.put(ContractOrder(tenant="p", order_id="n", note=None))
    assert written.note is None
    assert (await session.get(ContractOrder, tenant="p", order_id="n")).note is None
    await session.update(ContractOrder, tenant="p", order_id="n").set(ContractOrder.note, "x")
    await session.update(ContractOrder, tenant="p", order_id="n").set(ContractOrder.note, None)
    assert (await session.get(ContractOrder, tenant="p", order_id="n")).note is None


class OrderV2(ContractOrder, table="orders"):
    total: Decimal = Decimal(0)


async def test_migration_targets_that_would_not_read_back_are_failures(
    db: tuple[Session, Requests],
) -> None:
    session, _ = db
    await session.batch_put([good("m1"), good("m2")])

    def upgrade(order: ContractOrder) -> OrderV2:
        fields = msgspec.structs.asdict(order)
        if order.order_id == "m1":
            fields["status"] = "PAID"  # the enum's name, not a member
        return OrderV2(**fields, total=Decimal("1.5"))

    report = await migrate(session, source=ContractOrder, target=OrderV2, transform=upgrade)
    reasons = {key["order_id"]: reason for key, reason in report.failed}
    assert list(reasons) == ["m1"]
    assert "OrderV2.status: expected a Status member" in reasons["m1"]
    stored_v2 = {o.order_id: o for o in await session.scan(OrderV2).all()}
    assert stored_v2["m2"].total == Decimal("1.5")
    assert stored_v2["m1"].total == Decimal(0)  # untouched


class Login(Model, table="logins"):
    sid: Annotated[str, HashKey()]
    expires: Annotated[datetime, TTL()]
    created: Annotated[datetime | None, CreatedAt()] = None
    updated: Annotated[datetime | None, UpdatedAt()] = None


async def test_ttl_and_timestamps_read_back_as_the_write_returned(
    dynamodb_session: Session,
) -> None:
    db = dynamodb_session
    await db.create_table(Login)
    when = datetime(2031, 5, 6, 7, 8, 9, 987654, tzinfo=UTC)
    written = await db.put(Login(sid="s", expires=when))
    assert written.expires == when.replace(microsecond=0)
    read = await db.get(Login, sid="s")
    assert read == written
    batched = Login(sid="b", expires=when)
    await db.batch_put([batched])
    assert await db.get(Login, sid="b") == batched


class Visit(Model, table="visits"):
    sid: Annotated[str, HashKey()]
    expires: Annotated[datetime, TTL()]
    seen: datetime
    score: float = 0.0
    amount: Decimal = Decimal(0)
    note: str | None = "n/a"
    created: Annotated[datetime | None, CreatedAt()] = None
    updated: Annotated[datetime | None, UpdatedAt()] = None
    version: Annotated[int, Version()] = 0


_when = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=9))]),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    expires=_when,
    seen=_when,
    score=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e100, max_value=1e100),
    amount=st.decimals(min_value=-(10**20), max_value=10**20, places=4, allow_nan=False),
    note=st.none() | st.text(max_size=5),
    how=st.sampled_from(["put", "create", "batch_put"]),
)
async def test_property_what_a_write_returns_is_what_a_get_returns(
    dynamodb_session: Session,
    expires: datetime,
    seen: datetime,
    score: float,
    amount: Decimal,
    note: str | None,
    how: str,
) -> None:
    db = dynamodb_session
    await db.ensure_table(Visit)
    if score != 0 and abs(score) <= 1e-120:
        score = 0.0  # below DynamoDB's smallest magnitude; refused, covered by the unit tests
    sid = uuid.uuid4().hex
    visit = Visit(sid=sid, expires=expires, seen=seen, score=score, amount=amount, note=note)
    if how == "put":
        written = await db.put(visit)
    elif how == "create":
        written = await db.create(visit)
    else:
        await db.batch_put([visit])
        written = visit
    assert await db.get(Visit, sid=sid) == written
