"""Run the aiohttp app on a real server inside the caller's event loop.

``serving(app)`` binds a free loopback port, runs the app's startup (its cleanup context opens
the Session), serves until the block exits, then runs the cleanup (closing the Session).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

__all__ = ["serving"]


@asynccontextmanager
async def serving(
    app: web.Application, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve ``app`` on ``host:port`` (0: a free port) and yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port: int = sock.getsockname()[1]
    # Keep idle connections longer than clients do (httpx: 5 s), so a client never reuses a
    # connection the server is closing at that very moment.
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=30, shutdown_timeout=10)
    try:
        await runner.setup()
        await web.SockSite(runner, sock).start()
        yield f"http://{host}:{bound_port}"
    finally:
        await runner.cleanup()
        sock.close()
