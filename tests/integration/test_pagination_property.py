"""Property: on random data, page sizes, filters, directions and limits, walking forward through
all pages yields exactly ``all()`` in order (no duplicates, none missing), and walking back from
the last page yields the same pages reversed."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamorm_async import GlobalIndex, HashKey, LocalIndex, Model, RangeKey, Session
from dynamorm_async.testing import local_session

pytestmark = pytest.mark.timeout(240)


class Note(Model, table="notes"):
    owner: Annotated[str, HashKey()]
    key: Annotated[str, RangeKey()]
    color: str = "red"
    score: int = 0
    weight: int = 0
    tag: str | None = None
    mood: int = 0

    __indexes__ = (
        GlobalIndex("by_color", hash_key="color", range_key="score"),
        LocalIndex("by_weight", range_key="weight"),
    )


def random_notes(seed: int, count: int) -> list[Note]:
    rng = random.Random(seed)
    keys = rng.sample(range(10_000), count)
    return [
        Note(
            owner=rng.choice(["u1", "u1", "u2"]),
            key=f"k{k:05}",
            color=rng.choice(["red", "blue"]),
            score=rng.randrange(12),  # small ranges: many ties on the index range keys
            weight=rng.randrange(8),
            tag=rng.choice([None, "a", "b"]),
            mood=rng.randrange(6),
        )
        for k in keys
    ]


NOTES = random_notes(seed=20250101, count=90)


@pytest.fixture(scope="module")
async def db(dynamodb_endpoint: str) -> AsyncIterator[Session]:
    """A fresh table with the random data set, loaded once for every example."""
    async with local_session(dynamodb_endpoint, table_prefix=f"h{uuid.uuid4().hex[:10]}_") as s:
        await s.create_table(Note)
        try:
            await s.batch_put(NOTES)
            yield s
        finally:
            await s.delete_table(Note, wait=False)


TARGETS = {
    "table": lambda db: db.query(Note).where(Note.owner == "u1"),
    "table-range": lambda db: db.query(Note).where(Note.owner == "u1", Note.key > "k03000"),
    "gsi": lambda db: db.query(Note).where(Note.color == "blue", Note.score >= 0),
    "lsi": lambda db: db.query(Note).where(Note.owner == "u1", Note.weight.between(1, 6)),
}
FILTERS = {
    "none": None,
    "tag": lambda: Note.tag == "a",
    "no-tag": lambda: Note.tag.not_exists(),
    "either": lambda: (Note.mood > 3) | (Note.tag == "b"),
    "nothing": lambda: Note.tag == "zzz",
}


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    target=st.sampled_from(sorted(TARGETS)),
    flt=st.sampled_from(sorted(FILTERS)),
    reverse=st.booleans(),
    size=st.integers(1, 9),
    limit=st.none() | st.integers(1, 40),
    page_size=st.none() | st.integers(1, 6),
)
async def test_pages_walk_forward_and_back(
    db: Session,
    target: str,
    flt: str,
    reverse: bool,
    size: int,
    limit: int | None,
    page_size: int | None,
) -> None:
    q: Any = TARGETS[target](db)
    make_filter = FILTERS[flt]
    if make_filter is not None:
        q = q.filter(make_filter())
    if reverse:
        q = q.reverse()
    if limit is not None:
        q = q.limit(limit)
    if page_size is not None:
        q = q.page_size(page_size)
    everything = await q.all()

    forward = [page async for page in q.pages(size)]
    walked = [item for page in forward for item in page.items]
    assert walked == everything
    keys = [(n.owner, n.key) for n in walked]
    assert len(set(keys)) == len(keys)
    assert forward[0].prev_cursor is None
    assert forward[-1].next_cursor is None
    if everything:
        assert all(len(p.items) == size for p in forward[:-1])
        assert 0 < len(forward[-1].items) <= size
    else:
        assert [p.items for p in forward] == [[]]

    back = [forward[-1]]
    while back[-1].prev_cursor is not None:
        back.append(await q.page(size, back[-1].prev_cursor))
        assert len(back) <= len(forward)
    assert [p.items for p in back] == [p.items for p in reversed(forward)]
