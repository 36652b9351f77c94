"""Pagers and read sources: pages as ``(items, last_key)``, segments resumed from their keys.

A scripted execution context stands in for DynamoDB: it answers Scan requests from an
in-memory table the way DynamoDB pages (``Limit``, ``ExclusiveStartKey``, ``Segment``), and
records every request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import pytest

from dynamorm_async import Count, HashKey, ItemDecodeError, Model, Sum, ValidationError
from dynamorm_async._batch.retry import RetryPolicy
from dynamorm_async._model.model import model_info
from dynamorm_async._read.builders import Scan, read_source
from dynamorm_async._read.cursor import CursorCodec
from dynamorm_async._read.pager import RawPage
from dynamorm_async._read.projection import DictDecoder, parse_projection, with_keys
from dynamorm_async._spans import NO_SPAN, FanOutSpan

pytestmark = pytest.mark.timeout(30)

Item = dict[str, Any]


class Thing(Model, table="things"):
    id: Annotated[str, HashKey()]
    size: int = 0
    colour: str = "red"


def key(n: int) -> Item:
    return {"id": {"S": f"t{n:03d}"}}


class Scripted:
    """An execution context over ``count`` stored things, answering Scan like DynamoDB."""

    def __init__(self, count: int) -> None:
        self.items = [Thing(id=f"t{n:03d}", size=n).to_dynamodb() for n in range(count)]
        self.requests: list[dict[str, Any]] = []

    async def call(self, operation: str, payload: dict[str, Any], **where: Any) -> dict[str, Any]:
        assert operation == "Scan" and where["table"] == payload["TableName"] == "things"
        self.requests.append(payload)
        segment, total = payload.get("Segment", 0), payload.get("TotalSegments", 1)
        mine = [i for i in self.items if int(i["id"]["S"][1:]) % total == segment]
        start = payload.get("ExclusiveStartKey")
        if start is not None:
            mine = [i for i in mine if i["id"]["S"] > start["id"]["S"]]
        limit = payload.get("Limit", len(mine))
        page = mine[:limit]
        response: dict[str, Any] = {"Items": page, "Count": len(page)}
        # DynamoDB hands out a resume key whenever Limit cut the page, even at the very end.
        if len(page) == limit and page:
            response["LastEvaluatedKey"] = {"id": page[-1]["id"]}
        return response

    def table_name(self, model: type[Model]) -> str:
        return "things"

    @property
    def max_concurrency(self) -> int:
        return 4

    @property
    def batch_retry(self) -> RetryPolicy:
        return RetryPolicy()

    @property
    def cursor_codec(self) -> CursorCodec:
        return CursorCodec(b"secret")

    def fan_out_span(
        self, operation: str, models: Sequence[type[Model]] = (), *, segments: int = 1
    ) -> FanOutSpan:
        return NO_SPAN


async def test_pages_come_as_items_and_the_key_the_next_page_starts_after() -> None:
    db = Scripted(5)
    (pager,) = read_source(Scan(db, Thing).page_size(2)).pagers()
    pages = [page async for page in pager.pages()]
    assert [[i["id"]["S"] for i in page.items] for page in pages] == [
        ["t000", "t001"],
        ["t002", "t003"],
        ["t004"],
    ]
    assert [page.last_key for page in pages] == [key(1), key(3), None]
    assert all(isinstance(page, RawPage) for page in pages)
    items, last_key = pages[0]
    assert (items, last_key) == (pages[0].items, key(1))
    assert [r.get("ExclusiveStartKey") for r in db.requests] == [None, key(1), key(3)]
    assert {r["Limit"] for r in db.requests} == {2}
    assert pager.done and pager.start_key is None


async def test_want_caps_the_limit_and_ends_the_pages_at_zero() -> None:
    db = Scripted(10)
    (pager,) = read_source(Scan(db, Thing)).pagers()
    left = [3]

    def want() -> int | None:
        return left[0]

    seen: list[int] = []
    async for items, _ in pager.pages(want):
        seen.append(len(items))
        left[0] -= len(items)
    assert seen == [3] and [r["Limit"] for r in db.requests] == [3]
    assert not pager.done  # stopped because nothing more was wanted, not at the end


async def test_segments_resume_after_their_start_keys_and_read_only_what_is_left() -> None:
    db = Scripted(12)
    source = read_source(Scan(db, Thing).consistent().page_size(2).segments(3))
    # Segment 0 holds t000 t003 t006 t009: resume it after t003; segment 2 starts over.
    pagers = source.pagers(start_keys=[key(3), None, key(10)])
    read: dict[int, list[str]] = {}
    for segment, pager in enumerate(pagers):
        read[segment] = [i["id"]["S"] async for page in pager.pages() for i in page.items]
    assert read == {0: ["t006", "t009"], 1: ["t001", "t004", "t007", "t010"], 2: ["t011"]}
    first = {r["Segment"]: r for r in reversed(db.requests)}
    assert first[0]["ExclusiveStartKey"] == key(3) and "ExclusiveStartKey" not in first[1]
    assert all(r["TotalSegments"] == 3 and r["ConsistentRead"] for r in db.requests)


async def test_a_source_reads_exactly_the_paths_it_is_given_or_the_keys() -> None:
    db = Scripted(1)
    thing = model_info(Thing)
    source = read_source(Scan(db, Thing).select(Thing.colour))
    (pager,) = source.pagers((thing.path("size"),))
    await pager.next_page(None)
    (keys_pager,) = source.pagers("keys")
    await keys_pager.next_page(None)
    (selected,) = source.pagers()
    await selected.next_page(None)
    projections = [
        (r["ProjectionExpression"], sorted(r["ExpressionAttributeNames"].values()))
        for r in db.requests
    ]
    assert [names for _, names in projections] == [["size"], ["id"], ["colour", "id"]]


async def test_count_adds_up_the_segments_and_stops_at_the_limit() -> None:
    db = Scripted(7)
    assert await read_source(Scan(db, Thing).segments(2)).count() == 7
    assert await read_source(Scan(db, Thing).page_size(2).limit(3)).count() == 3


def test_with_keys_adds_the_keys_a_projection_does_not_read() -> None:
    info = model_info(Thing)
    size, ident = info.path("size"), info.path("id")
    assert [p._attribute for p in with_keys(info, [size])] == ["size", "id"]
    assert [p._attribute for p in with_keys(info, [ident, size])] == ["id", "size"]
    assert [p._attribute for p in with_keys(info, [], ("id", "size"))] == ["id", "size"]
    assert [p._attribute for p in with_keys(info, ())] == ["id"]


def test_aggregations_are_checked_when_built_not_when_run() -> None:
    db = Scripted(3)
    grouped = Scan(db, Thing).group_by(Thing.colour).aggregate(n=Count())
    with pytest.raises(ValidationError, match="not an aggregate"):
        grouped.order_by("total")
    with pytest.raises(ValidationError, match="already given"):
        grouped.aggregate(n=Sum(Thing.size))
    assert grouped.projection == ("colour", "id")
    ungrouped = Scan(db, Thing).aggregate(n=Count())
    assert ungrouped.projection == ()  # Select=COUNT
    assert repr(grouped) == "GroupBy(Thing, by=[colour], n=Count())"
    assert repr(ungrouped) == "Aggregation(Thing, n=Count())"
    assert db.requests == []


class Noted(Model, table="noted"):
    pk: Annotated[str, HashKey()]
    note: str | None = "none yet"
    count: int = 0


def test_a_projection_reads_a_stored_null_as_a_whole_item_does() -> None:
    info = model_info(Noted)
    item = {"pk": {"S": "a"}, "note": {"NULL": True}, "count": {"NULL": True}}
    decode = DictDecoder(info, parse_projection(info, [Noted.note]))
    assert decode(item) == {"note": None}
    assert info.decode({**item, "count": {"N": "1"}}).note is None
    # Where the model refuses None, the projection refuses it too.
    with pytest.raises(ItemDecodeError, match=r"Noted\.count"):
        DictDecoder(info, parse_projection(info, [Noted.count]))(item)
