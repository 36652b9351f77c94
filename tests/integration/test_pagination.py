"""Cursor pagination against DynamoDB Local: both directions on the table, a GSI and an LSI,
with filters and projections; exact first/last pages; limits; and cursors that are tampered,
truncated, foreign or oversized, rejected before any request."""

from __future__ import annotations

import base64
import string
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
import pytest

from dynamorm_async import (
    GlobalIndex,
    HashKey,
    InvalidCursor,
    LocalIndex,
    Model,
    Page,
    RangeKey,
    RequestEvent,
    Session,
)
from dynamorm_async.testing import local_session

pytestmark = pytest.mark.timeout(120)


class Post(Model, table="posts"):
    author: Annotated[str, HashKey()]
    slug: Annotated[str, RangeKey()]
    topic: str = "misc"
    votes: int = 0
    words: int = 0
    body: bytes = b""

    __indexes__ = (
        GlobalIndex("by_topic", hash_key="topic", range_key="votes"),
        LocalIndex("by_words", range_key="words"),
    )


class Title(msgspec.Struct):
    slug: str
    votes: int


POSTS = [
    Post(
        author="ann" if n < 30 else "bob",
        slug=f"s{n:03}",
        topic=("db", "py", "go")[n % 3],
        votes=(n * 11) % 17,  # ties on the GSI and LSI range keys
        words=(n * 5) % 9,
        body=bytes([n]) * (n % 5),
    )
    for n in range(40)
]


class Sessions(msgspec.Struct):
    db: Session
    counted: Session
    events: list[RequestEvent]


@pytest.fixture(scope="module")
async def loaded(dynamodb_endpoint: str) -> AsyncIterator[Sessions]:
    prefix = f"q{uuid.uuid4().hex[:10]}_"
    events: list[RequestEvent] = []
    async with (
        local_session(dynamodb_endpoint, table_prefix=prefix, cursor_secret=b"k" * 32) as db,
        local_session(
            dynamodb_endpoint, table_prefix=prefix, cursor_secret=b"k" * 32,
            on_request=events.append,
        ) as counted,
    ):
        await db.create_table(Post)
        try:
            await db.batch_put(POSTS)
            yield Sessions(db, counted, events)
        finally:
            await db.delete_table(Post, wait=False)


@pytest.fixture
def db(loaded: Sessions) -> Session:
    return loaded.db


@pytest.fixture
def counted(loaded: Sessions) -> tuple[Session, list[RequestEvent]]:
    loaded.events.clear()
    return loaded.counted, loaded.events


async def walk_forward(q: Any, size: int) -> list[Page[Any]]:
    return [page async for page in q.pages(size)]


async def walk_back(q: Any, size: int, last: Page[Any]) -> list[Page[Any]]:
    pages = [last]
    while pages[-1].prev_cursor is not None:
        pages.append(await q.page(size, pages[-1].prev_cursor))
    return pages


QUERIES = {
    "table": lambda db: db.query(Post).where(Post.author == "ann"),
    "table-reverse": lambda db: db.query(Post).where(Post.author == "ann").reverse(),
    "gsi": lambda db: db.query(Post).where(Post.topic == "db", Post.votes >= 0),
    "gsi-reverse-filter": lambda db: db.query(Post)
    .where(Post.topic == "py", Post.votes >= 0)
    .filter(Post.words > 2)
    .reverse(),
    "lsi-filter": lambda db: db.query(Post).where(Post.author == "ann", Post.words < 8).filter(
        Post.votes.between(3, 14)
    ),
    "lsi-select": lambda db: db.query(Post)
    .where(Post.author == "ann", Post.words >= 0)
    .select(Post.votes, Post.body),
    "struct": lambda db: db.query(Post).where(Post.author == "ann").select(Title),
}


@pytest.mark.parametrize("size", [1, 4, 7])
@pytest.mark.parametrize("name", list(QUERIES))
async def test_pages_forward_and_back(db: Session, name: str, size: int) -> None:
    q = QUERIES[name](db)
    everything = await q.all()
    assert len(everything) > size
    forward = await walk_forward(q, size)
    assert [item for page in forward for item in page.items] == everything
    assert [len(p.items) for p in forward[:-1]] == [size] * (len(forward) - 1)
    assert 0 < len(forward[-1].items) <= size
    assert forward[0].prev_cursor is None and forward[-1].next_cursor is None
    assert all(p.next_cursor and p.prev_cursor for p in forward[1:-1])
    back = await walk_back(q, size, forward[-1])
    assert [p.items for p in back] == [p.items for p in reversed(forward)]
    assert back[-1].prev_cursor is None


async def test_projected_pages_drop_unselected_keys(db: Session) -> None:
    page = await QUERIES["lsi-select"](db).page(3)
    assert all(set(row) <= {"votes", "body"} for row in page.items)
    assert isinstance(page.items[0]["body"], bytes)


async def test_exactly_full_last_page_has_no_next_cursor(
    counted: tuple[Session, list[RequestEvent]],
) -> None:
    session, events = counted
    q = session.query(Post).where(Post.author == "bob")  # 10 posts
    first = await q.page(5)
    assert len(first.items) == 5 and first.next_cursor is not None
    last = await q.page(5, first.next_cursor)
    assert len(last.items) == 5 and last.next_cursor is None
    whole = await q.page(10)
    assert len(whole.items) == 10 and whole.next_cursor is None and whole.prev_cursor is None
    assert all(e.operation == "Query" for e in events)


async def test_cursor_resumes_from_the_last_item_returned(db: Session) -> None:
    # page_size 3 means DynamoDB stops mid-page; the cursor still follows the last item.
    q = db.query(Post).where(Post.author == "ann").filter(Post.topic == "go").page_size(3)
    want = [p for p in POSTS if p.author == "ann" and p.topic == "go"]
    pages = await walk_forward(q, 4)
    assert [p for page in pages for p in page.items] == want


async def test_limit_ends_the_walk_in_both_directions(db: Session) -> None:
    q = db.query(Post).where(Post.author == "ann").limit(10)
    forward = await walk_forward(q, 4)
    assert [len(p.items) for p in forward] == [4, 4, 2]
    assert [p for page in forward for p in page.items] == await q.all()
    back = await walk_back(q, 4, forward[-1])
    assert [p.items for p in back] == [p.items for p in reversed(forward)]
    assert [len(p.items) for p in await walk_forward(q, 10)] == [10]


async def test_pages_on_an_empty_result(db: Session) -> None:
    page = await db.query(Post).where(Post.author == "nobody").page(5)
    assert page == Page([], None, None)


# --- cursors that must be refused ----------------------------------------------------------


def flips(token: str) -> list[str]:
    """Every single-character substitution of a token."""
    alphabet = string.ascii_letters + string.digits + "-_"
    return [
        token[:i] + c + token[i + 1:] for i in range(len(token)) for c in alphabet if c != token[i]
    ]


def bit_flips(token: str) -> list[str]:
    """Every single-bit flip of the token's bytes, re-encoded."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    out = []
    for i in range(len(raw)):
        for bit in range(8):
            flipped = raw[:i] + bytes([raw[i] ^ (1 << bit)]) + raw[i + 1:]
            out.append(base64.urlsafe_b64encode(flipped).rstrip(b"=").decode())
    return out


async def test_every_tampered_cursor_is_rejected_without_a_request(
    counted: tuple[Session, list[RequestEvent]],
) -> None:
    session, events = counted
    q = session.query(Post).where(Post.author == "ann").filter(Post.votes > 2)
    page = await q.page(3)
    assert page.next_cursor is not None
    second = await q.page(3, page.next_cursor)
    assert second.prev_cursor is not None
    events.clear()
    for token in (page.next_cursor, second.prev_cursor):
        candidates = flips(token) + bit_flips(token)
        for bad in candidates:
            with pytest.raises(InvalidCursor):
                await q.page(3, bad)
        for cut in range(len(token)):
            with pytest.raises(InvalidCursor):
                await q.page(3, token[:cut])
        with pytest.raises(InvalidCursor):
            await q.page(3, token + "A")
    with pytest.raises(InvalidCursor):
        await q.page(3, "A" * 5000)
    with pytest.raises(InvalidCursor):
        await q.page(3, page.next_cursor + "=")
    assert events == []


async def test_foreign_cursors_are_rejected_without_a_request(
    dynamodb_endpoint: str, counted: tuple[Session, list[RequestEvent]]
) -> None:
    session, events = counted
    base = session.query(Post).where(Post.author == "ann")
    token = (await base.page(3)).next_cursor
    assert token is not None
    events.clear()
    others = [
        base.filter(Post.votes > 1),
        base.reverse(),
        base.limit(20),
        base.select(Post.votes),
        base.consistent(),
        session.query(Post).where(Post.author == "bob"),
        session.query(Post).where(Post.author == "ann", Post.slug > "s"),
        session.query(Post).index("by_words").where(Post.author == "ann"),
        session.scan(Post),
    ]
    for other in others:
        with pytest.raises(InvalidCursor):
            await other.page(3, token)
    assert events == []
    # Same query, another secret or another table prefix.
    async with (
        local_session(dynamodb_endpoint, table_prefix=session.table_prefix) as random_secret,
        local_session(
            dynamodb_endpoint, table_prefix="other_", cursor_secret=b"k" * 32
        ) as other_table,
    ):
        for s in (random_secret, other_table):
            with pytest.raises(InvalidCursor):
                await s.query(Post).where(Post.author == "ann").page(3, token)
    # The same query from a Session with the same secret accepts it.
    again = await session.query(Post).where(Post.author == "ann").page(3, token)
    assert [p.slug for p in again.items] == ["s003", "s004", "s005"]
