"""Concurrent updates against DynamoDB Local: atomic increments lose nothing, and versioned
read-modify-write loops that retry on ConditionFailed lose no update."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

import anyio
import msgspec
import pytest

from dynamorm_async import ConditionFailed, HashKey, Model, Session, Version
from tests.models import Counter

pytestmark = pytest.mark.timeout(120)


class Ledger(Model, table="ledgers"):
    name: Annotated[str, HashKey()]
    total: int = 0
    writers: list[str] = msgspec.field(default_factory=list)
    version: Annotated[int, Version()] = 0


@pytest.fixture
async def db(dynamodb_session: Session) -> AsyncIterator[Session]:
    await dynamodb_session.create_table(Counter)
    await dynamodb_session.create_table(Ledger)
    yield dynamodb_session


async def test_fifty_concurrent_increments(db: Session) -> None:
    await db.put(Counter(name="c", hits=7))
    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(db.update(Counter, name="c").increment(Counter.hits).execute)
    assert (await db.get(Counter, name="c", consistent=True)).hits == 57


async def test_concurrent_increments_of_a_new_item(db: Session) -> None:
    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(db.update(Counter, name="fresh").increment(Counter.hits, 2).execute)
    assert (await db.get(Counter, name="fresh", consistent=True)).hits == 40


Write = Callable[[Session, Ledger, str], Awaitable[object]]


async def write_with_update(db: Session, ledger: Ledger, writer: str) -> None:
    # The new values are computed client-side: only the version check keeps them correct.
    await (
        db.update(ledger)
        .set(Ledger.total, ledger.total + 1)
        .set(Ledger.writers, [*ledger.writers, writer])
    )


async def write_with_put(db: Session, ledger: Ledger, writer: str) -> object:
    ledger.total += 1
    ledger.writers.append(writer)
    return await db.put(ledger)


@pytest.mark.parametrize("write", [write_with_update, write_with_put], ids=["update", "put"])
async def test_twenty_versioned_read_modify_write_loops(db: Session, write: Write) -> None:
    await db.put(Ledger(name="l"))
    conflicts = 0

    async def worker(index: int) -> None:
        nonlocal conflicts
        while True:
            ledger = await db.get(Ledger, name="l", consistent=True)
            try:
                await write(db, ledger, f"w{index}")
            except ConditionFailed:
                conflicts += 1
                continue
            return

    async with anyio.create_task_group() as tg:
        for index in range(20):
            tg.start_soon(worker, index)
    final = await db.get(Ledger, name="l", consistent=True)
    assert final.total == 20
    assert sorted(final.writers) == sorted(f"w{i}" for i in range(20))
    assert final.version == 21
    assert conflicts > 0  # the loops really raced
