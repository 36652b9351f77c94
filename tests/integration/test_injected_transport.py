"""An injected transport against DynamoDB Local: ``Session(transport=...)`` end to end.

The aiobotocore transport built by hand from ClientOptions behaves like the Session's own
default one; on its own it is an async context manager with the raw client as escape hatch.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec
import pytest

from dynamorm_async import (
    AiobotocoreTransport,
    ClientOptions,
    DynamormError,
    HashKey,
    ItemExists,
    Model,
    RangeKey,
    Session,
    TableError,
)
from dynamorm_async.testing import RecordingTransport, local_transport

pytestmark = pytest.mark.timeout(120)


class Entry(Model, table="transport_entries"):
    book: Annotated[str, HashKey()]
    line: Annotated[int, RangeKey()]
    amount: Decimal = Decimal(0)


def options(endpoint: str) -> ClientOptions:
    return ClientOptions(
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        max_attempts=2,
        connect_timeout=5,
        read_timeout=30,
    )


async def test_a_session_on_an_injected_aiobotocore_transport_works_end_to_end(
    dynamodb_endpoint: str, dynamodb_session: Session
) -> None:
    transport = AiobotocoreTransport(options(dynamodb_endpoint))
    async with Session(transport=transport, table_prefix=dynamodb_session.table_prefix) as db:
        await db.create_table(Entry)
        await db.put(Entry(book="b", line=1, amount=Decimal("2.50")))
        with pytest.raises(ItemExists):
            await db.create(Entry(book="b", line=1))
        result = await db.batch_put([Entry(book="b", line=n) for n in range(2, 30)])
        assert result.processed == 28
        assert await db.query(Entry).where(Entry.book == "b").count() == 29
        assert (await db.get(Entry, book="b", line=1)).amount == Decimal("2.50")
        assert len(await db.scan(Entry).segments(3).all()) == 29
        # The transport is the Session's: it closes with it.
    with pytest.raises(DynamormError, match="not open"):
        transport.client  # noqa: B018
    # What the injected transport wrote, the fixture's default-transport Session reads.
    assert await dynamodb_session.query(Entry).where(Entry.book == "b").count() == 29


async def test_errors_through_an_injected_transport_are_the_librarys(
    dynamodb_endpoint: str, dynamodb_session: Session
) -> None:
    transport = RecordingTransport(local_transport(dynamodb_endpoint))
    async with Session(transport=transport, table_prefix=dynamodb_session.table_prefix) as db:
        with pytest.raises(TableError) as caught:
            await db.get_or_none(Entry, book="b", line=1)
    assert caught.value.code == "ResourceNotFoundException"
    assert caught.value.table == dynamodb_session.table_name(Entry)
    assert [r.operation for r in transport.requests] == ["GetItem"]


async def test_the_aiobotocore_transport_on_its_own(
    dynamodb_endpoint: str, dynamodb_session: Session
) -> None:
    await dynamodb_session.create_table(Entry)
    table = dynamodb_session.table_name(Entry)
    async with AiobotocoreTransport(options(dynamodb_endpoint)) as transport:
        key = {"book": {"S": "raw"}, "line": {"N": "7"}}
        item = {**key, "amount": {"N": "1.5"}}
        await transport.call("PutItem", {"TableName": table, "Item": item}, table=table)
        got = await transport.call("GetItem", {"TableName": table, "Key": key}, table=table)
        assert got["Item"] == item
        # The raw client is the escape hatch for operations the library does not wrap.
        limits = await transport.client.describe_limits()
        assert limits["TableMaxReadCapacityUnits"] > 0
    found = await dynamodb_session.get(Entry, book="raw", line=7)
    assert found.amount == Decimal("1.5")


async def test_query_and_scan_answers_keep_items_as_json_when_asked(
    dynamodb_endpoint: str, dynamodb_session: Session
) -> None:
    await dynamodb_session.create_table(Entry)
    await dynamodb_session.batch_put([Entry(book="json", line=n) for n in range(3)])
    table = dynamodb_session.table_name(Entry)
    query = {
        "TableName": table,
        "KeyConditionExpression": "book = :b",
        "ExpressionAttributeValues": {":b": {"S": "json"}},
        "Limit": 2,
    }
    async with AiobotocoreTransport(options(dynamodb_endpoint)) as transport:
        assert transport.defers_items
        raw = await transport.call("Query", query, table=table, raw_items=True)
        plain = await transport.call("Query", query, table=table)
    assert isinstance(raw["Items"], msgspec.Raw)
    assert msgspec.json.decode(raw["Items"]) == plain["Items"]
    assert raw["LastEvaluatedKey"] == plain["LastEvaluatedKey"]
    assert (raw["Count"], raw["ScannedCount"]) == (plain["Count"], plain["ScannedCount"]) == (2, 2)
    assert raw["ResponseMetadata"]["HTTPStatusCode"] == 200
    # Through a Session (and any wrapper) the whole-model reads take this path.
    recorder = RecordingTransport(AiobotocoreTransport(options(dynamodb_endpoint)))
    assert recorder.defers_items
    async with Session(transport=recorder, table_prefix=dynamodb_session.table_prefix) as db:
        found = await db.query(Entry).where(Entry.book == "json").all()
    assert found == [Entry(book="json", line=n) for n in range(3)]
