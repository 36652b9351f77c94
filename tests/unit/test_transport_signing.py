"""The data plane's SigV4 signer gives botocore's own signature for the same request and time.

``tests/signatures.py`` drives botocore's ``SigV4Auth`` with the timestamp the signer used;
equal signatures and signed-header lists prove the two sign alike.
"""

from __future__ import annotations

import pytest
from botocore.credentials import Credentials as BotocoreCredentials
from hypothesis import given
from hypothesis import strategies as st

from dynamorm_async._transport.signing import (
    JSON_CONTENT_TYPE,
    Credentials,
    SigV4Signer,
    amz_date,
    host_of,
    path_of,
)
from tests.signatures import botocore_signature, parse_authorization

pytestmark = pytest.mark.timeout(60)

TARGET = "DynamoDB_20120810.GetItem"
BODY = b'{"TableName":"orders","Key":{"pk":{"S":"ada"}}}'


def expected(
    url: str, region: str, credentials: Credentials, body: bytes, date: str
) -> tuple[str, str]:
    """botocore's (signature, signed headers) for a GetItem request."""
    return botocore_signature(
        url,
        region,
        BotocoreCredentials(credentials.access_key, credentials.secret_key, credentials.token),
        target=TARGET,
        body=body,
        date=date,
    )


@pytest.mark.parametrize(
    ("url", "region", "token"),
    [
        ("https://dynamodb.eu-west-1.amazonaws.com", "eu-west-1", None),
        ("https://dynamodb.us-east-1.amazonaws.com", "us-east-1", "FwoGZXIvYXdzE//session"),
        ("http://127.0.0.1:8000", "us-east-1", None),
        ("http://localhost:8000/dynamo/./v1/../api", "local", "token with  spaces "),
        ("https://[::1]:8443/", "ap-south-2", None),
        ("https://123456789012.ddb.us-west-2.amazonaws.com:443", "us-west-2", "t"),
    ],
)
def test_the_signature_is_botocores(url: str, region: str, token: str | None) -> None:
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    date = amz_date(1_767_225_600.0)
    headers = SigV4Signer(url, region, "dynamodb").headers(credentials, TARGET, BODY, date)

    credential, signed, signature = parse_authorization(headers["Authorization"])
    assert (signature, signed) == expected(url, region, credentials, BODY, date)
    assert credential == f"AKIDEXAMPLE/{date[:8]}/{region}/dynamodb/aws4_request"
    assert headers["X-Amz-Date"] == date
    assert headers["X-Amz-Target"] == TARGET
    assert headers["Content-Type"] == JSON_CONTENT_TYPE
    assert headers.get("X-Amz-Security-Token") == token
    assert headers["Host"] == host_of(url)


def signs_like_botocore(
    signer: SigV4Signer, url: str, region: str, credentials: Credentials, body: bytes, date: str
) -> bool:
    _, _, signature = parse_authorization(
        signer.headers(credentials, TARGET, body, date)["Authorization"]
    )
    return signature == expected(url, region, credentials, body, date)[0]


@given(
    secret=st.text(min_size=1, max_size=60),
    body=st.binary(max_size=300),
    when=st.floats(min_value=0, max_value=4_102_444_800),
)
def test_any_secret_body_and_time_signs_like_botocore(
    secret: str, body: bytes, when: float
) -> None:
    url = "https://dynamodb.eu-central-1.amazonaws.com"
    signer = SigV4Signer(url, "eu-central-1", "dynamodb")
    credentials = Credentials("AKID", secret, None)
    assert signs_like_botocore(signer, url, "eu-central-1", credentials, body, amz_date(when))


def test_the_cached_key_follows_the_secret_and_the_day() -> None:
    url = "https://dynamodb.us-east-1.amazonaws.com"
    signer = SigV4Signer(url, "us-east-1", "dynamodb")
    old = Credentials("AKID", "old-secret", None)
    new = Credentials("AKID", "new-secret", None)
    day_one, day_two = amz_date(1_767_225_599.0), amz_date(1_767_225_600.0)
    for credentials, date in [(old, day_one), (old, day_two), (new, day_two), (old, day_one)]:
        assert signs_like_botocore(signer, url, "us-east-1", credentials, BODY, date)


def test_hosts_and_paths_are_what_botocore_sends() -> None:
    assert host_of("https://dynamodb.us-east-1.amazonaws.com:443") == (
        "dynamodb.us-east-1.amazonaws.com"
    )
    assert host_of("http://LOCALHOST:80/x") == "localhost"
    assert host_of("http://127.0.0.1:8000") == "127.0.0.1:8000"
    assert host_of("https://[::1]:8443") == "[::1]:8443"
    assert path_of("http://127.0.0.1:8000") == "/"
    assert path_of("http://127.0.0.1:8000/prefix/") == "/prefix/"
    assert amz_date(0.0) == "19700101T000000Z"
