"""OpenTelemetry is optional and process-wide: each case runs in a Python process of its own.

Without opentelemetry importable the library imports and works, and asks for the ``otel`` extra
only when given a provider; with it installed but unused nothing imports it; and a global
provider set before a Session opens traces that Session. A transport of the script's own
answers every call, so no server is needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]

_BLOCK = """
import sys

class NotInstalled:
    # As if the otel extra were not installed: every opentelemetry import fails.
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "opentelemetry":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
"""

_WORK = """
import sys
from typing import Annotated

import anyio

from dynamorm_async import HashKey, Model, Session, ValidationError


class Thing(Model, table="things"):
    pk: Annotated[str, HashKey()]


class Answers:
    # Every call succeeds: batches process everything, scans find nothing.
    async def open(self): pass
    async def aclose(self): pass
    async def call(self, operation, payload, **_):
        return {"Items": [], "Count": 0} if operation == "Scan" else {}


async def work(db):
    await db.put(Thing(pk="a"))
    await db.batch_put([Thing(pk=str(n)) for n in range(60)])
    return await db.scan(Thing).segments(4).all()
"""


def run(*parts: str) -> str:
    """Run the script made of ``parts`` with this checkout importable; its output."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", "\n".join(textwrap.dedent(part) for part in parts)],
        capture_output=True,
        text=True,
        env=env,
        timeout=50,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_without_opentelemetry_the_library_works_and_imports_none_of_it() -> None:
    output = run(
        _BLOCK,
        _WORK,
        """
        async def main():
            async with Session(transport=Answers()) as db:
                assert await work(db) == []
            try:
                Session(tracer_provider=object())
            except ValidationError as error:
                print(error)
            assert not [name for name in sys.modules if name.startswith("opentelemetry")]

        anyio.run(main)
        """,
    )
    assert output == (
        "tracer_provider needs OpenTelemetry's API: pip install 'dynamorm-async[otel]'\n"
    )


def test_installed_but_unused_opentelemetry_is_not_imported() -> None:
    run(
        _WORK,
        """
        import importlib.util

        assert importlib.util.find_spec("opentelemetry") is not None

        async def main():
            async with Session(transport=Answers()) as db:
                await work(db)
            assert not [name for name in sys.modules if name.startswith("opentelemetry")]

        anyio.run(main)
        """,
    )


def test_the_global_provider_as_set_when_a_session_opens_traces_it() -> None:
    output = run(
        _WORK,
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        async def main():
            early = Session(transport=Answers())
            async with Session(transport=Answers()) as before:
                exporter = InMemorySpanExporter()
                provider = TracerProvider()
                provider.add_span_processor(SimpleSpanProcessor(exporter))
                trace.set_tracer_provider(provider)
                await work(before)
            assert exporter.get_finished_spans() == ()
            async with early as db:
                await work(db)
            names = [span.name for span in exporter.get_finished_spans()]
            print(sorted(set(names)), names.count("DynamoDB.Scan"))

        anyio.run(main)
        """,
    )
    assert output == (
        "['DynamoDB.BatchWriteItem', 'DynamoDB.PutItem', 'DynamoDB.Scan', "
        "'Scan Thing', 'batch_write Thing'] 4\n"
    )
