"""The orders service on FastAPI: one Session per process, opened in the lifespan.

    uvicorn examples.fastapi_orders.app:app      # configured by Session.from_env()
    python -m examples.fastapi_orders             # also starts a DynamoDB Local if needed

Bodies are msgspec structs (or the model itself) decoded from ``Request.body()`` and encoded
into plain ``Response`` objects: no pydantic models on the request path.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, TypedDict

import msgspec
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from dynamorm_async import DynamormError, Session, SessionOptions

from . import orders
from .orders import MAX_PAGE_SIZE, NewOrder, Order, Problem, StatusChange

__all__ = ["app", "create_app"]

log = logging.getLogger(__name__)


class State(TypedDict):
    db: Session


def session(request: Request) -> Session:
    """The process's Session, put in the lifespan state at startup."""
    db: Session = request.state.db
    return db


Db = Annotated[Session, Depends(session)]
router = APIRouter()


def json_response(value: object, status: int = 200) -> Response:
    return Response(orders.encode(value), status_code=status, media_type="application/json")


@router.post("/orders", status_code=201)
async def create_order(request: Request, db: Db) -> Response:
    body = orders.decode(await request.body(), NewOrder)
    return json_response(await orders.create_order(db, body), 201)


@router.post("/orders/import")
async def import_orders(request: Request, db: Db) -> Response:
    bodies = orders.decode(await request.body(), list[NewOrder])
    return json_response(await orders.import_orders(db, bodies))


@router.get("/orders/{customer}/{order_id}")
async def get_order(customer: str, order_id: str, db: Db) -> Response:
    return json_response(await orders.get_order(db, customer, order_id))


@router.patch("/orders/{customer}/{order_id}")
async def change_status(customer: str, order_id: str, request: Request, db: Db) -> Response:
    change = orders.decode(await request.body(), StatusChange)
    return json_response(await orders.change_status(db, customer, order_id, change))


@router.get("/customers/{customer}/orders")
async def list_orders(
    customer: str,
    db: Db,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    cursor: str | None = None,
) -> Response:
    return json_response(await orders.list_orders(db, customer, size, cursor))


@router.get("/totals")
async def status_totals(db: Db, customer: str | None = None) -> Response:
    return json_response(await orders.status_totals(db, customer))


async def error_response(request: Request, exc: Exception) -> Response:
    mapped = orders.problem_for(exc)
    if mapped is None:
        log.error("request failed: %s %s", request.method, request.url.path, exc_info=exc)
        return json_response(Problem("internal", "the request failed; see the server log"), 500)
    status, problem = mapped
    return json_response(problem, status)


async def invalid_parameters(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    detail = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )
    return json_response(Problem("invalid_request", detail), 422)


def create_app(session_options: SessionOptions | None = None) -> FastAPI:
    """Build the app; its Session, ``Session.from_env(**session_options)``, opens when the
    server starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        async with Session.from_env(**(session_options or {})) as db:
            await db.ensure_table(Order)
            yield {"db": db}

    application = FastAPI(title="orders", lifespan=lifespan)
    application.include_router(router)
    application.add_exception_handler(DynamormError, error_response)
    # msgspec's DecodeError (and its ValidationError) come from decoding request bodies.
    application.add_exception_handler(msgspec.DecodeError, error_response)
    application.add_exception_handler(RequestValidationError, invalid_parameters)
    return application


app = create_app()
