"""Run an ASGI app (the FastAPI service, or any other) on a real uvicorn server inside the
caller's event loop.

``serving(app)`` binds a free loopback port, serves until the block exits, then shuts the server
down gracefully (lifespan shutdown included, so the Session closes). The demo and the service
tests use it; ``python -m examples.fastapi_orders`` uses plain ``uvicorn.run`` instead.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import uvicorn

__all__ = ["serving"]

_STARTUP_TIMEOUT = 60.0
_KEEP_ALIVE = 30


@asynccontextmanager
async def serving(
    app: Callable[..., Awaitable[Any]],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
) -> AsyncIterator[str]:
    """Serve ``app`` on ``host:port`` (0: a free port) and yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port: int = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_level=log_level,
        # Longer than clients keep idle connections (httpx: 5 s), so a client never reuses a
        # connection the server is closing at that very moment.
        timeout_keep_alive=_KEEP_ALIVE,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    failed = anyio.Event()

    async def serve() -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit:
            # uvicorn exits this way when the app's lifespan startup fails (it logged why).
            failed.set()
        finally:
            sock.close()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            with anyio.fail_after(_STARTUP_TIMEOUT):
                # uvicorn exposes startup only as a flag, so it is polled.
                while not server.started and not failed.is_set():  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            if failed.is_set():
                raise RuntimeError("the app failed to start; uvicorn logged the reason")
            try:
                yield f"http://{host}:{bound_port}"
            finally:
                server.should_exit = True
    except BaseExceptionGroup as group:
        # The task group wraps whatever the caller's block raised; hand it back as it was.
        raise _single(group) from None


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception inside (nested) single-member groups, or the group itself."""
    while len(group.exceptions) == 1:
        inner = group.exceptions[0]
        if not isinstance(inner, BaseExceptionGroup):
            return inner
        group = inner
    return group
