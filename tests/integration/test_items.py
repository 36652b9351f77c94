"""Session item methods against DynamoDB Local: put/create/get/delete, every condition operator,
optimistic locking (including a race between two Sessions) and CreatedAt/UpdatedAt stamping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Annotated

import anyio
import msgspec
import pytest

from dynamorm_async import (
    Condition,
    ConditionFailed,
    CreatedAt,
    HashKey,
    ItemExists,
    ItemNotFound,
    Model,
    RangeKey,
    RequestEvent,
    Session,
    UpdatedAt,
    ValidationError,
    Version,
)
from dynamorm_async.testing import local_session

pytestmark = pytest.mark.timeout(60)


class Doc(Model, table="docs"):
    """No Version field: puts are unconditional unless a condition is given."""

    pk: Annotated[str, HashKey()]
    title: str = ""
    score: int = 0
    price: Decimal = Decimal(0)
    tags: set[str] = msgspec.field(default_factory=set)
    lines: list[str] = msgspec.field(default_factory=list)
    note: str | None = None
    blob: bytes | None = None


class Account(Model, table="accounts"):
    owner: Annotated[str, HashKey()]
    number: Annotated[int, RangeKey()]
    balance: Decimal = Decimal(0)
    version: Annotated[int, Version()] = 0
    created_at: Annotated[datetime | None, CreatedAt()] = None
    updated_at: Annotated[datetime | None, UpdatedAt()] = None


@pytest.fixture
async def db(dynamodb_session: Session) -> AsyncIterator[Session]:
    await dynamodb_session.create_table(Doc)
    await dynamodb_session.create_table(Account)
    yield dynamodb_session


# --- put / create / get / delete -----------------------------------------------------------


async def test_put_and_get_round_trip(db: Session) -> None:
    doc = Doc(pk="d1", title="hello", score=3, price=Decimal("9.99"), tags={"a", "b"},
              lines=["x", "y"], note=None, blob=b"\x00\xff")
    assert await db.put(doc) is doc
    got = await db.get(Doc, pk="d1", consistent=True)
    assert got == doc
    raw = await db.call("GetItem", {"TableName": db.table_name(Doc), "Key": {"pk": {"S": "d1"}}})
    assert raw["Item"]["price"] == {"N": "9.99"}
    assert raw["Item"]["tags"] == {"SS": ["a", "b"]}
    assert "note" not in raw["Item"]


async def test_put_replaces_the_whole_item(db: Session) -> None:
    await db.put(Doc(pk="d1", title="first", score=5))
    await db.put(Doc(pk="d1", title="second"))
    assert await db.get(Doc, pk="d1", consistent=True) == Doc(pk="d1", title="second")


async def test_get_missing_item(db: Session) -> None:
    with pytest.raises(ItemNotFound) as caught:
        await db.get(Doc, pk="nope")
    assert caught.value.key == {"pk": "nope"}
    assert caught.value.table == db.table_name(Doc)
    assert await db.get_or_none(Doc, pk="nope", consistent=True) is None


async def test_get_needs_the_full_key(db: Session) -> None:
    with pytest.raises(ValidationError, match="missing \\['number'\\]"):
        await db.get(Account, owner="o")
    with pytest.raises(ValidationError, match="unexpected \\['extra'\\]"):
        await db.get(Doc, pk="x", extra=1)


async def test_create_only_when_absent(db: Session) -> None:
    created = await db.create(Doc(pk="d1", title="one"))
    assert created.title == "one"
    with pytest.raises(ItemExists) as caught:
        await db.create(Doc(pk="d1", title="two"))
    assert isinstance(caught.value, ConditionFailed)
    assert caught.value.key == {"pk": "d1"}
    assert isinstance(caught.value.__cause__, Exception)
    assert (await db.get(Doc, pk="d1", consistent=True)).title == "one"


async def test_delete_by_key_and_instance(db: Session) -> None:
    await db.put(Doc(pk="d1"))
    doc2 = await db.put(Doc(pk="d2"))
    await db.delete(Doc, pk="d1")
    await db.delete(doc2)
    await db.delete(Doc, pk="never-existed")  # deleting a missing item is not an error
    assert await db.get_or_none(Doc, pk="d1", consistent=True) is None
    assert await db.get_or_none(Doc, pk="d2", consistent=True) is None


async def test_conditional_delete(db: Session) -> None:
    await db.put(Doc(pk="d1", title="keep"))
    with pytest.raises(ConditionFailed) as caught:
        await db.delete(Doc, pk="d1", condition=Doc.title == "drop")
    assert caught.value.operation == "DeleteItem"
    assert caught.value.key == {"pk": "d1"}
    assert await db.get_or_none(Doc, pk="d1", consistent=True) is not None
    await db.delete(Doc, pk="d1", condition=Doc.title == "keep")
    assert await db.get_or_none(Doc, pk="d1", consistent=True) is None


# --- every condition operator --------------------------------------------------------------

STORED = Doc(pk="c", title="Gamma ray", score=10, price=Decimal("2.5"), tags={"red", "blue"},
             lines=["one", "two", "three"], blob=b"\x01\x02")


def operator_cases() -> list[tuple[str, Condition | bool, bool]]:
    return [
        ("==", Doc.score == 10, True),
        ("== false", Doc.score == 11, False),
        ("!=", Doc.score != 11, True),
        ("!= false", Doc.score != 10, False),
        ("<", Doc.score < 11, True),
        ("< false", Doc.score < 10, False),
        ("<=", Doc.score <= 10, True),
        ("<= false", Doc.score <= 9, False),
        (">", Doc.score > 9, True),
        ("> false", Doc.score > 10, False),
        (">=", Doc.score >= 10, True),
        (">= false", Doc.score >= 11, False),
        ("decimal <", Doc.price < Decimal("2.51"), True),
        ("between", Doc.score.between(5, 10), True),
        ("between false", Doc.score.between(11, 20), False),
        ("begins_with", Doc.title.begins_with("Gam"), True),
        ("begins_with false", Doc.title.begins_with("gam"), False),
        ("is_in", Doc.score.is_in([1, 10, 100]), True),
        ("is_in false", Doc.score.is_in([1, 2]), False),
        ("exists", Doc.title.exists(), True),
        ("exists false", Doc.note.exists(), False),
        ("not_exists", Doc.note.not_exists(), True),
        ("not_exists false", Doc.title.not_exists(), False),
        ("contains substring", Doc.title.contains("ray"), True),
        ("contains substring false", Doc.title.contains("Ray"), False),
        ("contains set element", Doc.tags.contains("red"), True),
        ("contains set element false", Doc.tags.contains("green"), False),
        ("contains list element", Doc.lines.contains("two"), True),
        ("contains list element false", Doc.lines.contains("four"), False),
        ("is_type", Doc.tags.is_type("SS"), True),
        ("is_type false", Doc.tags.is_type("L"), False),
        ("is_type binary", Doc.blob.is_type("B"), True),
        ("size", Doc.lines.size() > 2, True),
        ("size false", Doc.lines.size() > 3, False),
        ("size of string", Doc.title.size() == 9, True),
        ("and", (Doc.score == 10) & (Doc.title == "Gamma ray"), True),
        ("and false", (Doc.score == 10) & (Doc.title == "x"), False),
        ("or", (Doc.score == 1) | (Doc.title == "Gamma ray"), True),
        ("or false", (Doc.score == 1) | (Doc.title == "x"), False),
        ("not", ~(Doc.score == 1), True),
        ("not false", ~(Doc.score == 10), False),
        ("nested", ((Doc.score > 1) & ~Doc.note.exists()) | (Doc.title == "x"), True),
        ("attribute vs attribute", Doc.score > Doc.price, True),
    ]


async def test_every_condition_operator(db: Session) -> None:
    await db.put(STORED)
    wrong: list[str] = []
    for name, condition, holds in operator_cases():
        try:
            await db.put(STORED, condition=condition)
        except ConditionFailed:
            passed = False
        else:
            passed = True
        if passed != holds:
            wrong.append(name)
    assert wrong == []
    assert await db.get(Doc, pk="c", consistent=True) == STORED


async def test_condition_on_a_missing_item(db: Session) -> None:
    with pytest.raises(ConditionFailed):
        await db.put(Doc(pk="new"), condition=Doc.pk.exists())
    await db.put(Doc(pk="new"), condition=Doc.pk.not_exists())


async def test_a_bool_is_not_a_condition(db: Session) -> None:
    with pytest.raises(ValidationError, match="expected a condition"):
        await db.put(Doc(pk="x"), condition=True)


# --- versions and timestamps ---------------------------------------------------------------


async def test_put_sets_version_and_timestamps(db: Session) -> None:
    account = Account(owner="o", number=1, balance=Decimal(10))
    stored = await db.put(account)
    assert stored is account
    assert account.version == 1
    assert account.created_at is not None
    assert account.created_at == account.updated_at
    assert await db.get(Account, owner="o", number=1, consistent=True) == account


async def test_second_put_keeps_created_at_and_bumps_updated_at(db: Session) -> None:
    account = await db.put(Account(owner="o", number=1))
    created, updated = account.created_at, account.updated_at
    assert created is not None
    assert updated is not None
    account.balance = Decimal(5)
    await db.put(account)
    assert account.version == 2
    assert account.created_at == created
    assert account.updated_at is not None
    assert account.updated_at > updated
    assert await db.get(Account, owner="o", number=1, consistent=True) == account


async def test_stale_put_and_delete_fail(db: Session) -> None:
    account = await db.put(Account(owner="o", number=1))
    stale = msgspec.structs.replace(account)
    await db.put(account)
    stale.balance = Decimal(99)
    with pytest.raises(ConditionFailed):
        await db.put(stale)
    assert stale.version == 1  # nothing applied to a failed write's instance
    with pytest.raises(ConditionFailed):
        await db.delete(stale)
    stored = await db.get(Account, owner="o", number=1, consistent=True)
    assert (stored.version, stored.balance) == (2, Decimal(0))
    await db.delete(stored)
    assert await db.get_or_none(Account, owner="o", number=1, consistent=True) is None


async def test_new_instance_cannot_overwrite_an_existing_versioned_item(db: Session) -> None:
    await db.put(Account(owner="o", number=1, balance=Decimal(1)))
    with pytest.raises(ConditionFailed):
        await db.put(Account(owner="o", number=1, balance=Decimal(2)))
    stored = await db.get(Account, owner="o", number=1, consistent=True)
    assert stored.balance == Decimal(1)


async def test_optimistic_locking_race_between_two_sessions(
    db: Session, dynamodb_endpoint: str
) -> None:
    events: list[RequestEvent] = []
    await db.put(Account(owner="o", number=1))
    async with local_session(
        dynamodb_endpoint, table_prefix=db.table_prefix, on_request=events.append
    ) as other:
        mine = await db.get(Account, owner="o", number=1, consistent=True)
        theirs = await other.get(Account, owner="o", number=1, consistent=True)
        assert mine.version == theirs.version == 1
        mine.balance = Decimal("1.11")
        theirs.balance = Decimal("2.22")
        outcomes: dict[str, str] = {}

        async def write(name: str, session: Session, account: Account) -> None:
            try:
                await session.put(account)
            except ConditionFailed:
                outcomes[name] = "lost"
            else:
                outcomes[name] = "won"

        async with anyio.create_task_group() as tg:
            tg.start_soon(write, "mine", db, mine)
            tg.start_soon(write, "theirs", other, theirs)
    assert sorted(outcomes.values()) == ["lost", "won"]
    winner = mine if outcomes["mine"] == "won" else theirs
    stored = await db.get(Account, owner="o", number=1, consistent=True)
    assert stored.version == 2
    assert stored.balance == winner.balance
    assert [e.operation for e in events] == ["GetItem", "PutItem"]
