"""The data plane's HTTP connection pool: one aiohttp session, failures raised as botocore's.

The pool is configured the way aiobotocore configures the client's own (connections,
keep-alive, connect and read timeouts, certificate verification), and a failure to get an
answer is raised as the botocore exception aiobotocore raises for it (``EndpointConnectionError``,
``ConnectionClosedError``, ``ReadTimeoutError``...), because botocore's retry handlers decide
on those classes.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from typing import Any

import aiohttp
import anyio
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
    SSLError,
)
from botocore.httpsession import create_urllib3_context, get_cert_path
from yarl import URL

from .answers import RawResponse

__all__ = ["HttpPool", "resolve_verify"]

# aiobotocore's keep-alive for idle pooled connections (aiobotocore._constants).
_KEEPALIVE_SECONDS = 12.0


def resolve_verify(ca_bundle: str | None) -> bool | str:
    """Certificate verification as botocore resolves it: the ``ca_bundle`` setting
    (``AWS_CA_BUNDLE`` or the profile), else ``REQUESTS_CA_BUNDLE``, else the default bundle."""
    if ca_bundle is not None:
        return ca_bundle
    return os.environ.get("REQUESTS_CA_BUNDLE", True)


def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    # aiobotocore's verify context: urllib3's defaults, host names checked by the context.
    context: ssl.SSLContext = create_urllib3_context()
    if verify:
        context.check_hostname = True
        ca_certs = get_cert_path(verify)
        if ca_certs:
            context.load_verify_locations(ca_certs, None, None)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class HttpPool:
    """POSTs over a pool of keep-alive connections to ``http`` or ``https`` endpoints (one
    scheme per pool; ``open`` before use)."""

    def __init__(
        self,
        scheme: str,
        *,
        max_connections: int,
        connect_timeout: float,
        read_timeout: float,
        verify: bool | str,
    ) -> None:
        self.scheme = scheme
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(sock_connect=connect_timeout, sock_read=read_timeout)
        self._verify = verify
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """Create the session; certificates are loaded in a worker thread (file I/O)."""
        if self._session is not None:
            return
        tls: ssl.SSLContext | bool = True
        if self.scheme == "https":
            tls = await anyio.to_thread.run_sync(_ssl_context, self._verify)
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, ssl=tls, keepalive_timeout=_KEEPALIVE_SECONDS
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def post(self, url: URL, headers: dict[str, str], body: bytes) -> RawResponse:
        """Send one request and read the whole answer; failures are botocore's exceptions."""
        session = self._session
        if session is None:
            raise HTTPClientError(error="the data-plane connection pool is closed")
        try:
            response = await session.post(url, data=body, headers=headers)
            try:
                content = await response.read()
            finally:
                response.release()
        except Exception as exc:
            raise _botocore_error(str(url), exc) from exc
        answer_headers = {
            name.decode("utf-8").lower(): value.decode("utf-8")
            for name, value in response.raw_headers
        }
        return RawResponse(response.status, answer_headers, content)


def _botocore_error(url: str, exc: Exception) -> Exception:
    """The exception aiobotocore's session raises for the same aiohttp failure."""
    error: Any
    if isinstance(exc, aiohttp.ClientSSLError):
        error = SSLError(endpoint_url=url, error=exc)
    elif isinstance(
        exc,
        aiohttp.ServerDisconnectedError
        | aiohttp.ClientPayloadError
        | aiohttp.http_exceptions.BadStatusLine,
    ):
        error = ConnectionClosedError(error=exc, request=None, endpoint_url=url)
    elif isinstance(exc, aiohttp.ServerTimeoutError):
        timeout = (
            ConnectTimeoutError
            if str(exc).lower().startswith("connect")
            else ReadTimeoutError
        )
        error = timeout(endpoint_url=url, error=exc)
    elif isinstance(exc, aiohttp.ClientConnectionError | socket.gaierror):
        error = EndpointConnectionError(endpoint_url=url, error=exc)
    elif isinstance(exc, asyncio.TimeoutError):
        error = ReadTimeoutError(endpoint_url=url, error=exc)
    else:
        error = HTTPClientError(error=exc)
    return error  # type: ignore[no-any-return]
