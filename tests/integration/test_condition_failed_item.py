"""A failed condition carries the item as stored, decoded into the model."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec
import pytest

from dynamorm_async import (
    ConditionFailed,
    HashKey,
    ItemExists,
    Model,
    RangeKey,
    Session,
    TransactionCanceled,
    Version,
)


class Wallet(Model, table="accounts"):
    """A string range key, a status to condition on and a Version."""

    owner: Annotated[str, HashKey()]
    name: Annotated[str, RangeKey()]
    balance: Decimal = Decimal(0)
    status: str = "open"
    version: Annotated[int, Version()] = 0


@pytest.fixture
async def db(dynamodb_session: Session) -> Session:
    await dynamodb_session.create_table(Wallet)
    return dynamodb_session


async def test_stale_put_shows_the_stored_version(db: Session) -> None:
    stored = await db.put(Wallet(owner="o", name="main", balance=Decimal("10")))
    stale = msgspec.structs.replace(stored, balance=Decimal("99"))
    await db.put(stored)  # moves the stored item to version 2
    with pytest.raises(ConditionFailed) as caught:
        await db.put(stale)
    current = caught.value.item
    assert isinstance(current, Wallet)
    assert (current.version, current.balance) == (2, Decimal("10"))


async def test_create_of_an_existing_key_shows_the_existing_item(db: Session) -> None:
    await db.create(Wallet(owner="o", name="main", status="frozen"))
    with pytest.raises(ItemExists) as caught:
        await db.create(Wallet(owner="o", name="main"))
    assert isinstance(caught.value.item, Wallet) and caught.value.item.status == "frozen"


async def test_conditional_delete_and_update_show_the_stored_item(db: Session) -> None:
    await db.put(Wallet(owner="o", name="main", status="frozen"))
    with pytest.raises(ConditionFailed) as deleting:
        await db.delete(Wallet, owner="o", name="main", condition=Wallet.status == "open")
    assert isinstance(deleting.value.item, Wallet) and deleting.value.item.status == "frozen"
    with pytest.raises(ConditionFailed) as updating:
        await (
            db.update(Wallet, owner="o", name="main")
            .set(Wallet.balance, Decimal(5))
            .condition(Wallet.status == "open")
            .execute()
        )
    assert isinstance(updating.value.item, Wallet) and updating.value.item.balance == 0


async def test_a_failed_condition_on_a_missing_item_has_no_item(db: Session) -> None:
    with pytest.raises(ConditionFailed) as caught:
        await db.delete(Wallet, owner="o", name="none", condition=Wallet.status == "open")
    assert caught.value.item is None


async def test_transactions_still_report_their_reasons(db: Session) -> None:
    await db.put(Wallet(owner="o", name="main", status="frozen"))
    with pytest.raises(TransactionCanceled) as caught:
        async with db.transaction() as tx:
            tx.condition_check(Wallet, owner="o", name="main", condition=Wallet.status == "open")
            tx.put(Wallet(owner="o", name="other"))
    (reason,) = caught.value.failed_reasons
    assert reason.index == 0 and reason.code == "ConditionalCheckFailed"
    assert await db.get_or_none(Wallet, owner="o", name="other") is None
