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


class Account(Model, table="accounts"):
    owner: Annotated[str, HashKey()]
    name: Annotated[str, RangeKey()]
    balance: Decimal = Decimal(0)
    status: str = "open"
    version: Annotated[int, Version()] = 0


@pytest.fixture
async def db(dynamodb_session: Session) -> Session:
    await dynamodb_session.create_table(Account)
    return dynamodb_session


async def test_stale_put_shows_the_stored_version(db: Session) -> None:
    stored = await db.put(Account(owner="o", name="main", balance=Decimal("10")))
    stale = msgspec.structs.replace(stored, balance=Decimal("99"))
    await db.put(stored)  # moves the stored item to version 2
    with pytest.raises(ConditionFailed) as caught:
        await db.put(stale)
    current = caught.value.item
    assert isinstance(current, Account)
    assert (current.version, current.balance) == (2, Decimal("10"))


async def test_create_of_an_existing_key_shows_the_existing_item(db: Session) -> None:
    await db.create(Account(owner="o", name="main", status="frozen"))
    with pytest.raises(ItemExists) as caught:
        await db.create(Account(owner="o", name="main"))
    assert isinstance(caught.value.item, Account) and caught.value.item.status == "frozen"


async def test_conditional_delete_and_update_show_the_stored_item(db: Session) -> None:
    await db.put(Account(owner="o", name="main", status="frozen"))
    with pytest.raises(ConditionFailed) as deleting:
        await db.delete(Account, owner="o", name="main", condition=Account.status == "open")
    assert isinstance(deleting.value.item, Account) and deleting.value.item.status == "frozen"
    with pytest.raises(ConditionFailed) as updating:
        await (
            db.update(Account, owner="o", name="main")
            .set(Account.balance, Decimal(5))
            .condition(Account.status == "open")
            .execute()
        )
    assert isinstance(updating.value.item, Account) and updating.value.item.balance == 0


async def test_a_failed_condition_on_a_missing_item_has_no_item(db: Session) -> None:
    with pytest.raises(ConditionFailed) as caught:
        await db.delete(Account, owner="o", name="none", condition=Account.status == "open")
    assert caught.value.item is None


async def test_transactions_still_report_their_reasons(db: Session) -> None:
    await db.put(Account(owner="o", name="main", status="frozen"))
    with pytest.raises(TransactionCanceled) as caught:
        async with db.transaction() as tx:
            tx.condition_check(Account, owner="o", name="main", condition=Account.status == "open")
            tx.put(Account(owner="o", name="other"))
    (reason,) = caught.value.failed_reasons
    assert reason.index == 0 and reason.code == "ConditionalCheckFailed"
    assert await db.get_or_none(Account, owner="o", name="other") is None
