"""Pieces of the transport's item path that need no server."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import HTTPClientError

from dynamorm_async import AiobotocoreTransport, ClientOptions, DynamoDBError
from dynamorm_async._transport.dataplane import _invocation_id

pytestmark = pytest.mark.timeout(30)


def test_invocation_ids_are_version_4_uuids_whatever_the_global_seed() -> None:
    state = random.getstate()
    try:
        random.seed(1)
        first = _invocation_id()
        random.seed(1)
        ids = {first, *(_invocation_id() for _ in range(2_000))}
    finally:
        random.setstate(state)
    assert len(ids) == 2_001
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


async def test_an_unreadable_ca_bundle_fails_each_call_as_the_client_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The item path cannot set up its pool, so it leaves the operation to the client, which
    # fails the call (not the opening) with its own error, as it always did.
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    options = ClientOptions(
        endpoint_url="https://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        max_attempts=0,
    )
    async with AiobotocoreTransport(options) as transport:
        with pytest.raises(DynamoDBError) as caught:
            await transport.call("GetItem", {"TableName": "t", "Key": {"k": {"S": "v"}}})
    assert isinstance(caught.value.__cause__, HTTPClientError)
    assert "No such file" in str(caught.value)
