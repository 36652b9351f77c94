"""The FastAPI orders service on a real uvicorn server, driven over TCP with httpx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

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
from examples.fastapi_orders.orders import (
    ImportResult,
    NewOrder,
    Order,
    OrderPage,
    StatusChange,
    StatusTotal,
    Totals,
    problem_for,
)
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


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_schema(operation: dict[str, Any], status: str | None = None) -> Any:
    """The JSON schema of an operation's request body, or of its answer with ``status``."""
    part = operation["requestBody"] if status is None else operation["responses"][status]
    return part["content"]["application/json"]["schema"]


async def test_the_openapi_document_lists_the_models(
    dynamodb_endpoint: str, dynamodb_session: Session
) -> None:
    async with running(dynamodb_endpoint, dynamodb_session) as url, client(url) as http:
        answer = await http.get("/openapi.json")
        docs = await http.get("/docs")
    assert answer.status_code == 200 and docs.status_code == 200
    document = answer.json()
    schemas = document["components"]["schemas"]

    # Every field of every body and answer, as msgspec encodes it.
    for struct in (Order, NewOrder, StatusChange, OrderPage, ImportResult, Totals, StatusTotal):
        fields = msgspec.structs.fields(struct)
        assert list(schemas[struct.__name__]["properties"]) == [f.encode_name for f in fields]
        required = [f.encode_name for f in fields if f.required]
        assert sorted(schemas[struct.__name__].get("required", [])) == sorted(required)
    order = schemas["Order"]["properties"]
    assert order["status"] == {"enum": ["cancelled", "new", "paid", "shipped"], "default": "new"}
    assert order["total"] == {"type": "string", "format": "decimal", "default": "0"}
    assert schemas["NewOrder"]["properties"]["qty"]["minimum"] == 1
    assert schemas["OrderPage"]["properties"]["items"]["items"] == ref("Order")
    # Order.total on the class is an attribute path; none of that reaches the document.
    assert "AttributePath" not in json.dumps(document)

    paths = document["paths"]
    create = paths["/orders"]["post"]
    assert json_schema(create) == ref("NewOrder")
    assert json_schema(create, "201") == ref("Order")
    assert json_schema(create, "409") == ref("Problem")
    assert json_schema(paths["/orders/import"]["post"]) == {
        "type": "array",
        "items": ref("NewOrder"),
    }
    assert json_schema(paths["/orders/import"]["post"], "200") == ref("ImportResult")
    one = "/orders/{customer}/{order_id}"
    assert json_schema(paths[one]["get"], "200") == ref("Order")
    assert json_schema(paths[one]["get"], "404") == ref("Problem")
    assert json_schema(paths[one]["patch"]) == ref("StatusChange")
    assert json_schema(paths["/customers/{customer}/orders"]["get"], "200") == ref("OrderPage")
    assert json_schema(paths["/totals"]["get"], "200") == ref("Totals")


async def test_body_errors_name_the_field_path(
    dynamodb_endpoint: str, dynamodb_session: Session
) -> None:
    lines = {"customer": "ada", "order_id": "A-1", "total": "1", "qty": 0}
    async with running(dynamodb_endpoint, dynamodb_session) as url, client(url) as http:
        one = await http.post("/orders", json=lines)
        many = await http.post("/orders/import", json=[lines | {"qty": 1}, lines])
        missing = await http.post("/orders", json={"customer": "ada", "total": "1"})
        malformed = await http.post("/orders", content=b'{"customer": ')
    assert (one.status_code, one.json()) == (
        422,
        {"error": "invalid_body", "detail": "body.qty: Expected `int` >= 1"},
    )
    assert many.json()["detail"] == "body.1.qty: Expected `int` >= 1"
    assert missing.json()["detail"].startswith("body.order_id: Object missing required field")
    assert (malformed.status_code, malformed.json()["error"]) == (400, "malformed_json")


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
