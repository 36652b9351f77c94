"""The orders service on aiohttp: one Session per process, opened in a cleanup context.

    python -m examples.aiohttp_orders             # also starts a DynamoDB Local if needed

Same routes, bodies and error answers as the FastAPI service; both share the framework-free
domain in ``examples.fastapi_orders.orders``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from dynamorm_async import Session, SessionOptions
from examples.fastapi_orders import orders
from examples.fastapi_orders.orders import NewOrder, Order, Problem, StatusChange

__all__ = ["DB", "create_app"]

log = logging.getLogger(__name__)

DB = web.AppKey("db", Session)
routes = web.RouteTableDef()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(value: object, status: int = 200) -> web.Response:
    return web.Response(body=orders.encode(value), status=status, content_type="application/json")


@routes.post("/orders")
async def create_order(request: web.Request) -> web.Response:
    body = orders.decode(await request.read(), NewOrder)
    return json_response(await orders.create_order(request.app[DB], body), 201)


@routes.post("/orders/import")
async def import_orders(request: web.Request) -> web.Response:
    bodies = orders.decode(await request.read(), list[NewOrder])
    return json_response(await orders.import_orders(request.app[DB], bodies))


@routes.get("/orders/{customer}/{order_id}")
async def get_order(request: web.Request) -> web.Response:
    customer, order_id = request.match_info["customer"], request.match_info["order_id"]
    return json_response(await orders.get_order(request.app[DB], customer, order_id))


@routes.patch("/orders/{customer}/{order_id}")
async def change_status(request: web.Request) -> web.Response:
    customer, order_id = request.match_info["customer"], request.match_info["order_id"]
    change = orders.decode(await request.read(), StatusChange)
    return json_response(await orders.change_status(request.app[DB], customer, order_id, change))


@routes.get("/customers/{customer}/orders")
async def list_orders(request: web.Request) -> web.Response:
    raw_size = request.query.get("size", "20")
    if not raw_size.isdigit():
        return json_response(Problem("invalid_request", "size: must be an integer"), 422)
    page = await orders.list_orders(
        request.app[DB],
        request.match_info["customer"],
        int(raw_size),
        request.query.get("cursor"),
    )
    return json_response(page)


@routes.get("/totals")
async def status_totals(request: web.Request) -> web.Response:
    return json_response(await orders.status_totals(request.app[DB], request.query.get("customer")))


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer the library's and msgspec's errors with a Problem body, as the FastAPI app does."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:
        mapped = orders.problem_for(exc)
        if mapped is None:
            log.error("request failed: %s %s", request.method, request.path, exc_info=exc)
            return json_response(Problem("internal", "the request failed; see the server log"), 500)
        status, problem = mapped
        return json_response(problem, status)


def create_app(session_options: SessionOptions | None = None) -> web.Application:
    """Build the app; its Session, ``Session.from_env(**session_options)``, opens when the
    app starts."""

    async def session_context(app: web.Application) -> AsyncIterator[None]:
        async with Session.from_env(**(session_options or {})) as db:
            await db.ensure_table(Order)
            app[DB] = db
            yield

    app = web.Application(middlewares=[problems], client_max_size=8 * 1024 * 1024)
    app.cleanup_ctx.append(session_context)
    app.add_routes(routes)
    return app
