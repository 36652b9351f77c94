"""The aiohttp orders service on a real aiohttp server, driven over TCP with httpx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from dynamorm_async import DynamormError, RequestEvent, Session, ValidationError
from examples.aiohttp_orders.app import DB, create_app
from examples.aiohttp_orders.server import serving
from tests.integration.service_scenarios import (
    check_concurrent_requests,
    check_crud_and_errors,
    check_pagination,
    check_totals,
    client,
    session_options,
    settle,
)

pytestmark = pytest.mark.timeout(240)


@asynccontextmanager
async def running(
    endpoint: str, db: Session, events: list[RequestEvent] | None = None
) -> AsyncIterator[str]:
    """Serve the app on a free loopback port; afterwards no task of the server is left and
    the app's Session is closed."""
    before = asyncio.all_tasks()
    app = create_app(session_options(endpoint, db.table_prefix, events))
    async with serving(app) as url:
        yield url
    with pytest.raises(DynamormError, match="not open"):
        await app[DB].list_tables()  # the app closed its Session on shutdown
    await settle()
    leaked = {t for t in asyncio.all_tasks() - before if not t.done()}
    assert not leaked, leaked


async def test_create_get_update_and_error_answers(
    dynamodb_endpoint: str, dynamodb_session: Session
) -> None:
    async with running(dynamodb_endpoint, dynamodb_session) as url, client(url) as http:
        await check_crud_and_errors(http, dynamodb_session)
        # Routes the app does not have are aiohttp's own 404, not a Problem.
        assert (await http.get("/nowhere")).status_code == 404


async def test_cursor_pagination_forward_and_back(
    dynamodb_endpoint: str, dynamodb_session: Session
) -> None:
    async with running(dynamodb_endpoint, dynamodb_session) as url, client(url) as http:
        await check_pagination(http, dynamodb_session)


async def test_per_status_totals(dynamodb_endpoint: str, dynamodb_session: Session) -> None:
    async with running(dynamodb_endpoint, dynamodb_session) as url, client(url) as http:
        await check_totals(http, dynamodb_session)


async def test_200_concurrent_requests_through_one_session(
    dynamodb_endpoint: str, dynamodb_session: Session
) -> None:
    events: list[RequestEvent] = []
    async with running(dynamodb_endpoint, dynamodb_session, events) as url, client(url) as http:
        await check_concurrent_requests(http, dynamodb_session, events)


async def test_a_failing_startup_raises_and_leaves_nothing_listening() -> None:
    app = create_app({"max_concurrency": 0})
    with pytest.raises(ValidationError, match="max_concurrency"):
        async with serving(app):
            pass
