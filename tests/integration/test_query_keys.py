"""Key conditions against DynamoDB Local: every operator on the table, a GSI and an LSI,
automatic index choice, and validation that fails before any request is sent."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import pytest

from dynamorm_async import (
    GlobalIndex,
    HashKey,
    InvalidCursor,
    LocalIndex,
    Model,
    RangeKey,
    RequestEvent,
    Session,
    ValidationError,
)
from dynamorm_async.testing import local_session

pytestmark = pytest.mark.timeout(60)


class Event(Model, table="events"):
    device: Annotated[str, HashKey()]
    sk: Annotated[str, RangeKey()]
    kind: str = "info"
    at: str = ""
    level: int = 0
    note: str = ""
    body: str = ""

    __indexes__ = (
        GlobalIndex("by_kind", hash_key="kind", range_key="at"),
        GlobalIndex("by_kind_note", hash_key="kind", range_key="note"),
        LocalIndex("by_level", range_key="level"),
    )


EVENTS = [
    Event(
        device="d1" if n < 12 else "d2",
        sk=f"e{n:02}",
        kind="warn" if n % 3 == 0 else "info",
        at=f"2025-0{n % 4 + 1}-{n:02}",
        level=(n * 7) % 12,
        note=f"n{n}",
    )
    for n in range(16)
]


@pytest.fixture(scope="module")
async def db(dynamodb_endpoint: str) -> AsyncIterator[Session]:
    """One loaded table for the whole module: these tests only read."""
    async with local_session(dynamodb_endpoint, table_prefix=f"q{uuid.uuid4().hex[:10]}_") as s:
        await s.create_table(Event)
        try:
            await s.batch_put(EVENTS)
            yield s
        finally:
            await s.delete_table(Event, wait=False)


@pytest.fixture(scope="module")
async def counting(dynamodb_endpoint: str) -> AsyncIterator[tuple[Session, list[RequestEvent]]]:
    events: list[RequestEvent] = []
    async with local_session(
        dynamodb_endpoint, table_prefix="never_", on_request=events.append
    ) as session:
        yield session, events


@pytest.fixture
def counted(
    counting: tuple[Session, list[RequestEvent]],
) -> tuple[Session, list[RequestEvent]]:
    """A Session that records every request it sends (and has no tables: none is needed)."""
    counting[1].clear()
    return counting


# (name, condition on a path, predicate on a value): every range-key operator.
OPERATORS: list[tuple[str, Callable[[Any, Any, Any], Any], Callable[[Any, Any, Any], bool]]] = [
    ("==", lambda p, a, b: p == a, lambda v, a, b: v == a),
    ("<", lambda p, a, b: p < b, lambda v, a, b: v < b),
    ("<=", lambda p, a, b: p <= b, lambda v, a, b: v <= b),
    (">", lambda p, a, b: p > a, lambda v, a, b: v > a),
    (">=", lambda p, a, b: p >= a, lambda v, a, b: v >= a),
    ("between", lambda p, a, b: p.between(a, b), lambda v, a, b: a <= v <= b),
]

# (target, hash condition, hash predicate, range field, two bounds, prefix for begins_with)
TARGETS: list[tuple[str | None, Any, Callable[[Event], bool], str, tuple[Any, Any], str | None]] = [
    (None, Event.device == "d1", lambda e: e.device == "d1", "sk", ("e03", "e08"), "e0"),
    ("by_kind", Event.kind == "info", lambda e: e.kind == "info", "at", ("2025-02", "2025-03-99"),
     "2025-02"),
    ("by_level", Event.device == "d1", lambda e: e.device == "d1", "level", (3, 9), None),
]


def expected(
    hash_ok: Callable[[Event], bool], field: str, keep: Callable[[Any], bool]
) -> list[str]:
    rows = [e for e in EVENTS if hash_ok(e) and keep(getattr(e, field))]
    return [e.sk for e in sorted(rows, key=lambda e: (getattr(e, field), e.sk))]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t[0] or "table")
@pytest.mark.parametrize("operator", OPERATORS, ids=lambda o: o[0])
async def test_every_range_operator_on_table_gsi_and_lsi(
    db: Session, target: Any, operator: Any
) -> None:
    index, hash_condition, hash_ok, field, (low, high), _ = target
    _, build, keep = operator
    path = getattr(Event, field)
    if operator[0] == "==":
        low = getattr(next(e for e in EVENTS if hash_ok(e)), field)
    want = expected(hash_ok, field, lambda v: keep(v, low, high))
    assert want, "the data set must exercise the operator"
    # Without .index() the one index whose keys fit is chosen automatically.
    auto = db.query(Event).where(hash_condition, build(path, low, high))
    assert [e.sk for e in await auto.all()] == want
    if index is not None:
        explicit = auto.index(index)
        assert [e.sk for e in await explicit.all()] == want
    assert [e.sk for e in await auto.reverse().all()] == want[::-1]


@pytest.mark.parametrize("target", [t for t in TARGETS if t[5]], ids=lambda t: t[0] or "table")
async def test_begins_with_on_string_range_keys(db: Session, target: Any) -> None:
    _, hash_condition, hash_ok, field, _, prefix = target
    q = db.query(Event).where(hash_condition, getattr(Event, field).begins_with(prefix))
    want = expected(hash_ok, field, lambda v: v.startswith(prefix))
    assert want and [e.sk for e in await q.all()] == want


async def test_hash_key_only_on_table_gsi_and_lsi(db: Session) -> None:
    table = await db.query(Event).where(Event.device == "d2").all()
    assert [e.sk for e in table] == ["e12", "e13", "e14", "e15"]
    gsi = await db.query(Event).index("by_kind").where(Event.kind == "warn").all()
    assert [e.sk for e in gsi] == expected(lambda e: e.kind == "warn", "at", lambda v: True)
    lsi = await db.query(Event).index("by_level").where(Event.device == "d2").all()
    assert [e.level for e in lsi] == sorted(e.level for e in EVENTS if e.device == "d2")
    assert lsi[0] == next(e for e in EVENTS if e.sk == lsi[0].sk)


async def test_conditions_joined_with_and_work_like_separate_arguments(db: Session) -> None:
    joined = db.query(Event).where((Event.device == "d1") & (Event.sk > "e09"))
    assert [e.sk for e in await joined.all()] == ["e10", "e11"]


async def test_no_match_is_an_empty_result(db: Session) -> None:
    q = db.query(Event).where(Event.device == "nobody")
    assert await q.all() == [] and await q.first() is None and await q.count() == 0


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda q: q, "needs the hash key"),
        (lambda q: q.where(Event.sk == "e01"), "needs its hash key"),
        (lambda q: q.where(Event.device > "d"), "takes only =="),
        (lambda q: q.where(Event.device == "d1", Event.note == "n1"), r"\.filter\(\)"),
        (lambda q: q.where(Event.kind == "info"), "'by_kind', 'by_kind_note'"),
        (lambda q: q.where(Event.kind == "info", Event.at > "2").consistent(), "global secondary"),
        (lambda q: q.index("by_kind").where(Event.kind == "x").consistent(), "global secondary"),
        (lambda q: q.index("by_kind").where(Event.device == "d1"), "index 'by_kind' needs"),
        (lambda q: q.where(Event.device == "d1", Event.sk < "e", Event.sk > "a"), "twice"),
    ],
)
async def test_invalid_key_conditions_send_nothing(
    counted: tuple[Session, list[RequestEvent]], build: Any, message: str
) -> None:
    session, events = counted
    q = build(session.query(Event))
    for run in (q.all, q.first, q.count, lambda: q.page(size=2), q.delete):
        with pytest.raises(ValidationError, match=message):
            await run()
    with pytest.raises(ValidationError, match=message):
        async for _ in q:
            pass
    assert events == []


async def test_eager_validation_sends_nothing(counted: tuple[Session, list[RequestEvent]]) -> None:
    session, events = counted
    with pytest.raises(ValidationError, match="begins_with"):
        session.query(Event).where(Event.device == "d1", Event.level.begins_with("1"))
    with pytest.raises(ValidationError, match=r"Event\.body is not a key attribute"):
        session.query(Event).where(Event.body.begins_with("n"))
    with pytest.raises(ValidationError, match="has no index"):
        session.query(Event).index("nope")
    with pytest.raises(ValidationError, match="parallel scan"):
        await session.scan(Event).segments(2).page(size=3)
    with pytest.raises(ValidationError, match="parallel scan"):
        session.scan(Event).segments(2).pages(size=3)
    with pytest.raises(InvalidCursor):
        await session.query(Event).where(Event.device == "d1").page(size=3, cursor="x" * 40)
    assert events == []
