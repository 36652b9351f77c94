"""AWS Signature Version 4 for DynamoDB's JSON requests, with the signing key cached.

botocore derives the signing key (four HMACs) and rebuilds every intermediate string for every
request. For the data-plane requests of one client only the date, the body and the target
change: the key is derived once per secret, day, region and service, and the canonical request
is assembled from pre-rendered parts. The result is the signature botocore's ``SigV4Auth``
computes for the same request and time (``tests/unit/test_transport_signing.py`` checks it
against botocore itself). Pure: standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote, urlsplit

__all__ = ["JSON_CONTENT_TYPE", "Credentials", "SigV4Signer", "amz_date", "host_of", "path_of"]

JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
_ALGORITHM = "AWS4-HMAC-SHA256"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Credentials(NamedTuple):
    """One frozen set of AWS credentials (botocore's ``ReadOnlyCredentials`` has this shape)."""

    access_key: str
    secret_key: str
    token: str | None


def amz_date(now: float | None = None) -> str:
    """``X-Amz-Date`` for a POSIX time (default: now), as ``20260101T120000Z``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))


def host_of(url: str) -> str:
    """The ``Host`` header botocore signs for an endpoint: the port only when not the default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    return host


def path_of(url: str) -> str:
    """The request path of an endpoint URL (``/`` when it has none), as botocore joins it."""
    return urlsplit(url).path or "/"


def _canonical_path(path: str) -> str:
    # botocore normalizes dot segments, keeps a trailing slash and quotes with "/~" safe.
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    normalized = "/" + "/".join(segments)
    if path.endswith("/") and normalized != "/":
        normalized += "/"
    return quote(normalized, safe="/~")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


@dataclass(slots=True)
class _Key:
    secret_key: str
    day: str
    key: bytes


class SigV4Signer:
    """Signs POST requests of one endpoint, region and service; one instance per route.

    ``headers(...)`` returns every header the request needs, ``Authorization`` included. The
    signing key is derived again only when the secret key or the day changes (refreshed
    credentials, midnight UTC).
    """

    def __init__(self, url: str, region: str, service: str) -> None:
        self.host = host_of(url)
        self._path = _canonical_path(path_of(url))
        self._region = region
        self._service = service
        self._key: _Key | None = None

    def _signing_key(self, secret_key: str, day: str) -> bytes:
        cached = self._key
        if cached is not None and cached.day == day and cached.secret_key == secret_key:
            return cached.key
        key = _hmac(("AWS4" + secret_key).encode("utf-8"), day)
        for part in (self._region, self._service, "aws4_request"):
            key = _hmac(key, part)
        self._key = _Key(secret_key, day, key)
        return key

    def headers(
        self, credentials: Credentials, target: str, body: bytes, date: str
    ) -> dict[str, str]:
        """The signed headers of one request: ``target`` is ``DynamoDB_20120810.GetItem``..."""
        day = date[:8]
        scope = f"{day}/{self._region}/{self._service}/aws4_request"
        token = credentials.token
        if token:
            names = "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
            canonical_headers = (
                f"content-type:{JSON_CONTENT_TYPE}\nhost:{self.host}\nx-amz-date:{date}\n"
                f"x-amz-security-token:{' '.join(token.split())}\nx-amz-target:{target}\n"
            )
        else:
            names = "content-type;host;x-amz-date;x-amz-target"
            canonical_headers = (
                f"content-type:{JSON_CONTENT_TYPE}\nhost:{self.host}\nx-amz-date:{date}\n"
                f"x-amz-target:{target}\n"
            )
        canonical_request = (
            f"POST\n{self._path}\n\n{canonical_headers}\n{names}\n"
            f"{hashlib.sha256(body).hexdigest()}"
        )
        string_to_sign = (
            f"{_ALGORITHM}\n{date}\n{scope}\n"
            f"{hashlib.sha256(canonical_request.encode('utf-8')).hexdigest()}"
        )
        signature = hmac.new(
            self._signing_key(credentials.secret_key, day),
            string_to_sign.encode("utf-8"),
            hashlib.sha256,
        ).hexdigest()
        headers = {
            "Host": self.host,
            "X-Amz-Target": target,
            "Content-Type": JSON_CONTENT_TYPE,
            "X-Amz-Date": date,
            "Authorization": (
                f"{_ALGORITHM} Credential={credentials.access_key}/{scope}, "
                f"SignedHeaders={names}, Signature={signature}"
            ),
        }
        if token:
            headers["X-Amz-Security-Token"] = token
        return headers
