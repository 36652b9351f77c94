"""Testing helpers: DynamoDB Local discovery and pytest fixtures.

The pytest plugin (``dynamorm_async.testing.plugin``, registered as an entry point; naming this
package in ``pytest_plugins`` or ``-p`` loads it too) provides ``dynamodb_endpoint``
(``DYNAMODB_ENDPOINT``, else Docker through testcontainers, else the DynamoDB Local jar run with
Java) and ``dynamodb_session`` (a Session with a unique table prefix per test whose tables are
dropped afterwards). ``local_transport`` and ``RecordingTransport`` let a test see the requests
a Session sends, through ``transport=``.

PYTEST_DONT_REWRITE: pytest may be asked to load this package as a plugin after the entry
point imported it; it holds no assertions to rewrite.
"""

from __future__ import annotations

from typing import Any

from .._session import Session
from .._transport.client import AiobotocoreTransport
from .._transport.protocol import ClientOptions
from ._local import (
    LocalDynamoDB,
    LocalDynamoDBUnavailable,
    docker_available,
    dynamodb_endpoint_context,
    jar_dir,
)
from ._recording import RecordingTransport, SentRequest

__all__ = [
    "LocalDynamoDB",
    "LocalDynamoDBUnavailable",
    "RecordingTransport",
    "SentRequest",
    "docker_available",
    "dynamodb_endpoint_context",
    "jar_dir",
    "local_session",
    "local_transport",
]

# pytest reads this when the package itself is named as a plugin; the fixtures live in (and
# are registered once, from) the plugin module, which imports pytest. This package does not:
# applications use local_session and dynamodb_endpoint_context without pytest installed.
pytest_plugins = ["dynamorm_async.testing.plugin"]

# DynamoDB Local accepts any credentials but botocore insists on some, and on a region.
_LOCAL: dict[str, Any] = {
    "region_name": "us-east-1",
    "aws_access_key_id": "local",
    "aws_secret_access_key": "local",
}


def local_session(endpoint_url: str, **options: Any) -> Session:
    """A Session for DynamoDB Local (dummy credentials, us-east-1)."""
    return Session(endpoint_url=endpoint_url, **_LOCAL, **options)


def local_transport(endpoint_url: str, **options: Any) -> AiobotocoreTransport:
    """The default transport for DynamoDB Local, for ``Session(transport=...)``; ``options``
    are further :class:`ClientOptions` fields."""
    return AiobotocoreTransport(ClientOptions(endpoint_url=endpoint_url, **_LOCAL, **options))
