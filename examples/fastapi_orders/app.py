"""The orders service on FastAPI: one Session per process, opened in the lifespan.

    uvicorn examples.fastapi_orders.app:app      # configured by Session.from_env()
    python -m examples.fastapi_orders             # also starts a DynamoDB Local if needed

Bodies and responses are the model and msgspec structs, through ``dynamorm_async.fastapi``:
``MsgspecBody`` decodes and validates a body, the routes encode what they return with msgspec,
and ``/openapi.json`` (browse it at ``/docs``) lists every field of every body and answer. No
pydantic model is on the request path.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypedDict

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from dynamorm_async import DynamormError, Session, SessionOptions
from dynamorm_async.fastapi import MsgspecBody, MsgspecResponse, MsgspecRoute, use_msgspec

from . import orders
from .orders import (
    MAX_PAGE_SIZE,
    ImportResult,
    NewOrder,
    Order,
    OrderPage,
    Problem,
    StatusChange,
    Totals,
)

__all__ = ["app", "create_app"]

log = logging.getLogger(__name__)


class State(TypedDict):
    db: Session


def session(request: Request) -> Session:
    """The process's Session, put in the lifespan state at startup."""
    db: Session = request.state.db
    return db


Db = Annotated[Session, Depends(session)]
router = APIRouter(route_class=MsgspecRoute)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry documenting these error answers as Problem bodies."""
    return {status: {"model": Problem} for status in statuses}


@router.post("/orders", status_code=201, responses=problems(400, 409))
async def create_order(body: Annotated[NewOrder, MsgspecBody(NewOrder)], db: Db) -> Order:
    """Create an order (409 when the customer already has this order id)."""
    return await orders.create_order(db, body)


@router.post("/orders/import", responses=problems(400))
async def import_orders(
    bodies: Annotated[list[NewOrder], MsgspecBody(list[NewOrder])], db: Db
) -> ImportResult:
    """Write many orders at once; existing orders with the same key are replaced."""
    return await orders.import_orders(db, bodies)


@router.get("/orders/{customer}/{order_id}", responses=problems(404))
async def get_order(customer: str, order_id: str, db: Db) -> Order:
    """Read one order."""
    return await orders.get_order(db, customer, order_id)


@router.patch("/orders/{customer}/{order_id}", responses=problems(400, 404, 409))
async def change_status(
    customer: str,
    order_id: str,
    change: Annotated[StatusChange, MsgspecBody(StatusChange)],
    db: Db,
) -> Order:
    """Set an order's status if it is still at the version the client saw (409 otherwise)."""
    return await orders.change_status(db, customer, order_id, change)


@router.get("/customers/{customer}/orders", responses=problems(400))
async def list_orders(
    customer: str,
    db: Db,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    cursor: str | None = None,
) -> OrderPage:
    """One page of a customer's orders, with cursors to the pages around it."""
    return await orders.list_orders(db, customer, size, cursor)


@router.get("/totals")
async def status_totals(db: Db, customer: str | None = None) -> Totals:
    """Order count and summed totals per status, for one customer or everyone."""
    return await orders.status_totals(db, customer)


async def error_response(request: Request, exc: Exception) -> Response:
    mapped = orders.problem_for(exc)
    if mapped is None:
        log.error("request failed: %s %s", request.method, request.url.path, exc_info=exc)
        return MsgspecResponse(Problem("internal", "the request failed; see the server log"), 500)
    status, problem = mapped
    return MsgspecResponse(problem, status)


async def invalid_request(request: Request, exc: Exception) -> Response:
    """FastAPI's validation errors (parameters, and bodies through MsgspecBody) as Problems."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    detail = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in errors
    )
    if any(error["type"] == "json_invalid" for error in errors):
        return MsgspecResponse(Problem("malformed_json", detail), 400)
    code = (
        "invalid_body" if all(error["loc"][0] == "body" for error in errors) else "invalid_request"
    )
    return MsgspecResponse(Problem(code, detail), 422)


def create_app(session_options: SessionOptions | None = None) -> FastAPI:
    """Build the app; its Session, ``Session.from_env(**session_options)``, opens when the
    server starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        async with Session.from_env(**(session_options or {})) as db:
            await db.ensure_table(Order)
            yield {"db": db}

    application = use_msgspec(FastAPI(title="orders", lifespan=lifespan))
    application.include_router(router)
    application.add_exception_handler(DynamormError, error_response)
    application.add_exception_handler(RequestValidationError, invalid_request)
    return application


app = create_app()
