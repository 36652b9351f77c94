"""Keys are compared the way DynamoDB compares them (against DynamoDB Local).

DynamoDB normalises numbers: ``{"N": "1.0"}`` and ``{"N": "1"}`` name the same item. A
transaction that reaches one item twice through two spellings must be rejected by the library
before any request (DynamoDB would reject the whole request), and keys that differ only in
their 38th digit are different items everywhere (transactions and batches).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Annotated

import pytest

from dynamorm_async import (
    DynamormError,
    HashKey,
    Model,
    RangeKey,
    RequestEvent,
    Session,
    ValidationError,
)
from dynamorm_async.testing import local_session

pytestmark = pytest.mark.timeout(60)


class Probe(Model, table="readings"):
    """A number hash key, which DynamoDB renders in its own form."""

    sensor: Annotated[Decimal, HashKey()]
    at: Annotated[int, RangeKey()]
    value: str = ""


class Sent(list[str]):
    """The operations a Session sent, recorded through its ``on_request`` hook."""

    def __call__(self, event: RequestEvent) -> None:
        self.append(event.operation)


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
async def db(
    dynamodb_session: Session, dynamodb_endpoint: str, sent: Sent
) -> AsyncIterator[Session]:
    """A Session on a fresh table whose requests are recorded in ``sent``."""
    await dynamodb_session.create_table(Probe)
    prefix = dynamodb_session.table_prefix
    async with local_session(dynamodb_endpoint, table_prefix=prefix, on_request=sent) as session:
        yield session


async def stored(db: Session) -> list[Probe]:
    return sorted(await db.scan(Probe).consistent().all(), key=lambda r: (r.sensor, r.at))


async def test_two_spellings_of_one_number_key_are_one_item_in_a_transaction(
    db: Session, sent: Sent
) -> None:
    before = await db.put(Probe(sensor=Decimal(1), at=7, value="kept"))
    sent.clear()

    with pytest.raises(ValidationError, match="targets the same item as action 0") as caught:
        async with db.transaction() as tx:
            tx.put(Probe(sensor=Decimal("1.0"), at=7, value="new"))
            tx.delete(Probe, sensor=Decimal("1"), at=7)
    assert caught.value.key == {"sensor": 1, "at": 7}
    assert sent == []  # rejected before any request
    assert await stored(db) == [before]  # the table is unchanged


async def test_the_same_key_spelled_differently_is_one_item_in_transact_get(
    db: Session, sent: Sent
) -> None:
    with pytest.raises(ValidationError, match="repeats action 0"):
        await db.transact_get(
            [(Probe, {"sensor": Decimal("2.50"), "at": 1}), (Probe, {"sensor": 2.5, "at": 1})]
        )
    assert sent == []


async def test_dynamodb_itself_treats_the_spellings_as_one_item(db: Session, sent: Sent) -> None:
    """The rule the library applies is DynamoDB's: sent raw, the same pair is refused."""
    table = db.table_name(Probe)
    key_a = {"sensor": {"N": "1.0"}, "at": {"N": "7"}}
    key_b = {"sensor": {"N": "1"}, "at": {"N": "7"}}
    request = {
        "TransactItems": [
            {"Put": {"TableName": table, "Item": {**key_a, "value": {"S": "new"}}}},
            {"Delete": {"TableName": table, "Key": key_b}},
        ]
    }
    with pytest.raises(DynamormError, match="multiple operations on one item"):
        await db.call("TransactWriteItems", request, table=table)
    assert sent == ["TransactWriteItems"]
    assert await stored(db) == []


async def test_keys_differing_in_the_38th_digit_are_different_items(db: Session) -> None:
    low = Decimal("1.000000000000000000000000000000000001")  # 38 significant digits
    high = Decimal("1.000000000000000000000000000000000002")
    async with db.transaction() as tx:
        tx.put(Probe(sensor=low, at=1, value="tx-low"))
        tx.put(Probe(sensor=high, at=1, value="tx-high"))
    result = await db.batch_put(
        [
            Probe(sensor=low, at=2, value="batch-low"),
            Probe(sensor=high, at=2, value="batch-high"),
        ]
    )
    assert result.ok
    assert [(r.sensor, r.at, r.value) for r in await stored(db)] == [
        (low, 1, "tx-low"),
        (low, 2, "batch-low"),
        (high, 1, "tx-high"),
        (high, 2, "batch-high"),
    ]
