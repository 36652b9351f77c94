"""The FastAPI orders service on a real uvicorn server, driven over TCP with httpx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
import pytest

from dynamorm_async import (
    ConditionFailed,
    DynamoDBError,
    InvalidCursor,
    ItemExists,
    ItemNotFound,
    RequestEvent,
    Session,
    ThrottledError,
    ValidationError,
)
from examples.fastapi_orders.app import create_app
from examples.fastapi_orders.orders import Order, problem_for
from examples.fastapi_orders.server import serving
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
    """Serve the app on a free loopback port; afterwards no task of the server is left."""
    before = asyncio.all_tasks()
    async with serving(create_app(session_options(endpoint, db.table_prefix, events))) as url:
        yield url
    await settle()
    leaked = {t for t in asyncio.all_tasks() - before if not t.done()}
    assert not leaked, leaked


async def test_create_get_update_and_error_answers(
    dynamodb_endpoint: str, dynamodb_session: Session
) -> None:
    async with running(dynamodb_endpoint, dynamodb_session) as url, client(url) as http:
        await check_crud_and_errors(http, dynamodb_session)


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


async def test_a_failing_startup_is_reported() -> None:
    # The lifespan cannot open a Session with these options; serving() says so, not hangs.
    with pytest.raises(RuntimeError, match="failed to start"):
        async with serving(create_app({"max_concurrency": 0})):
            pass


async def test_settings_come_from_the_environment(
    dynamodb_endpoint: str, dynamodb_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As deployed (`uvicorn examples.fastapi_orders.app:app`): Session.from_env() at startup.
    for name, value in {
        "DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "DYNAMORM_TABLE_PREFIX": dynamodb_session.table_prefix,
        "DYNAMORM_CURSOR_SECRET": "the same in every process",
    }.items():
        monkeypatch.setenv(name, value)
    orders = [{"customer": "ada", "order_id": f"A-{i}", "total": "1"} for i in range(3)]
    async with serving(create_app()) as first, serving(create_app()) as second:
        async with client(first) as http:
            assert (await http.post("/orders/import", json=orders)).status_code == 200
            page = (await http.get("/customers/ada/orders", params={"size": 2})).json()
        # The other process accepts the cursor: both sign with the environment's secret.
        async with client(second) as http:
            params = {"size": 2, "cursor": page["next"]}
            rest = (await http.get("/customers/ada/orders", params=params)).json()
    assert [o["order_id"] for o in page["items"] + rest["items"]] == ["A-0", "A-1", "A-2"]
    assert await dynamodb_session.get(Order, customer="ada", order_id="A-2", consistent=True)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ItemExists("exists"), 409, "order_exists"),
        (ConditionFailed("stale"), 409, "version_conflict"),
        (ItemNotFound("missing"), 404, "order_not_found"),
        (InvalidCursor("forged"), 400, "invalid_cursor"),
        (ValidationError("bad size"), 422, "invalid_request"),
        (ThrottledError("slow down"), 503, "throttled"),
        (msgspec.ValidationError("Expected `int`"), 422, "invalid_body"),
        (msgspec.DecodeError("truncated"), 400, "malformed_json"),
    ],
)
def test_errors_map_to_http_answers(error: Exception, status: int, code: str) -> None:
    mapped = problem_for(error)
    assert mapped is not None
    assert (mapped[0], mapped[1].error) == (status, code)


def test_other_errors_are_server_faults() -> None:
    assert problem_for(DynamoDBError("boom")) is None
    assert problem_for(RuntimeError("bug")) is None
