"""Models as Litestar request and response bodies, as they are, on a real uvicorn server.

Litestar decodes, validates and encodes msgspec structs itself and builds their OpenAPI schemas
with ``msgspec.inspect``; a ``Model`` is a struct whose class attributes are attribute paths,
and none of that may confuse it. The app here uses the orders domain of the example services
and a Session against DynamoDB Local; httpx drives it over TCP.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar, Request, Response, get, patch, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody

from dynamorm_async import DynamormError, Session, SessionOptions
from examples.fastapi_orders import orders
from examples.fastapi_orders.orders import NewOrder, Order, OrderPage, Problem, StatusChange
from examples.fastapi_orders.server import serving
from tests.integration.service_scenarios import session_options

pytestmark = pytest.mark.timeout(120)


@post("/orders")
async def create_order(data: JSONBody[NewOrder], db: NamedDependency[Session]) -> Order:
    return await orders.create_order(db, data)


@put("/orders")
async def put_order(data: JSONBody[Order], db: NamedDependency[Session]) -> Order:
    """The model itself as the request body."""
    return await db.put(data)


@get("/orders/{customer:str}/{order_id:str}")
async def get_order(
    customer: FromPath[str], order_id: FromPath[str], db: NamedDependency[Session]
) -> Order:
    return await orders.get_order(db, customer, order_id)


@patch("/orders/{customer:str}/{order_id:str}")
async def change_status(
    customer: FromPath[str],
    order_id: FromPath[str],
    data: JSONBody[StatusChange],
    db: NamedDependency[Session],
) -> Order:
    return await orders.change_status(db, customer, order_id, data)


@get("/customers/{customer:str}/orders")
async def list_orders(
    customer: FromPath[str],
    db: NamedDependency[Session],
    size: FromQuery[int] = 20,
    cursor: FromQuery[str | None] = None,
) -> OrderPage:
    return await orders.list_orders(db, customer, size, cursor)


def problem(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    mapped = orders.problem_for(exc)
    assert mapped is not None, exc
    status, body = mapped
    return Response(body, status_code=status)


def create_app(options: SessionOptions) -> Litestar:
    @asynccontextmanager
    async def session_lifespan(app: Litestar) -> AsyncIterator[None]:
        async with Session.from_env(**options) as db:
            await db.ensure_table(Order)
            app.state.db = db
            yield

    async def provide_db(state: State) -> Session:
        db: Session = state.db
        return db

    return Litestar(
        [create_order, put_order, get_order, change_status, list_orders],
        lifespan=[session_lifespan],
        dependencies={"db": Provide(provide_db)},
        exception_handlers={DynamormError: problem},
    )


@asynccontextmanager
async def served(endpoint: str, db: Session) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(session_options(endpoint, db.table_prefix))
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield http


async def test_models_and_structs_as_bodies_and_answers(
    dynamodb_endpoint: str, dynamodb_session: Session
) -> None:
    async with served(dynamodb_endpoint, dynamodb_session) as http:
        new = {"customer": "ada", "order_id": "A-1", "total": "12.50", "tags": ["gift"]}
        created = await http.post("/orders", json=new)
        assert created.status_code == 201, created.text
        order = msgspec.json.decode(created.content, type=Order)
        assert (order.total, order.tags, order.version) == (Decimal("12.50"), {"gift"}, 1)
        assert order.created_at is not None
        stored = await dynamodb_session.get(Order, customer="ada", order_id="A-1", consistent=True)
        assert stored == order

        got = await http.get("/orders/ada/A-1")
        assert msgspec.json.decode(got.content, type=Order) == order

        # The model itself as a body: every field, markers and all, decoded by Litestar.
        replaced = await http.put("/orders", json=msgspec.to_builtins(order) | {"qty": 3})
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["qty"] == 3 and replaced.json()["version"] == 2

        paid = await http.patch("/orders/ada/A-1", json={"status": "paid", "version": 2})
        assert (paid.json()["status"], paid.json()["version"]) == ("paid", 3)
        stale = await http.patch("/orders/ada/A-1", json={"status": "new", "version": 2})
        assert (stale.status_code, stale.json()["error"]) == (409, "version_conflict")
        assert (await http.get("/orders/ada/nope")).status_code == 404

        page = await http.get("/customers/ada/orders", params={"size": 5})
        assert msgspec.convert(page.json(), OrderPage).items[0].status == "paid"


async def test_invalid_bodies_are_refused_at_the_field_path(
    dynamodb_endpoint: str, dynamodb_session: Session
) -> None:
    async with served(dynamodb_endpoint, dynamodb_session) as http:
        bad_qty = {"customer": "ada", "order_id": "A-2", "total": "1", "qty": 0}
        refused = await http.post("/orders", json=bad_qty)
        wrong_type = await http.put("/orders", json={"customer": "ada", "order_id": 7})
    assert refused.status_code == 400
    [error] = refused.json()["extra"]
    assert (error["key"], error["source"]) == ("qty", "body")
    assert wrong_type.status_code == 400
    assert wrong_type.json()["extra"][0]["key"] == "order_id"
    assert not await dynamodb_session.scan(Order).all()


async def test_the_openapi_schema_lists_the_model_fields(
    dynamodb_endpoint: str, dynamodb_session: Session
) -> None:
    async with served(dynamodb_endpoint, dynamodb_session) as http:
        answer = await http.get("/schema/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    schemas = document["components"]["schemas"]

    for struct in (Order, NewOrder, StatusChange, OrderPage):
        fields = msgspec.structs.fields(struct)
        properties = schemas[struct.__name__]["properties"]
        assert list(properties) == [f.encode_name for f in fields], struct
        required = sorted(f.encode_name for f in fields if f.required)
        assert schemas[struct.__name__].get("required", []) == required
    order = schemas["Order"]["properties"]
    # Defaults are the fields' values, not the attribute paths the class attributes are.
    assert (order["status"]["default"], order["version"]["default"]) == ("new", 0)
    assert order["total"]["default"] == "0"
    assert "AttributePath" not in json.dumps(document)

    create = document["paths"]["/orders"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/NewOrder"}
    answer_schema = create["responses"]["201"]["content"]["application/json"]["schema"]
    assert answer_schema == {"$ref": "#/components/schemas/Order"}
    put_body = document["paths"]["/orders"]["put"]["requestBody"]["content"]
    assert put_body["application/json"]["schema"] == {"$ref": "#/components/schemas/Order"}
