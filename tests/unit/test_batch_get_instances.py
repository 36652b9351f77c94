"""``batch_get`` names items by instance as ``batch_delete`` does, and reports unread keys as the
objects it was given (no server: a transport answers from a dict)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import pytest

from dynamorm_async import BatchGetError, HashKey, Model, RangeKey, Session
from dynamorm_async._batch.retry import RetryPolicy

pytestmark = pytest.mark.timeout(30)


class Card(Model, table="cards"):
    deck: Annotated[str, HashKey()]
    rank: Annotated[int, RangeKey()]
    face: str = ""


class Stored:
    """Answers BatchGetItem from ``items``; keys listed in ``unread`` come back unprocessed."""

    def __init__(self, items: list[Card], unread: set[int]) -> None:
        self.items = {card.rank: card.to_dynamodb() for card in items}
        self.unread = unread
        self.asked: list[dict[str, Any]] = []

    async def open(self) -> None: ...

    async def aclose(self) -> None: ...

    async def call(
        self,
        operation: str,
        payload: dict[str, Any],
        *,
        table: str | None = None,
        key: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        ((name, request),) = payload["RequestItems"].items()
        self.asked.extend(request["Keys"])
        found, left = [], []
        for wire in request["Keys"]:
            rank = int(wire["rank"]["N"])
            if rank in self.unread:
                left.append(wire)
            elif rank in self.items:
                found.append(self.items[rank])
        answer: dict[str, Any] = {"Responses": {name: found}}
        if left:
            answer["UnprocessedKeys"] = {name: {"Keys": left}}
        return answer


def session(transport: Stored) -> Session:
    return Session(transport=transport, batch_retry=RetryPolicy(max_attempts=1))


async def test_instances_and_mappings_read_the_same_keys() -> None:
    cards = [Card(deck="d", rank=n, face=f"f{n}") for n in range(3)]
    transport = Stored(cards, unread=set())
    async with session(transport) as db:
        asked = [Card(deck="d", rank=2), {"deck": "d", "rank": 0}, Card(deck="d", rank=7)]
        found = await db.batch_get(Card, asked)
    assert found == [cards[2], cards[0]]
    assert transport.asked == [
        {"deck": {"S": "d"}, "rank": {"N": "2"}},
        {"deck": {"S": "d"}, "rank": {"N": "0"}},
        {"deck": {"S": "d"}, "rank": {"N": "7"}},
    ]


async def test_unread_keys_come_back_as_the_objects_passed() -> None:
    cards = [Card(deck="d", rank=n) for n in range(3)]
    probe = Card(deck="d", rank=1, face="the caller's own")
    async with session(Stored(cards, unread={1, 2})) as db:
        with pytest.raises(BatchGetError) as raised:
            await db.batch_get(Card, [Card(deck="d", rank=0), probe, {"deck": "d", "rank": 2}])
    assert raised.value.unprocessed == [probe, {"deck": "d", "rank": 2}]
    assert raised.value.unprocessed[0] is probe
    assert raised.value.found == [cards[0]]
