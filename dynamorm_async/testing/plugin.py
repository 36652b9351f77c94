"""pytest plugin: the ``dynamodb_endpoint`` and ``dynamodb_session`` fixtures.

pytest loads it through the package's ``pytest11`` entry point; ``-p dynamorm_async.testing``
and ``pytest_plugins = ["dynamorm_async.testing"]`` name it too (through the package's own
``pytest_plugins``), and every spelling registers the fixtures once. pytest-asyncio is optional:
when it is importable it runs ``dynamodb_session``; without it, anyio's pytest plugin (anyio is
a dependency of this library) runs it in tests marked ``@pytest.mark.anyio``.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar, cast

import pytest

from .._session import Session
from . import dynamodb_endpoint_context, local_session

__all__ = ["dynamodb_endpoint", "dynamodb_session"]

F = TypeVar("F", bound=Callable[..., Any])

_NO_RUNNER = (
    "dynamodb_session is an async fixture and no plugin runs it for this test: install "
    'pytest-asyncio (with asyncio_mode = "auto", or mark the test @pytest.mark.asyncio), or '
    "mark the test @pytest.mark.anyio"
)


def _async_fixture(function: F) -> F:
    """A fixture pytest-asyncio runs when it is installed, else a plain async fixture."""
    try:
        from pytest_asyncio import fixture
    except ImportError:
        # Importing this plugin must not fail: a project without pytest-asyncio would not get
        # as far as running pytest.
        return cast(F, pytest.fixture(function))
    return cast(F, fixture(function))


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """URL of a DynamoDB Local for the whole test session (started once, stopped at the end)."""
    with dynamodb_endpoint_context() as endpoint:
        yield endpoint


@_async_fixture
async def dynamodb_session(dynamodb_endpoint: str) -> AsyncIterator[Session]:
    """A Session whose tables carry a prefix unique to this test; they are dropped afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    async with local_session(dynamodb_endpoint, table_prefix=prefix) as session:
        try:
            yield session
        finally:
            for name in await session.list_tables():
                await session.delete_table(name, wait=False)


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any]) -> None:
    """Fail with what to install when no plugin turned ``dynamodb_session`` into a runnable one.

    pytest-asyncio and anyio replace an async fixture's function before this hook runs (the
    check pytest itself makes after it), so a fixture still async here runs nowhere.
    """
    if fixturedef.argname == "dynamodb_session" and inspect.isasyncgenfunction(fixturedef.func):
        pytest.fail(_NO_RUNNER, pytrace=False)
