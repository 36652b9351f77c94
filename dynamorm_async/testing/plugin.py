"""pytest plugin: ``dynamodb_endpoint`` and ``dynamodb_session`` fixtures."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from .._session import Session
from ..testing import dynamodb_endpoint_context, local_session

__all__ = ["dynamodb_endpoint", "dynamodb_session"]


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """URL of a DynamoDB Local for the whole test session (started once, stopped at the end)."""
    with dynamodb_endpoint_context() as endpoint:
        yield endpoint


@pytest_asyncio.fixture
async def dynamodb_session(dynamodb_endpoint: str) -> AsyncIterator[Session]:
    """A Session whose tables carry a prefix unique to this test; they are dropped afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    async with local_session(dynamodb_endpoint, table_prefix=prefix) as session:
        try:
            yield session
        finally:
            for name in await session.list_tables():
                await session.delete_table(name, wait=False)
