"""Write-side ValidationErrors against DynamoDB Local: each names the field path down to the
bad value and is raised before any request (a RecordingTransport shows nothing was sent), and
str(error) shortens a long key that DynamoDB's own failures carry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import msgspec
import pytest

from dynamorm_async import HashKey, ItemExists, Model, RangeKey, Session, ValidationError
from dynamorm_async.testing import RecordingTransport, local_transport

pytestmark = pytest.mark.timeout(60)


class Line(msgspec.Struct):
    sku: str
    qty: int


class Address(msgspec.Struct):
    city: str


class Shipment(Model, table="write_error_shipments"):
    sender: Annotated[str, HashKey()]
    number: Annotated[int, RangeKey()]
    ship_to: Address | None = None
    lines: list[Line] = msgspec.field(default_factory=list)
    note: str = ""


@pytest.fixture
async def db(dynamodb_session: Session) -> AsyncIterator[Session]:
    await dynamodb_session.create_table(Shipment)
    yield dynamodb_session


@pytest.fixture
async def recorded(
    db: Session, dynamodb_endpoint: str
) -> AsyncIterator[tuple[Session, RecordingTransport]]:
    transport = RecordingTransport(local_transport(dynamodb_endpoint))
    async with Session(transport=transport, table_prefix=db.table_prefix) as probe:
        yield probe, transport


def bad_lines() -> list[Line]:
    return [Line("a", 1), Line("b", 2), Line("c", "three")]  # type: ignore[arg-type]


async def put_nested(db: Session) -> object:
    return await db.put(Shipment(sender="s", number=1, ship_to=Address(city=3)))  # type: ignore[arg-type]


async def put_element(db: Session) -> object:
    return await db.put(Shipment(sender="s", number=1, lines=bad_lines()))


async def batch_element(db: Session) -> object:
    good = Shipment(sender="s", number=2)
    return await db.batch_put([good, Shipment(sender="s", number=1, lines=bad_lines())])


async def transaction_element(db: Session) -> object:
    async with db.transaction() as tx:
        tx.put(Shipment(sender="s", number=1, lines=bad_lines()))
    return None


async def update_element(db: Session) -> object:
    update = db.update(Shipment, sender="s", number=1)
    return await update.set(Shipment.lines[2].qty, "three")  # type: ignore[call-overload]


async def update_list(db: Session) -> object:
    return await db.update(Shipment, sender="s", number=1).set(Shipment.lines, bad_lines())


async def condition_operand(db: Session) -> object:
    shipment = Shipment(sender="s", number=1)
    return await db.put(shipment, condition=Shipment.ship_to.city == 3)


async def key_value(db: Session) -> object:
    return await db.get(Shipment, sender="s", number="one")


CASES: list[tuple[Callable[[Session], Awaitable[object]], str]] = [
    (put_nested, "Shipment.ship_to.city"),
    (put_element, "Shipment.lines[2].qty"),
    (batch_element, "Shipment.lines[2].qty"),
    (transaction_element, "Shipment.lines[2].qty"),
    (update_element, "Shipment.lines[2].qty"),
    (update_list, "Shipment.lines[2].qty"),
    (condition_operand, "Shipment.ship_to.city"),
    (key_value, "Shipment.number"),
]


@pytest.mark.parametrize(("write", "path"), CASES, ids=[case.__name__ for case, _ in CASES])
async def test_the_error_names_the_field_path_and_nothing_is_sent(
    recorded: tuple[Session, RecordingTransport],
    write: Callable[[Session], Awaitable[object]],
    path: str,
) -> None:
    db, transport = recorded
    with pytest.raises(ValidationError) as raised:
        await write(db)
    assert str(raised.value).startswith(f"{path}: expected ")
    assert raised.value.path == path
    assert raised.value.model is Shipment
    assert transport.requests == []


async def test_a_long_key_is_shortened_in_the_message_and_kept_whole_on_the_error(
    db: Session,
) -> None:
    sender = "s" * 1500
    await db.create(Shipment(sender=sender, number=1))
    with pytest.raises(ItemExists) as raised:
        await db.create(Shipment(sender=sender, number=1))
    text = str(raised.value)
    assert "s" * 100 not in text
    assert "key={'sender': 'sss" in text and "'number': 1}" in text
    assert raised.value.key == {"sender": sender, "number": 1}
    stored: Any = raised.value.item
    assert stored.sender == sender
