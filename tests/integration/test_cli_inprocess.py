"""The command line's ``main()`` called in process against DynamoDB Local (no subprocess).

These tests are synchronous on purpose: ``main()`` runs its own event loop, as it does under
``python -m dynamorm_async``.
"""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from dynamorm_async._migrate.cli import main
from dynamorm_async.testing import local_session

pytestmark = pytest.mark.timeout(120)

APP = """
from typing import Annotated, Literal

from dynamorm_async import HashKey, Model
from dynamorm_async._migrate.converters import to_int


class CountV1(Model, table="counts"):
    key: Annotated[str, HashKey()]
    n: str
    schema: Literal[1] = 1


class CountV2(Model, table="counts"):
    key: Annotated[str, HashKey()]
    n: int
    schema: Literal[2] = 2


def upgrade(old: CountV1) -> CountV2:
    return CountV2(key=old.key, n=to_int(old.n))
"""


class Setup:
    """A module in a scratch directory, a table prefix of its own, and raw table access."""

    def __init__(self, endpoint: str, module: str) -> None:
        self.endpoint = endpoint
        self.module = module
        self.prefix = f"cli{uuid.uuid4().hex[:8]}_"
        self.connection = ["--endpoint-url", endpoint, "--region", "us-east-1",
                           "--table-prefix", self.prefix]

    def migrate(self, *args: str) -> int:
        m = self.module
        return main(["migrate", f"{m}:upgrade", "--source", f"{m}:CountV1", "--target",
                     f"{m}:CountV2", *self.connection, *args])

    def call(self, operation: str, payload: dict[str, object]) -> dict[str, object]:
        async def run() -> dict[str, object]:
            async with local_session(self.endpoint) as db:
                return await db.call(operation, payload)

        return anyio.run(run)

    def put(self, values: dict[str, str]) -> None:
        for key, n in values.items():
            self.call("PutItem", {"TableName": f"{self.prefix}counts", "Item": {
                "key": {"S": key}, "n": {"S": n}, "schema": {"N": "1"}}})

    def items(self) -> dict[str, object]:
        answer = self.call("Scan", {"TableName": f"{self.prefix}counts", "ConsistentRead": True})
        found = answer["Items"]
        assert isinstance(found, list)
        return {item["key"]["S"]: item for item in found}

    def drop_tables(self) -> None:
        async def run() -> None:
            async with local_session(self.endpoint, table_prefix=self.prefix) as db:
                for name in await db.list_tables():
                    await db.delete_table(name, wait=False)

        anyio.run(run)


@pytest.fixture
def setup(
    dynamodb_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Setup]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    name = f"cliapp_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(APP))
    prepared = Setup(dynamodb_endpoint, name)
    try:
        yield prepared
    finally:
        prepared.drop_tables()
        sys.modules.pop(name, None)


Output = Callable[[], tuple[str, str]]


@pytest.fixture
def output(capsys: pytest.CaptureFixture[str]) -> Output:
    def read() -> tuple[str, str]:
        captured = capsys.readouterr()
        return captured.out, captured.err

    return read


def test_create_tables_dry_run_migrate_and_resume(setup: Setup, output: Output) -> None:
    assert main(["create-tables", setup.module, *setup.connection]) == 0
    assert output()[0] == f"created {setup.prefix}counts (CountV1, CountV2)\n"
    setup.put({f"k{i}": str(i) for i in range(30)})

    assert setup.migrate("--dry-run", "--samples", "2") == 0
    out, err = output()
    assert out.count("sample before: ") == 2 and "would write 30," in out
    target, progress = err.split("\n", 1)
    assert target == f"target: {setup.endpoint}; tables: {setup.prefix}counts"
    assert progress.startswith("progress: scanned=")
    assert err.splitlines()[-1].startswith("progress: scanned=30 completed=30 written=0")
    assert all(item["schema"] == {"N": "1"} for item in setup.items().values())

    checkpoint = Path("counts.ckpt.json")
    assert setup.migrate("--checkpoint", str(checkpoint), "--segments", "2") == 0
    out, _ = output()
    assert "scanned 30, transformed 30, wrote 30," in out
    assert [s["done"] for s in json.loads(checkpoint.read_text())["segments_state"]] == [True] * 2
    assert setup.items()["k7"]["n"] == {"N": "7"}

    # Finished: the checkpoint makes the run a no-op; another segment count is a usage error.
    assert setup.migrate("--checkpoint", str(checkpoint), "--segments", "2") == 0
    assert "scanned 0," in output()[0]
    assert setup.migrate("--checkpoint", str(checkpoint), "--segments", "3") == 2
    _, err = output()
    assert "belongs to another migration (segments: 2 in the file, 3 now)" in err


def test_failures_and_errors(setup: Setup, output: Output) -> None:
    # No table yet: the run fails with DynamoDB's error, exit code 1.
    assert setup.migrate() == 1
    _, err = output()
    assert err.splitlines()[1].startswith("error: ")
    assert "create it with Session.create_table()" in err

    assert main(["create-tables", setup.module, *setup.connection]) == 0
    setup.put({"a": "1", "b": "2.5", "c": "3"})
    output()

    assert setup.migrate("--on-error", "stop", "--segments", "1") == 1
    out, err = output()
    assert "error: migration stopped at its first failed item: transform failed: " in err
    assert out.startswith('failed {"key":"b"}: transform failed: ConversionError: ')

    assert setup.migrate("--on-error", "skip") == 1
    out, _ = output()
    assert not out.startswith("failed") and "failed 1 in" in out
    assert setup.items()["c"]["n"] == {"N": "3"}
