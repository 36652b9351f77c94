"""The libraries ``bench_peers.py`` compares, each behind one small interface (:class:`Peer`).

Every adapter drives its library through the API its users would pick for speed, bound to one
endpoint, with the same dummy credentials and region; every read returns how many results it
decoded into Python values. See ``bench_peers.py`` for what each workload does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Protocol, TypeVar

import aiohttp
import anyio
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from boto3.dynamodb.types import TypeDeserializer

from dynamorm_async import HashKey, Model, RangeKey, Session

REGION = "us-east-1"
KEY_ID = SECRET = "local"
RAW = "raw aiobotocore"
OURS = "dynamorm-async"
CHUNK = 25  # BatchWriteItem's limit
QUERY_PK = "q"
ROWS, ENTRIES, WRITTEN = "bench_peers_rows", "bench_peers_entries", "bench_peers_written"

Values = dict[str, Any]
T = TypeVar("T")


class Row(Model, table=ROWS):
    """The one table shape; this table is scanned and read item by item."""

    pk: Annotated[str, HashKey()]
    sk: Annotated[int, RangeKey()]
    name: str
    amount: Decimal
    qty: int
    active: bool
    tags: list[str]
    note: str


class Entry(Row, table=ENTRIES):
    """The same shape: one partition, queried page by page."""


class Written(Row, table=WRITTEN):
    """The same shape: where the batch writes go."""


def wire(v: Values) -> dict[str, Any]:
    """``v`` in DynamoDB's wire format, written out the way a raw aiobotocore user does."""
    return {
        "pk": {"S": v["pk"]},
        "sk": {"N": str(v["sk"])},
        "name": {"S": v["name"]},
        "amount": {"N": str(v["amount"])},
        "qty": {"N": str(v["qty"])},
        "active": {"BOOL": v["active"]},
        "tags": {"L": [{"S": tag} for tag in v["tags"]]},
        "note": {"S": v["note"]},
    }


# --- driving helpers, the same for every library ----------------------------------------------


async def bounded(jobs: Iterable[Callable[[], Awaitable[int]]], concurrency: int) -> int:
    """Run ``jobs`` with at most ``concurrency`` in flight; the sum of their counts."""
    pending = iter(jobs)
    total = 0

    async def worker() -> None:
        nonlocal total
        for job in pending:
            count = await job()  # not `total += await ...`: that reads total before awaiting
            total += count

    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    return total


async def write_chunks(
    requests: Sequence[T], concurrency: int, send: Callable[[list[T]], Awaitable[list[T]]]
) -> int:
    """Send ``requests`` in chunks of 25, ``concurrency`` in flight. ``send`` writes one chunk
    and returns what DynamoDB left unprocessed, which is sent again."""

    async def chunk(part: list[T]) -> int:
        todo = part
        while todo:
            todo = await send(todo)
        return len(part)

    parts = [list(requests[i : i + CHUNK]) for i in range(0, len(requests), CHUNK)]
    return await bounded((functools.partial(chunk, part) for part in parts), concurrency)


async def gathered(segments: Iterable[Awaitable[list[Any]]]) -> int:
    """Items of segment scans run at once, as a user of a client without parallel scan would."""
    return sum(len(items) for items in await asyncio.gather(*segments))


# --- the libraries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tables:
    """Full table names (the run's prefix included), for the clients that take names."""

    prefix: str

    @property
    def rows(self) -> str:
        return self.prefix + ROWS

    @property
    def entries(self) -> str:
        return self.prefix + ENTRIES

    @property
    def written(self) -> str:
        return self.prefix + WRITTEN


class Peer(Protocol):
    """One library, bound to one endpoint; every read returns how many results it decoded."""

    def prepare(self, rows: list[Values]) -> Any:
        """Untimed: the rows as the library's user holds them before writing."""

    async def batch_write(self, prepared: Any) -> int: ...
    async def scan(self) -> int: ...
    async def parallel_scan(self, segments: int) -> int: ...
    async def get(self, pk: str, sk: int) -> int: ...
    async def query(self, page_size: int) -> int: ...


Opener = Callable[[str, Tables, int], AbstractAsyncContextManager[Peer]]


class RawBotocore:
    """aiobotocore's plain client: hand-written wire dicts in, TypeDeserializer dicts out."""

    def __init__(self, client: Any, tables: Tables, concurrency: int) -> None:
        self.client, self.tables, self.concurrency = client, tables, concurrency
        self.deserialize = TypeDeserializer().deserialize

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str, tables: Tables, concurrency: int) -> AsyncIterator[Peer]:
        config = AioConfig(max_pool_connections=concurrency, retries={"mode": "standard"})
        async with get_session().create_client(
            "dynamodb",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            config=config,
        ) as client:
            yield cls(client, tables, concurrency)

    def plain(self, item: dict[str, Any]) -> Values:
        return {name: self.deserialize(value) for name, value in item.items()}

    async def pages(self, operation: str, **request: Any) -> list[Values]:
        items: list[Values] = []
        async for page in self.client.get_paginator(operation).paginate(**request):
            items.extend(map(self.plain, page["Items"]))
        return items

    def prepare(self, rows: list[Values]) -> Any:
        return rows

    async def batch_write(self, prepared: Any) -> int:
        table = self.tables.written

        async def send(chunk: list[Any]) -> list[Any]:
            response = await self.client.batch_write_item(RequestItems={table: chunk})
            return list(response.get("UnprocessedItems", {}).get(table, []))

        requests = [{"PutRequest": {"Item": wire(v)}} for v in prepared]
        return await write_chunks(requests, self.concurrency, send)

    async def scan(self) -> int:
        return len(await self.pages("scan", TableName=self.tables.rows))

    async def parallel_scan(self, segments: int) -> int:
        table = self.tables.rows
        return await gathered(
            self.pages("scan", TableName=table, Segment=s, TotalSegments=segments)
            for s in range(segments)
        )

    async def get(self, pk: str, sk: int) -> int:
        key = {"pk": {"S": pk}, "sk": {"N": str(sk)}}
        response = await self.client.get_item(TableName=self.tables.rows, Key=key)
        self.plain(response["Item"])
        return 1

    async def query(self, page_size: int) -> int:
        return len(
            await self.pages(
                "query",
                TableName=self.tables.entries,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": QUERY_PK}},
                PaginationConfig={"PageSize": page_size},
            )
        )


class Aiodynamo:
    """aiodynamo's Client over its aiohttp adapter; dicts, numbers as float (its default)."""

    def __init__(self, client: Any, tables: Tables, concurrency: int) -> None:
        self.client, self.tables, self.concurrency = client, tables, concurrency

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str, tables: Tables, concurrency: int) -> AsyncIterator[Peer]:
        from aiodynamo.client import Client
        from aiodynamo.credentials import Key, StaticCredentials
        from aiodynamo.http.aiohttp import AIOHTTP
        from yarl import URL

        async with aiohttp.ClientSession() as http:
            credentials = StaticCredentials(Key(KEY_ID, SECRET))
            yield cls(Client(AIOHTTP(http), credentials, REGION, URL(url)), tables, concurrency)

    def prepare(self, rows: list[Values]) -> Any:
        return rows

    async def batch_write(self, prepared: Any) -> int:
        from aiodynamo.models import BatchWriteRequest

        table = self.tables.written

        async def send(chunk: list[Values]) -> list[Values]:
            result = await self.client.batch_write({table: BatchWriteRequest(items_to_put=chunk)})
            return list(result[table].unput_items) if table in result else []

        return await write_chunks(prepared, self.concurrency, send)

    async def scan(self) -> int:
        return len([item async for item in self.client.scan(self.tables.rows)])

    async def segment(self, segment: int, total: int) -> list[Values]:
        from aiodynamo.utils import dy2py

        request = {"TableName": self.tables.rows, "Segment": segment, "TotalSegments": total}
        items: list[Values] = []
        while True:
            response = await self.client.send_request(action="Scan", payload=request)
            items.extend(dy2py(item, self.client.numeric_type) for item in response["Items"])
            if "LastEvaluatedKey" not in response:
                return items
            request = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}

    async def parallel_scan(self, segments: int) -> int:
        return await gathered(self.segment(s, segments) for s in range(segments))

    async def get(self, pk: str, sk: int) -> int:
        await self.client.get_item(self.tables.rows, {"pk": pk, "sk": sk})  # or ItemNotFound
        return 1

    async def query(self, page_size: int) -> int:
        from aiodynamo.expressions import HashKey as HashKeyCondition

        condition = HashKeyCondition("pk", QUERY_PK)
        count, start = 0, None
        while True:
            page = await self.client.query_single_page(
                self.tables.entries, condition, limit=page_size, start_key=start
            )
            count += len(page.items)
            start = page.last_evaluated_key
            if start is None:
                return count


class Pydynox:
    """pydynox's DynamoDBClient (a Rust core); dicts."""

    def __init__(self, client: Any, tables: Tables) -> None:
        self.client, self.tables = client, tables

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str, tables: Tables, concurrency: int) -> AsyncIterator[Peer]:
        from pydynox import DynamoDBClient

        # It logs a warning for every call slower than its threshold, as the first ones are.
        logging.getLogger("pydynox").setLevel(logging.ERROR)
        yield cls(
            DynamoDBClient(region=REGION, access_key=KEY_ID, secret_key=SECRET, endpoint_url=url),
            tables,
        )

    def prepare(self, rows: list[Values]) -> Any:
        return rows

    async def batch_write(self, prepared: Any) -> int:
        await self.client.batch_write(self.tables.written, put_items=prepared)
        return len(prepared)

    async def scan(self) -> int:
        return len(await self.client.scan(self.tables.rows).to_list())

    async def parallel_scan(self, segments: int) -> int:
        items, _ = await self.client.parallel_scan(self.tables.rows, total_segments=segments)
        return len(items)

    async def get(self, pk: str, sk: int) -> int:
        return int(await self.client.get_item(self.tables.rows, {"pk": pk, "sk": sk}) is not None)

    async def query(self, page_size: int) -> int:
        pages = self.client.query(
            self.tables.entries,
            "pk = :pk",
            expression_attribute_values={":pk": QUERY_PK},
            page_size=page_size,
        )
        return len(await pages.to_list())


def session(url: str, tables: Tables, concurrency: int) -> Session:
    return Session(
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        table_prefix=tables.prefix,
        max_concurrency=concurrency,
    )


class Dynamorm:
    """This library, through its public API; typed models."""

    def __init__(self, db: Session) -> None:
        self.db = db

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str, tables: Tables, concurrency: int) -> AsyncIterator[Peer]:
        async with session(url, tables, concurrency) as db:
            yield cls(db)

    def prepare(self, rows: list[Values]) -> Any:
        return [Written(**v) for v in rows]

    async def batch_write(self, prepared: Any) -> int:
        await self.db.batch_put(prepared)
        return len(prepared)

    async def scan(self) -> int:
        return len(await self.db.scan(Row).all())

    async def parallel_scan(self, segments: int) -> int:
        return len(await self.db.scan(Row).segments(segments).all())

    async def get(self, pk: str, sk: int) -> int:
        await self.db.get(Row, pk=pk, sk=sk)  # or ItemNotFound
        return 1

    async def query(self, page_size: int) -> int:
        count = 0
        async for _ in self.db.query(Entry).where(Entry.pk == QUERY_PK).page_size(page_size):
            count += 1
        return count


# name, the module that must be importable (None: a dependency of this project), opener
LIBRARIES: list[tuple[str, str | None, Opener]] = [
    (RAW, None, RawBotocore.open),
    ("aiodynamo", "aiodynamo", Aiodynamo.open),
    ("pydynox", "pydynox", Pydynox.open),
    (OURS, None, Dynamorm.open),
]
