"""The default transport's item path against DynamoDB Local through the fault proxy.

Item operations skip botocore's per-call pipeline but keep its decisions: every retry mode
retries throttling, 5xx answers, reset connections and damaged bodies (CRC32) up to
``max_attempts`` retries (0 disables them) and reports them in ``RetryAttempts``; the outcome of
each fault, and each error DynamoDB answers, is the one the raw aiobotocore client (the
transport's ``client`` escape hatch) gets from the same proxy. Requests carry the credentials
of the client's chain, session tokens and refreshed credentials included, signed as botocore
signs them (DynamoDB Local does not check signatures, so the test checks each recorded request
against botocore's signer).
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from botocore import xform_name
from botocore.credentials import Credentials
from botocore.exceptions import ChecksumError, ClientError, ConnectionError

from dynamorm_async import (
    AiobotocoreTransport,
    ClientOptions,
    DynamoDBError,
    DynamormError,
    Session,
    ThrottledError,
)
from tests.faultproxy import FaultConfig, FaultProxy
from tests.models import Reading
from tests.signatures import botocore_signature, parse_authorization

pytestmark = pytest.mark.timeout(120)

MODES = ("standard", "adaptive", "legacy")
GET = frozenset({"GetItem"})


@pytest.fixture
async def table(dynamodb_session: Session) -> str:
    await dynamodb_session.create_table(Reading)
    await dynamodb_session.put(Reading(sensor="s1", at=1, value=Decimal("2.5")))
    return dynamodb_session.table_name(Reading)


@asynccontextmanager
async def through_proxy(
    endpoint: str, config: FaultConfig, **options: Any
) -> AsyncIterator[tuple[AiobotocoreTransport, FaultProxy]]:
    """An open transport (dummy keys unless given) talking to DynamoDB Local via a proxy."""
    keys = {"aws_access_key_id": "local", "aws_secret_access_key": "local", **options}
    async with FaultProxy(upstream=endpoint, config=config) as proxy:
        given = ClientOptions(endpoint_url=proxy.endpoint_url, region_name="us-east-1", **keys)
        async with AiobotocoreTransport(given) as transport:
            yield transport, proxy


def get_item(table: str) -> dict[str, Any]:
    return {"TableName": table, "Key": {"sensor": {"S": "s1"}, "at": {"N": "1"}}}


def throttled_only(operation: str = "GetItem") -> FaultConfig:
    return FaultConfig(throttle_share=1.0, operations=frozenset({operation}))


@pytest.mark.parametrize("max_attempts", [0, 2])
@pytest.mark.parametrize("mode", MODES)
async def test_throttling_is_retried_max_attempts_times_then_raised(
    dynamodb_endpoint: str, table: str, mode: str, max_attempts: int
) -> None:
    async with through_proxy(
        dynamodb_endpoint, throttled_only(), retry_mode=mode, max_attempts=max_attempts
    ) as (transport, proxy):
        with pytest.raises(ThrottledError) as caught:
            await transport.call("GetItem", get_item(table), table=table)
    # max_attempts counts retries after the first call, as botocore's does: 0 sends once.
    assert proxy.stats.calls == proxy.stats.throttled == max_attempts + 1
    assert caught.value.code == "ProvisionedThroughputExceededException"
    cause = caught.value.__cause__
    assert isinstance(cause, ClientError)
    assert cause.response["ResponseMetadata"]["RetryAttempts"] == max_attempts
    assert cause.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize(
    ("config", "counter", "cause"),
    [
        (FaultConfig(error_share=1.0, operations=GET), "errors", ClientError),
        (FaultConfig(reset_share=1.0, operations=GET), "resets", ConnectionError),
    ],
    ids=["internal errors", "reset connections"],
)
async def test_server_and_connection_failures_are_retried_then_raised(
    dynamodb_endpoint: str, table: str, config: FaultConfig, counter: str, cause: type
) -> None:
    async with through_proxy(dynamodb_endpoint, config, max_attempts=2) as (transport, proxy):
        with pytest.raises(DynamoDBError) as caught:
            await transport.call("GetItem", get_item(table), table=table)
    assert getattr(proxy.stats, counter) == 3
    assert isinstance(caught.value.__cause__, cause)
    if counter == "errors":
        assert caught.value.code == "InternalServerError"
        assert isinstance(caught.value.__cause__, ClientError)
        assert caught.value.__cause__.response["ResponseMetadata"]["RetryAttempts"] == 2


@pytest.mark.parametrize(
    "config",
    [
        FaultConfig(error_share=0.4, operations=GET, seed=3),
        FaultConfig(reset_share=0.4, operations=GET, seed=4),
        FaultConfig(throttle_share=0.4, operations=GET, seed=5),
        FaultConfig(corrupt_share=0.4, operations=GET, seed=3),
    ],
    ids=["errors", "resets", "throttling", "damaged bodies"],
)
async def test_retried_faults_end_in_the_right_answer(
    dynamodb_endpoint: str, table: str, config: FaultConfig
) -> None:
    async with through_proxy(dynamodb_endpoint, config, max_attempts=8) as (transport, proxy):
        answers = [
            await transport.call("GetItem", get_item(table), table=table) for _ in range(4)
        ]
    faults = proxy.stats.errors + proxy.stats.resets + proxy.stats.throttled
    faults += proxy.stats.corrupted
    assert faults > 0
    assert sum(a["ResponseMetadata"]["RetryAttempts"] for a in answers) == faults
    assert all(a["Item"]["value"] == {"N": "2.5"} for a in answers)


async def test_a_damaged_body_is_retried_until_its_checksum_matches(
    dynamodb_endpoint: str, table: str
) -> None:
    config = FaultConfig(corrupt_share=1.0, operations=GET)
    async with through_proxy(dynamodb_endpoint, config, max_attempts=2) as (transport, proxy):
        # Standard mode gives up quietly, as botocore does: the last answer is returned as
        # parsed, and a damaged JSON body parses to no item.
        answer = await transport.call("GetItem", get_item(table), table=table)
    assert proxy.stats.corrupted == 3
    assert "Item" not in answer
    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    assert answer["ResponseMetadata"]["MaxAttemptsReached"] is True

    async with through_proxy(
        dynamodb_endpoint, config, retry_mode="legacy", max_attempts=2
    ) as (transport, proxy):
        # Legacy mode raises the checksum error once its attempts are spent.
        with pytest.raises(DynamoDBError) as caught:
            await transport.call("GetItem", get_item(table), table=table)
    assert proxy.stats.corrupted == 3
    assert isinstance(caught.value.__cause__, ChecksumError)


Send = Callable[[AiobotocoreTransport, str], Awaitable[Any]]


async def _through_the_transport(transport: AiobotocoreTransport, table: str) -> Any:
    return await transport.call("GetItem", get_item(table), table=table)


async def _through_the_client(transport: AiobotocoreTransport, table: str) -> Any:
    return await transport.client.get_item(**get_item(table))


async def _outcome(send: Send, endpoint: str, table: str, config: FaultConfig, mode: str) -> Any:
    """What a fault does to one call: the error class (None for an answer), the retry count
    and flag it reports, and the calls the proxy saw."""
    async with through_proxy(endpoint, config, retry_mode=mode, max_attempts=1) as (t, proxy):
        try:
            answer = await send(t, table)
        except DynamormError as error:
            answer = getattr(error.__cause__, "response", None)
            kind: object = type(error.__cause__).__name__
        except (ClientError, ConnectionError, ChecksumError) as error:
            answer = getattr(error, "response", None)
            kind = type(error).__name__
        else:
            kind = None
        metadata = (answer or {}).get("ResponseMetadata", {})
        return kind, metadata.get("RetryAttempts"), metadata.get("MaxAttemptsReached"), (
            proxy.stats.calls
        )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "config",
    [
        throttled_only(),
        FaultConfig(error_share=1.0, operations=GET),
        FaultConfig(reset_share=1.0, operations=GET),
        FaultConfig(corrupt_share=1.0, operations=GET),
    ],
    ids=["throttling", "errors", "resets", "damaged bodies"],
)
async def test_each_fault_ends_as_it_does_for_the_raw_client(
    dynamodb_endpoint: str, table: str, config: FaultConfig, mode: str
) -> None:
    ours = await _outcome(_through_the_transport, dynamodb_endpoint, table, config, mode)
    botocores = await _outcome(_through_the_client, dynamodb_endpoint, table, config, mode)
    assert ours == botocores


def check_signed_by(proxy: FaultProxy, credentials: Credentials) -> None:
    """The proxy's last request carries these credentials and botocore's signature."""
    assert proxy.last_request is not None
    headers, body = proxy.last_request
    credential, signed, signature = parse_authorization(headers["Authorization"])
    assert credential.split("/")[0] == credentials.access_key
    assert headers.get("X-Amz-Security-Token") == credentials.token
    assert (signature, signed) == botocore_signature(
        proxy.endpoint_url + "/",
        "us-east-1",
        credentials,
        target=headers["X-Amz-Target"],
        body=body,
        date=headers["X-Amz-Date"],
    )


async def test_explicit_keys_with_a_session_token_are_signed_as_botocore_signs(
    dynamodb_endpoint: str, table: str
) -> None:
    keys = Credentials("AKIDEXPLICIT", "explicit-secret", "explicit-session-token")
    async with through_proxy(
        dynamodb_endpoint,
        FaultConfig(),
        aws_access_key_id=keys.access_key,
        aws_secret_access_key=keys.secret_key,
        aws_session_token=keys.token,
    ) as (transport, proxy):
        answer = await transport.call("GetItem", get_item(table), table=table)
        assert answer["Item"]["sensor"] == {"S": "s1"}
        check_signed_by(proxy, keys)


async def test_the_credential_chain_signs_with_environment_keys(
    dynamodb_endpoint: str, table: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keys = Credentials("AKIDFROMENV", "secret-from-env", "token-from-env")
    isolate_from_profiles(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys.secret_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", keys.token)
    async with FaultProxy(upstream=dynamodb_endpoint) as proxy:
        given = ClientOptions(endpoint_url=proxy.endpoint_url, region_name="us-east-1")
        async with AiobotocoreTransport(given) as transport:
            await transport.call("GetItem", get_item(table), table=table)
            check_signed_by(proxy, keys)


def isolate_from_profiles(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No credentials from the machine's profiles or environment; returns the config file."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config"
    config.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    return config


# A credential process whose credentials expire within botocore's mandatory refresh window, so
# every request refreshes them: each run hands out the next numbered key.
_PROCESS = """
    import datetime, json, pathlib, sys
    counter = pathlib.Path(sys.argv[1])
    n = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(n))
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
    print(json.dumps({"Version": 1, "AccessKeyId": f"AKIDROUND{n}",
                      "SecretAccessKey": f"secret-{n}", "SessionToken": f"token-{n}",
                      "Expiration": expires.isoformat()}))
"""


async def test_refreshed_credentials_sign_the_next_request(
    dynamodb_endpoint: str, table: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = isolate_from_profiles(monkeypatch, tmp_path)
    script = tmp_path / "credentials.py"
    script.write_text(textwrap.dedent(_PROCESS))
    counter = tmp_path / "counter"
    command = json.dumps(f"{sys.executable} {script} {counter}")[1:-1]
    config.write_text(f"[default]\ncredential_process = {command}\n")
    async with FaultProxy(upstream=dynamodb_endpoint) as proxy:
        given = ClientOptions(endpoint_url=proxy.endpoint_url, region_name="us-east-1")
        async with AiobotocoreTransport(given) as transport:
            seen = []
            for _ in range(3):
                await transport.call("GetItem", get_item(table), table=table)
                assert proxy.last_request is not None
                credential, _, _ = parse_authorization(proxy.last_request[0]["Authorization"])
                round_ = int(credential.split("/")[0].removeprefix("AKIDROUND"))
                check_signed_by(
                    proxy, Credentials(f"AKIDROUND{round_}", f"secret-{round_}", f"token-{round_}")
                )
                seen.append(round_)
    assert seen == sorted(seen) and len(set(seen)) == 3


def _comparable(response: dict[str, Any]) -> dict[str, Any]:
    """A ClientError's response without what differs between two requests (ids, dates)."""
    metadata = dict(response["ResponseMetadata"])
    del metadata["HTTPHeaders"], metadata["RequestId"]
    return {**response, "ResponseMetadata": metadata}


@pytest.mark.parametrize(
    ("operation", "payload"),
    [
        (
            "PutItem",
            lambda table: {
                "TableName": table,
                "Item": {"sensor": {"S": "s1"}, "at": {"N": "1"}},
                "ConditionExpression": "attribute_not_exists(sensor)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        ),
        (
            "TransactWriteItems",
            lambda table: {
                "TransactItems": [
                    {
                        "ConditionCheck": {
                            "TableName": table,
                            "Key": {"sensor": {"S": "s1"}, "at": {"N": "1"}},
                            "ConditionExpression": "attribute_not_exists(sensor)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Put": {
                            "TableName": table,
                            "Item": {"sensor": {"S": "s2"}, "at": {"N": "1"}},
                        }
                    },
                ]
            },
        ),
        ("GetItem", lambda table: {"TableName": table, "Key": {"sensor": {"S": "s1"}}}),
        ("Query", lambda table: {"TableName": table + "_missing", "KeyConditionExpression": "x"}),
    ],
    ids=["condition failed", "transaction cancelled", "validation", "missing table"],
)
async def test_errors_carry_the_response_the_raw_client_gets(
    dynamodb_endpoint: str, table: str, operation: str, payload: Callable[[str], dict[str, Any]]
) -> None:
    async with through_proxy(dynamodb_endpoint, FaultConfig(), max_attempts=0) as (transport, _):
        with pytest.raises(DynamormError) as ours:
            await transport.call(operation, payload(table), table=table)
        with pytest.raises(ClientError) as botocores:
            await getattr(transport.client, xform_name(operation))(**payload(table))
    cause = ours.value.__cause__
    assert isinstance(cause, ClientError)
    assert type(cause) is type(botocores.value)
    assert _comparable(cause.response) == _comparable(botocores.value.response)
    assert str(cause) == str(botocores.value)


def direct_options(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> ClientOptions:
    """Options for ``endpoint`` itself, with no HTTP proxy left in the environment."""
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    return ClientOptions(
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


async def test_item_operations_behind_a_proxy_go_through_the_client_and_the_proxy(
    dynamodb_endpoint: str, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fault proxy forwards whatever it receives to DynamoDB Local, so it also serves as the
    # HTTP proxy of the environment: the lean path does not speak to proxies and leaves the
    # operation to the client, which honours HTTP_PROXY as botocore does.
    given = direct_options(dynamodb_endpoint, monkeypatch)
    async with FaultProxy(upstream=dynamodb_endpoint) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.endpoint_url)
        async with AiobotocoreTransport(given) as transport:
            answer = await transport.call("GetItem", get_item(table), table=table)
    assert answer["Item"]["value"] == {"N": "2.5"}
    assert proxy.stats.operations["GetItem"] == 1


def raw_batch(table: str, at: int) -> dict[str, Any]:
    """A BatchWriteItem payload whose entries are one JSON text, as batch executors send."""
    item = {"sensor": {"S": "raw"}, "at": {"N": str(at)}, "blob": {"B": "AAEC"}}
    entry = {"PutRequest": {"Item": item}}
    return {"RequestItems": {table: msgspec.Raw(msgspec.json.encode([entry]))}}


async def test_encoded_entries_are_sent_on_the_lean_path_and_through_the_client(
    dynamodb_endpoint: str, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = direct_options(dynamodb_endpoint, monkeypatch)
    async with AiobotocoreTransport(given) as transport:
        await transport.call("BatchWriteItem", raw_batch(table, 1), table=table, raw_json=True)
    # Behind a proxy the operation goes through the botocore client, which takes plain values.
    async with FaultProxy(upstream=dynamodb_endpoint) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.endpoint_url)
        async with AiobotocoreTransport(given) as transport:
            await transport.call("BatchWriteItem", raw_batch(table, 2), table=table, raw_json=True)
        monkeypatch.delenv("HTTP_PROXY")
    assert proxy.stats.operations["BatchWriteItem"] == 1
    async with AiobotocoreTransport(given) as transport:
        for at in (1, 2):
            key = {"sensor": {"S": "raw"}, "at": {"N": str(at)}}
            answer = await transport.call("GetItem", {"TableName": table, "Key": key})
            assert answer["Item"] == {**key, "blob": {"B": "AAEC"}}
