"""Testing helpers: DynamoDB Local discovery and pytest fixtures.

The pytest plugin (``dynamorm_async.testing.plugin``, registered as an entry point) provides
``dynamodb_endpoint`` (``DYNAMODB_ENDPOINT``, else Docker through testcontainers, else the
DynamoDB Local jar run with Java) and ``dynamodb_session`` (a Session with a unique table
prefix per test whose tables are dropped afterwards).
"""

from __future__ import annotations

from typing import Any

from .._session import Session
from ._local import (
    LocalDynamoDB,
    LocalDynamoDBUnavailable,
    docker_available,
    dynamodb_endpoint_context,
    jar_dir,
)

__all__ = [
    "LocalDynamoDB",
    "LocalDynamoDBUnavailable",
    "docker_available",
    "dynamodb_endpoint_context",
    "jar_dir",
    "local_session",
]


def local_session(endpoint_url: str, **options: Any) -> Session:
    """A Session for DynamoDB Local (dummy credentials, us-east-1)."""
    return Session(
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        **options,
    )
