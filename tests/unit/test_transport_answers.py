"""How the transport's item path reads DynamoDB's answers (pure, no server): the CRC32 check
and the metadata of a success agree with botocore's own checker and parser."""

from __future__ import annotations

import zlib

import pytest
from botocore.parsers import create_parser
from botocore.retries.special import RetryDDBChecksumError
from botocore.retries.standard import RetryContext
from hypothesis import given
from hypothesis import strategies as st

from dynamorm_async._transport.answers import (
    RawResponse,
    crc32_matches,
    settled,
    success_metadata,
)

pytestmark = pytest.mark.timeout(60)

BODY = b'{"Item":{"pk":{"S":"ada"}}}'


def answer(body: bytes = BODY, status: int = 200, crc: object = "same") -> RawResponse:
    headers = {"x-amzn-requestid": "REQ1", "content-type": "application/x-amz-json-1.0"}
    if crc == "same":
        headers["x-amz-crc32"] = str(zlib.crc32(body))
    elif crc is not None:
        headers["x-amz-crc32"] = str(crc)
    return RawResponse(status, headers, body)


class _Service:
    service_name = "dynamodb"


class _Operation:
    service_model = _Service()


class _Http:
    def __init__(self, raw: RawResponse) -> None:
        self.status_code = raw.status
        self.headers = raw.headers
        self.content = raw.body


def botocore_retries_for_checksum(raw: RawResponse) -> bool:
    """botocore's standard-mode verdict on the answer's checksum."""
    context = RetryContext(attempt_number=1, operation_model=_Operation(), http_response=_Http(raw))
    return bool(RetryDDBChecksumError().is_retryable(context))


@given(body=st.binary(max_size=200), flip=st.integers(min_value=0, max_value=2**32 - 1))
def test_the_checksum_check_is_botocores(body: bytes, flip: int) -> None:
    for raw in (answer(body), answer(body, crc=flip), answer(body, crc=None)):
        assert crc32_matches(raw) is not botocore_retries_for_checksum(raw)


def test_a_settled_answer_is_a_success_with_an_intact_body() -> None:
    assert settled(answer())
    assert settled(answer(crc=None))
    assert not settled(answer(crc=zlib.crc32(BODY) ^ 1))
    assert not settled(answer(crc="not a number"))
    assert not settled(answer(status=500))
    assert not settled(answer(b'{"__type":"x#ThrottlingException"}', status=400))


def test_success_metadata_is_what_botocores_parser_gives() -> None:
    raw = answer()
    parsed = create_parser("json").parse(
        {"headers": raw.headers, "status_code": raw.status, "body": raw.body, "context": {}},
        None,
    )
    assert success_metadata(raw) == parsed["ResponseMetadata"]
    without_id = RawResponse(200, {"content-length": "2"}, b"{}")
    assert success_metadata(without_id) == {
        "HTTPStatusCode": 200,
        "HTTPHeaders": {"content-length": "2"},
    }
