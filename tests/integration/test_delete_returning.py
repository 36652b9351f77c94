"""``delete(..., returning="ALL_OLD")`` and ``batch_get`` of instances, against DynamoDB Local.

A service answers 404 for a delete of a missing item from the deleted item it gets back, with
no condition and no read before the delete.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Annotated

import pytest

from dynamorm_async import (
    ConditionFailed,
    HashKey,
    Model,
    RangeKey,
    Session,
    ValidationError,
    Version,
)
from dynamorm_async.testing import RecordingTransport, local_transport

pytestmark = pytest.mark.timeout(60)


class Ticket(Model, table="delete_returning_tickets"):
    board: Annotated[str, HashKey()]
    number: Annotated[int, RangeKey()]
    title: str = ""
    price: Decimal = Decimal(0)
    closed_at: datetime | None = None
    version: Annotated[int, Version()] = 0


@pytest.fixture
async def db(dynamodb_session: Session) -> AsyncIterator[Session]:
    await dynamodb_session.create_table(Ticket)
    yield dynamodb_session


async def test_delete_by_key_returns_the_deleted_item_then_none(db: Session) -> None:
    stored = await db.put(Ticket(board="b", number=1, title="first", price=Decimal("2.50")))
    gone = await db.delete(Ticket, board="b", number=1, returning="ALL_OLD")
    assert gone == stored
    assert isinstance(gone, Ticket)
    assert await db.get_or_none(Ticket, board="b", number=1) is None
    # Nothing there any more: None, which a service turns into a 404.
    assert await db.delete(Ticket, board="b", number=1, returning="ALL_OLD") is None


async def test_delete_of_an_instance_returns_the_stored_item_with_its_version_check(
    db: Session,
) -> None:
    ticket = await db.put(Ticket(board="b", number=2, title="mine"))
    stale = Ticket(board="b", number=2, title="old copy", version=0)
    with pytest.raises(ConditionFailed) as failed:
        await db.delete(stale, returning="ALL_OLD")
    assert failed.value.item == ticket
    gone = await db.delete(ticket, returning="ALL_OLD")
    assert gone == ticket
    assert gone is not ticket


async def test_returning_none_and_the_default_send_no_return_values(
    db: Session, dynamodb_endpoint: str
) -> None:
    transport = RecordingTransport(local_transport(dynamodb_endpoint))
    async with Session(transport=transport, table_prefix=db.table_prefix) as probe:
        await probe.put(Ticket(board="b", number=3))
        assert await probe.delete(Ticket, board="b", number=3) is None
        assert await probe.delete(Ticket, board="b", number=3, returning="NONE") is None
        assert await probe.delete(Ticket, board="b", number=3, returning="ALL_OLD") is None
    sent = transport.payloads("DeleteItem")
    assert ["ReturnValues" in payload for payload in sent] == [False, False, True]
    assert sent[2]["ReturnValues"] == "ALL_OLD"


async def test_an_unknown_returning_mode_is_refused_before_any_request(
    db: Session, dynamodb_endpoint: str
) -> None:
    transport = RecordingTransport(local_transport(dynamodb_endpoint))
    async with Session(transport=transport, table_prefix=db.table_prefix) as probe:
        with pytest.raises(ValidationError, match="takes 'NONE' or 'ALL_OLD'"):
            await probe.delete(Ticket, board="b", number=4, returning="ALL_NEW")  # type: ignore[call-overload]
    assert transport.requests == []


async def test_batch_get_takes_instances_and_key_mappings_alike(db: Session) -> None:
    stored = [await db.put(Ticket(board="b", number=n, title=f"t{n}")) for n in range(5)]
    probes = [Ticket(board="b", number=n, title="ignored") for n in (4, 0)]
    found = await db.batch_get(Ticket, [*probes, {"board": "b", "number": 2}, probes[0]])
    assert found == [stored[4], stored[0], stored[2]]
    missing = await db.batch_get(Ticket, [Ticket(board="b", number=99)])
    assert missing == []


async def test_batch_get_refuses_another_models_instance_or_a_bare_value(db: Session) -> None:
    class Elsewhere(Model, table="delete_returning_elsewhere"):
        board: Annotated[str, HashKey()]
        number: Annotated[int, RangeKey()]

    with pytest.raises(ValidationError, match="expected a Ticket instance, got Elsewhere"):
        await db.batch_get(Ticket, [Elsewhere(board="b", number=1)])
    with pytest.raises(ValidationError, match="takes instances or key mappings"):
        await db.batch_get(Ticket, ["b"])  # type: ignore[list-item]
