"""DynamoDB's HTTP answers as the data plane reads them: status, headers, body (pure).

DynamoDB sends the CRC32 of every answer body in ``x-amz-crc32``; botocore treats a mismatch
as a damaged answer and retries it in every retry mode. An answer with a success status and a
matching (or absent) checksum is one no retry mode retries.
"""

from __future__ import annotations

import zlib
from typing import Any, NamedTuple

import msgspec

__all__ = ["RawResponse", "crc32_matches", "read_answer", "settled", "success_metadata"]

_CRC32_HEADER = "x-amz-crc32"


class RawResponse(NamedTuple):
    """An HTTP answer: status, headers (lower-case names, as aiobotocore hands them on), body."""

    status: int
    headers: dict[str, str]
    body: bytes


def crc32_matches(raw: RawResponse) -> bool:
    """True unless ``x-amz-crc32`` is present and differs from the body's CRC32."""
    expected = raw.headers.get(_CRC32_HEADER)
    if expected is None:
        return True
    try:
        return int(expected) == zlib.crc32(raw.body) & 0xFFFFFFFF
    except ValueError:
        return False


def settled(raw: RawResponse) -> bool:
    """A success status with an intact body: botocore's standard and legacy modes never retry
    it (nor does adaptive, though its rate limiter still measures it)."""
    return 200 <= raw.status < 300 and crc32_matches(raw)


def success_metadata(raw: RawResponse) -> dict[str, Any]:
    """The ``ResponseMetadata`` botocore's parser gives a successful answer (the retry count
    is added once the call is over)."""
    metadata: dict[str, Any] = {}
    request_id = raw.headers.get("x-amzn-requestid")
    if request_id is not None:
        metadata["RequestId"] = request_id
    metadata["HTTPStatusCode"] = raw.status
    metadata["HTTPHeaders"] = raw.headers
    return metadata


class _ReadAnswer(msgspec.Struct):
    """A Query or Scan answer (every member DynamoDB documents), ``Items`` left as JSON."""

    Items: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    Count: int | msgspec.UnsetType = msgspec.UNSET
    ScannedCount: int | msgspec.UnsetType = msgspec.UNSET
    LastEvaluatedKey: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    ConsumedCapacity: Any = msgspec.UNSET


_read_answer = msgspec.json.Decoder(_ReadAnswer)


def read_answer(body: bytes) -> dict[str, Any]:
    """A Query or Scan answer's members, its ``Items`` the undecoded JSON array
    (``msgspec.Raw``) for the reader to decode into its own types; DecodeError (or its
    ValidationError subclass) when the body is not such an answer."""
    answer = _read_answer.decode(body)
    return {
        name: value
        for name in _ReadAnswer.__struct_fields__
        if (value := getattr(answer, name)) is not msgspec.UNSET
    }
