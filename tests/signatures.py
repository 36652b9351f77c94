"""botocore's own SigV4 signature of a DynamoDB request, to check the transport's signer against.

botocore's ``SigV4Auth`` is driven through its public steps (canonical request, string to sign,
signature) with a given timestamp, on a request carrying the headers botocore's client has at
signing time.
"""

from __future__ import annotations

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

__all__ = ["botocore_signature", "parse_authorization"]

JSON_CONTENT_TYPE = "application/x-amz-json-1.0"


def botocore_signature(
    url: str,
    region: str,
    credentials: Credentials,
    *,
    target: str,
    body: bytes,
    date: str,
) -> tuple[str, str]:
    """(signature, signed header names) as botocore computes them for this request."""
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "X-Amz-Target": target,
            "Content-Type": JSON_CONTENT_TYPE,
            "User-Agent": "aiobotocore/3 botocore/1",
            "X-Amz-Date": date,
        },
    )
    if credentials.token:
        request.headers["X-Amz-Security-Token"] = credentials.token
    request.context["timestamp"] = date
    auth = SigV4Auth(credentials, "dynamodb", region)
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    return signature, auth.signed_headers(auth.headers_to_sign(request))


def parse_authorization(value: str) -> tuple[str, str, str]:
    """(credential, signed header names, signature) of an ``Authorization`` header."""
    algorithm, _, rest = value.partition(" ")
    assert algorithm == "AWS4-HMAC-SHA256", value
    fields = dict(part.strip().split("=", 1) for part in rest.split(","))
    return fields["Credential"], fields["SignedHeaders"], fields["Signature"]
