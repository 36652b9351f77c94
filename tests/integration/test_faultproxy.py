"""The fault-injecting proxy against a real DynamoDB Local, driven by a raw aiobotocore client.

``dynamodb_endpoint`` is the session fixture of the library's pytest plugin.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, suppress
from typing import Any

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from types_aiobotocore_dynamodb import DynamoDBClient
from types_aiobotocore_dynamodb.type_defs import (
    KeysAndAttributesTypeDef,
    WriteRequestTypeDef,
    WriteRequestUnionTypeDef,
)

from tests.faultproxy import FaultConfig, FaultProxy


def client(endpoint: str, *, attempts: int = 1) -> AbstractAsyncContextManager[DynamoDBClient]:
    """A raw client; ``attempts`` counts the first try, so 1 means botocore never retries."""
    config = AioConfig(retries={"mode": "standard", "total_max_attempts": attempts})
    created: AbstractAsyncContextManager[DynamoDBClient] = get_session().create_client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=config,
    )
    return created


@pytest.fixture
async def upstream(dynamodb_endpoint: str) -> AsyncIterator[DynamoDBClient]:
    """A client straight to DynamoDB Local, to set up and inspect tables behind the proxy."""
    async with client(dynamodb_endpoint) as direct:
        yield direct


@pytest.fixture
async def table(upstream: DynamoDBClient) -> AsyncIterator[str]:
    name = f"faultproxy_{uuid.uuid4().hex[:12]}"
    await upstream.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    await upstream.delete_table(TableName=name)


def put(pk: str, **attributes: str) -> WriteRequestTypeDef:
    item = {"pk": {"S": pk}, **{name: {"S": value} for name, value in attributes.items()}}
    return {"PutRequest": {"Item": item}}


def delete(pk: str) -> WriteRequestTypeDef:
    return {"DeleteRequest": {"Key": {"pk": {"S": pk}}}}


def pk_of(request: Mapping[str, Any]) -> str:
    if "PutRequest" in request:
        return str(request["PutRequest"]["Item"]["pk"]["S"])
    return str(request["DeleteRequest"]["Key"]["pk"]["S"])


async def stored_keys(upstream: DynamoDBClient, table: str) -> set[str]:
    keys: set[str] = set()
    paginator = upstream.get_paginator("scan")
    async for page in paginator.paginate(TableName=table, ConsistentRead=True):
        keys.update(item["pk"]["S"] for item in page["Items"])
    return keys


async def write_all(
    proxied: DynamoDBClient, table: str, requests: Sequence[WriteRequestTypeDef], rounds: int
) -> list[WriteRequestUnionTypeDef]:
    """BatchWriteItem, resubmitting UnprocessedItems up to ``rounds`` times; returns the rest."""
    pending: list[WriteRequestUnionTypeDef] = list(requests)
    for _ in range(rounds):
        if not pending:
            break
        answer = await proxied.batch_write_item(RequestItems={table: pending})
        pending = list(answer["UnprocessedItems"].get(table, []))
    return pending


async def test_other_operations_pass_through_untouched(
    dynamodb_endpoint: str, upstream: DynamoDBClient, table: str
) -> None:
    faults = FaultConfig(reset_share=1.0, error_share=1.0, throttle_share=1.0, partial_share=1.0)
    async with (
        FaultProxy(upstream=dynamodb_endpoint, config=faults) as proxy,
        client(proxy.endpoint_url) as proxied,
    ):
        await proxied.put_item(TableName=table, Item={"pk": {"S": "a"}, "v": {"S": "1"}})
        got = await proxied.get_item(TableName=table, Key={"pk": {"S": "a"}}, ConsistentRead=True)
        described = await proxied.describe_table(TableName=table)

    assert got["Item"] == {"pk": {"S": "a"}, "v": {"S": "1"}}
    assert described["Table"]["TableName"] == table
    assert proxy.stats.calls == proxy.stats.forwarded == 3
    assert proxy.stats.operations == {"PutItem": 1, "GetItem": 1, "DescribeTable": 1}
    assert (proxy.stats.resets, proxy.stats.errors, proxy.stats.throttled) == (0, 0, 0)
    assert proxy.stats.partial == 0
    assert await stored_keys(upstream, table) == {"a"}


async def test_partial_batch_write_lands_exactly_the_processed_items(
    dynamodb_endpoint: str, upstream: DynamoDBClient, table: str
) -> None:
    requests = [put(f"item-{i:02}", payload="x" * i) for i in range(25)]
    async with (
        FaultProxy(upstream=dynamodb_endpoint, config=FaultConfig(partial_share=1.0)) as proxy,
        client(proxy.endpoint_url) as proxied,
    ):
        answer = await proxied.batch_write_item(RequestItems={table: requests})

    unprocessed = answer["UnprocessedItems"][table]
    left = {pk_of(request) for request in unprocessed}
    assert 0 < len(left) < 25
    # Unprocessed entries are the original write requests, unchanged.
    assert [r for r in requests if pk_of(r) in left] == unprocessed
    assert await stored_keys(upstream, table) == {pk_of(r) for r in requests} - left
    assert (proxy.stats.partial, proxy.stats.unprocessed) == (1, len(left))
    assert proxy.stats.forwarded == 1


async def test_never_process_keeps_chosen_items_out_while_retries_land_the_rest(
    dynamodb_endpoint: str, upstream: DynamoDBClient, table: str
) -> None:
    await upstream.batch_write_item(RequestItems={table: [put(f"old-{i}") for i in range(5)]})
    requests = (
        [delete(f"old-{i}") for i in range(5)]
        + [put(f"new-{i:02}") for i in range(18)]
        + [put("poison-0"), delete("poison-1")]
    )
    faults = FaultConfig(
        partial_share=0.5, seed=11, never_process=lambda item: item["pk"]["S"].startswith("poison")
    )
    async with (
        FaultProxy(upstream=dynamodb_endpoint, config=faults) as proxy,
        client(proxy.endpoint_url) as proxied,
    ):
        left = await write_all(proxied, table, requests, rounds=40)

    assert left == [put("poison-0"), delete("poison-1")]
    assert await stored_keys(upstream, table) == {f"new-{i:02}" for i in range(18)}
    # The poison requests are held back on every call, so every round is a partial answer and
    # the rounds only run out once nothing but poison is left (those calls forward nothing).
    assert proxy.stats.calls == proxy.stats.partial == 40
    assert 0 < proxy.stats.forwarded < 40
    assert proxy.stats.withheld == 40 - proxy.stats.forwarded


async def test_always_unprocessed_forwards_no_batch(
    dynamodb_endpoint: str, upstream: DynamoDBClient, table: str
) -> None:
    async with (
        FaultProxy(upstream=dynamodb_endpoint, config=FaultConfig(always_unprocessed=True)) as p,
        client(p.endpoint_url) as proxied,
    ):
        written = await proxied.batch_write_item(RequestItems={table: [put("a"), delete("b")]})
        read = await proxied.batch_get_item(
            RequestItems={table: {"Keys": [{"pk": {"S": "a"}}], "ConsistentRead": True}}
        )

    assert written["UnprocessedItems"] == {table: [put("a"), delete("b")]}
    assert read["Responses"] == {table: []}
    assert read["UnprocessedKeys"] == {
        table: {"Keys": [{"pk": {"S": "a"}}], "ConsistentRead": True}
    }
    assert (p.stats.forwarded, p.stats.withheld, p.stats.partial) == (0, 2, 2)
    assert p.stats.unprocessed == 3
    assert await stored_keys(upstream, table) == set()


async def test_partial_batch_get_splits_keys_and_keeps_the_request_options(
    dynamodb_endpoint: str, upstream: DynamoDBClient, table: str
) -> None:
    await upstream.batch_write_item(
        RequestItems={table: [put(f"k{i:02}", name=f"n{i}", extra="e") for i in range(25)]}
    )
    keys = [{"pk": {"S": f"k{i:02}"}} for i in range(25)]
    request: KeysAndAttributesTypeDef = {
        "Keys": keys,
        "ProjectionExpression": "pk, #n",
        "ExpressionAttributeNames": {"#n": "name"},
        "ConsistentRead": True,
    }
    async with (
        FaultProxy(upstream=dynamodb_endpoint, config=FaultConfig(partial_share=1.0)) as proxy,
        client(proxy.endpoint_url) as proxied,
    ):
        answer = await proxied.batch_get_item(RequestItems={table: request})

    items = answer["Responses"][table]
    left = answer["UnprocessedKeys"][table]
    returned = {item["pk"]["S"] for item in items}
    held_back = {key["pk"]["S"] for key in left["Keys"]}
    assert returned.isdisjoint(held_back)
    assert returned | held_back == {key["pk"]["S"] for key in keys}
    assert returned and held_back
    assert {name: value for name, value in left.items() if name != "Keys"} == {
        name: value for name, value in request.items() if name != "Keys"
    }
    assert all(set(item) == {"pk", "name"} for item in items)
    assert proxy.stats.unprocessed == len(held_back)


async def test_throttle_answers_provisioned_throughput_exceeded_without_forwarding(
    dynamodb_endpoint: str, upstream: DynamoDBClient, table: str
) -> None:
    async with (
        FaultProxy(upstream=dynamodb_endpoint, config=FaultConfig(throttle_share=1.0)) as proxy,
        client(proxy.endpoint_url) as proxied,
    ):
        with pytest.raises(ClientError) as caught:
            await proxied.batch_write_item(RequestItems={table: [put("a")]})

    error = caught.value.response
    assert error["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert (proxy.stats.throttled, proxy.stats.forwarded) == (1, 0)
    assert await stored_keys(upstream, table) == set()


async def test_error_answers_internal_server_error_without_forwarding(
    dynamodb_endpoint: str, upstream: DynamoDBClient, table: str
) -> None:
    async with (
        FaultProxy(upstream=dynamodb_endpoint, config=FaultConfig(error_share=1.0)) as proxy,
        client(proxy.endpoint_url) as proxied,
    ):
        with pytest.raises(ClientError) as caught:
            await proxied.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": "a"}}]}})

    assert caught.value.response["Error"]["Code"] == "InternalServerError"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert (proxy.stats.errors, proxy.stats.forwarded) == (1, 0)


async def test_reset_drops_the_connection_and_the_client_recovers(
    dynamodb_endpoint: str, upstream: DynamoDBClient, table: str
) -> None:
    async with (
        FaultProxy(upstream=dynamodb_endpoint, config=FaultConfig(reset_share=1.0)) as proxy,
        client(proxy.endpoint_url) as proxied,
    ):
        # aiobotocore reports a reset while reading the answer as one of these two.
        with pytest.raises((EndpointConnectionError, ConnectionClosedError)):
            await proxied.batch_write_item(RequestItems={table: [put("a")]})
        assert await stored_keys(upstream, table) == set()

        proxy.config = FaultConfig()
        answer = await proxied.batch_write_item(RequestItems={table: [put("b")]})

    assert answer["UnprocessedItems"] == {}
    assert (proxy.stats.resets, proxy.stats.forwarded) == (1, 1)
    assert await stored_keys(upstream, table) == {"b"}


async def test_keep_alive_connections_are_reused(
    dynamodb_endpoint: str, upstream: DynamoDBClient, table: str
) -> None:
    faults = FaultConfig(partial_share=0.5, throttle_share=0.2, error_share=0.2, seed=3)
    async with (
        FaultProxy(upstream=dynamodb_endpoint, config=faults) as proxy,
        client(proxy.endpoint_url) as proxied,
    ):
        for i in range(20):
            # Injected throttles and errors are expected; only the connection count matters.
            with suppress(ClientError):
                await proxied.batch_write_item(RequestItems={table: [put(f"a{i}"), put(f"b{i}")]})
            await proxied.get_item(TableName=table, Key={"pk": {"S": f"a{i}"}})

    assert proxy.stats.calls == 40
    assert proxy.stats.throttled + proxy.stats.errors > 0
    assert proxy.stats.connections == 1


async def test_retries_succeed_when_every_share_is_below_one(
    dynamodb_endpoint: str, upstream: DynamoDBClient, table: str
) -> None:
    faults = FaultConfig(
        partial_share=0.5, throttle_share=0.2, error_share=0.2, reset_share=0.1, seed=5
    )
    chunks = [[put(f"c{chunk}-{i:02}") for i in range(25)] for chunk in range(3)]
    async with (
        FaultProxy(upstream=dynamodb_endpoint, config=faults) as proxy,
        client(proxy.endpoint_url, attempts=10) as proxied,
    ):
        leftovers = [await write_all(proxied, table, chunk, rounds=40) for chunk in chunks]

    assert leftovers == [[], [], []]
    assert await stored_keys(upstream, table) == {pk_of(r) for chunk in chunks for r in chunk}
    stats = proxy.stats
    assert stats.partial > 0
    assert stats.throttled + stats.errors + stats.resets > 0
    assert stats.calls == (
        stats.forwarded + stats.withheld + stats.throttled + stats.errors + stats.resets
    )


async def test_unreachable_upstream_answers_502(unused_tcp_port: int) -> None:
    async with (
        FaultProxy(upstream=f"http://127.0.0.1:{unused_tcp_port}") as proxy,
        client(proxy.endpoint_url) as proxied,
    ):
        with pytest.raises(ClientError) as caught:
            await proxied.list_tables()

    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
    assert caught.value.response["Error"]["Code"] == "FaultProxyUpstreamError"
    assert proxy.stats.forwarded == 0


async def test_endpoint_url_needs_a_running_proxy() -> None:
    proxy = FaultProxy(upstream="http://127.0.0.1:1")
    with pytest.raises(RuntimeError, match="not running"):
        _ = proxy.endpoint_url
    async with proxy:
        assert proxy.endpoint_url.startswith("http://127.0.0.1:")
    with pytest.raises(RuntimeError, match="not running"):
        _ = proxy.endpoint_url


def test_fault_config_validates_shares_and_accepts_any_operation_set() -> None:
    with pytest.raises(ValueError, match="throttle_share"):
        FaultConfig(throttle_share=1.5)
    with pytest.raises(ValueError, match="reset_share"):
        FaultConfig(reset_share=-0.1)
    config = FaultConfig(operations={"PutItem"})
    assert config.operations == frozenset({"PutItem"})
