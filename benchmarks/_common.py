"""What more than one benchmark script needs: a loopback HTTP server in a process of its own,
and the CPU time of a DynamoDB Local running on this machine.

The scripts run as ``python benchmarks/bench_x.py``, which puts ``benchmarks/`` first on
``sys.path``, so they import this module as ``_common``. ``make bench`` runs only the
``bench_*.py`` files, not this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web


async def serve_until_stdin_closes(app: web.Application) -> None:
    """Serve ``app`` on a free loopback port: print its URL on one line, then serve until
    stdin closes (the parent's :func:`helper_server` block ended)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    try:
        await asyncio.to_thread(sys.stdin.read)
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def helper_server(*argv: str) -> AsyncIterator[str]:
    """The URL of a server run as ``python *argv`` (a script whose that mode ends in
    :func:`serve_until_stdin_closes`), for the block.

    The server runs in a process of its own so that its work does not compete with the
    clients being measured for this process's event loop and GIL.
    """
    server = await asyncio.create_subprocess_exec(
        sys.executable, *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        url = (await asyncio.wait_for(server.stdout.readline(), 30)).decode().strip()
        if not url:
            raise RuntimeError(f"the helper server {argv} did not start")
        yield url
    finally:
        server.stdin.close()
        try:
            await asyncio.wait_for(server.wait(), 10)
        except TimeoutError:
            server.kill()
            await server.wait()


def server_cpu(url: str) -> Callable[[], float] | None:
    """A clock of the CPU seconds (user and system, every thread) used so far by the DynamoDB
    Local process serving ``url`` on this machine, or None when there is none to read: another
    host, a container's port mapping, or no ``/proc``."""
    port = urlsplit(url).port
    if port is None or not Path("/proc").is_dir():
        return None
    wanted = ["-port", str(port)]
    pids = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            found = any(wanted == argv[i : i + 2] for i in range(len(argv) - 1))
            if found and any("DynamoDBLocal" in arg for arg in argv):
                pids.append(entry.name)
    if len(pids) != 1:
        return None
    stat, tick = Path("/proc", pids[0], "stat"), os.sysconf("SC_CLK_TCK")

    def seconds() -> float:
        # Fields 14 and 15 (utime, stime) come after the parenthesised command name.
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    return seconds
