"""What a confirmed write gives the caller's instance, on every write path.

The rule (``dynamorm_async._write.semantics.apply_confirmed``): the new version and timestamps
reach a mutable instance in place once DynamoDB confirmed the write; a frozen instance is
never changed, ``put``/``create`` return an updated copy of it, and after a batch or a
transaction its owner re-reads the item. Each test checks both what the caller's object holds
afterwards and what is stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

import pytest

from dynamorm_async import (
    ConditionFailed,
    CreatedAt,
    HashKey,
    Model,
    Session,
    TransactionCanceled,
    UpdatedAt,
    Version,
)

pytestmark = pytest.mark.timeout(60)


class Note(Model, table="notes"):
    pk: Annotated[str, HashKey()]
    text: str = ""
    version: Annotated[int, Version()] = 0
    created_at: Annotated[datetime | None, CreatedAt()] = None
    updated_at: Annotated[datetime | None, UpdatedAt()] = None


class Pinned(Model, table="pinned", frozen=True):
    pk: Annotated[str, HashKey()]
    text: str = ""
    version: Annotated[int, Version()] = 0
    created_at: Annotated[datetime | None, CreatedAt()] = None
    updated_at: Annotated[datetime | None, UpdatedAt()] = None


WRITES = ["put", "create", "batch_put", "batch_writer", "transaction put", "transaction create"]


async def write(db: Session, how: str, obj: Model) -> Model | None:
    """Write ``obj`` one way; what the call returns (None where it returns no instance)."""
    if how == "put":
        return await db.put(obj)
    if how == "create":
        return await db.create(obj)
    if how == "batch_put":
        await db.batch_put([obj])
    elif how == "batch_writer":
        async with db.batch_writer() as writer:
            writer.put(obj)
    elif how == "transaction create":
        async with db.transaction() as tx:
            tx.create(obj)
    else:
        async with db.transaction() as tx:
            tx.put(obj)
    return None


@pytest.fixture
async def db(dynamodb_session: Session) -> AsyncIterator[Session]:
    await dynamodb_session.create_table(Note)
    await dynamodb_session.create_table(Pinned)
    yield dynamodb_session


@pytest.mark.parametrize("how", WRITES)
async def test_a_mutable_instance_takes_the_confirmed_values_in_place(
    db: Session, how: str
) -> None:
    note = Note(pk=how, text="hello")
    returned = await write(db, how, note)
    assert returned is None or returned is note
    assert note.version == 1
    assert note.created_at is not None
    assert note.updated_at == note.created_at
    assert await db.get(Note, pk=how, consistent=True) == note
    # The instance holds the stored version, so the next conditional put goes through.
    note.text = "again"
    await db.put(note)
    assert (await db.get(Note, pk=how, consistent=True)).version == note.version == 2


@pytest.mark.parametrize("how", WRITES)
async def test_a_frozen_instance_is_never_changed(db: Session, how: str) -> None:
    pinned = Pinned(pk=how, text="hello")
    returned = await write(db, how, pinned)
    assert pinned == Pinned(pk=how, text="hello"), "no version, no timestamps"
    stored = await db.get(Pinned, pk=how, consistent=True)
    assert stored.version == 1
    assert stored.created_at is not None
    if how in ("put", "create"):
        assert returned == stored
        assert returned is not pinned
    else:
        assert returned is None
    # The old instance still holds version 0 and now loses its check; the stored one writes.
    with pytest.raises(ConditionFailed):
        await db.put(pinned)
    assert (await db.put(stored)).version == 2


@pytest.mark.parametrize("model", [Note, Pinned])
async def test_a_failed_write_changes_no_instance(db: Session, model: type[Note | Pinned]) -> None:
    await db.put(model(pk="taken"))
    late = model(pk="taken", text="late")
    with pytest.raises(ConditionFailed):
        await db.create(late)
    with pytest.raises(TransactionCanceled):
        async with db.transaction() as tx:
            tx.put(late)
    assert (late.version, late.created_at, late.updated_at) == (0, None, None)
    assert (await db.get(model, pk="taken", consistent=True)).text == ""


@pytest.mark.parametrize("model", [Note, Pinned])
async def test_an_update_from_an_instance_leaves_the_instance_as_it_was(
    db: Session, model: type[Note | Pinned]
) -> None:
    obj = await db.put(model(pk="u"))
    await db.update(obj).set(model.text, "changed")
    assert (obj.version, obj.text) == (1, "")
    stored = await db.get(model, pk="u", consistent=True)
    assert (stored.version, stored.text) == (2, "changed")
