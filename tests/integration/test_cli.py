"""``python -m dynamorm_async`` run as a subprocess against DynamoDB Local."""

from __future__ import annotations

import json
import os
import pty
import signal
import sys
import textwrap
from pathlib import Path
from typing import Annotated, Any

import anyio
import pytest

from dynamorm_async import HashKey, Model, Session

pytestmark = pytest.mark.timeout(120)

APP = '''
from typing import Annotated, Literal

from dynamorm_async import GlobalIndex, HashKey, Model
from dynamorm_async._migrate.converters import to_int


class StockV1(Model, table="stock"):
    sku: Annotated[str, HashKey()]
    schema: Literal[1] = 1
    qty: str


class StockV2(Model, table="stock"):
    sku: Annotated[str, HashKey()]
    schema: Literal[2] = 2
    qty: int


class Ledger(Model, table="ledger"):
    sku: Annotated[str, HashKey()]
    qty: int

    __indexes__ = (GlobalIndex("by_qty", hash_key="qty"),)


def upgrade(old: StockV1) -> StockV2:
    return StockV2(sku=old.sku, qty=to_int(old.qty))


async def to_ledger(old: StockV1) -> Ledger | None:
    return Ledger(sku=old.sku, qty=to_int(old.qty)) if old.sku != "s000" else None
'''


class Cli:
    """Runs the command line in a directory holding ``stockapp.py``, against the test's tables."""

    def __init__(self, directory: Path, endpoint: str, prefix: str) -> None:
        self.directory = directory
        self.endpoint = endpoint
        self.connection = ["--endpoint-url", endpoint, "--region", "us-east-1",
                           "--table-prefix", prefix]
        self.env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "PYTHONWARNINGS": "error",
        }

    def argv(self, *args: str, connect: bool = True) -> list[str]:
        return [sys.executable, "-m", "dynamorm_async", *args,
                *(self.connection if connect else [])]

    async def __call__(self, *args: str, connect: bool = True) -> tuple[int, str, str]:
        done = await anyio.run_process(
            self.argv(*args, connect=connect), check=False, cwd=self.directory, env=self.env
        )
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    async def migrate(self, *args: str) -> tuple[int, str, str]:
        return await self(
            "migrate", "stockapp:upgrade", "--source", "stockapp:StockV1", "--target",
            "stockapp:StockV2", *args,
        )


@pytest.fixture
def cli(tmp_path: Path, dynamodb_endpoint: str, dynamodb_session: Session) -> Cli:
    (tmp_path / "stockapp.py").write_text(textwrap.dedent(APP))
    return Cli(tmp_path, dynamodb_endpoint, dynamodb_session.table_prefix)


class StockKey(Model, table="stock"):
    """The key schema of stockapp's stock table, to create it without a subprocess."""

    sku: Annotated[str, HashKey()]


class LedgerKey(Model, table="ledger"):
    sku: Annotated[str, HashKey()]


async def create_tables(db: Session) -> None:
    await db.ensure_table(StockKey)
    await db.ensure_table(LedgerKey)


async def put_stock(db: Session, quantities: dict[str, str]) -> None:
    table = f"{db.table_prefix}stock"
    for chunk in range(0, len(quantities), 25):
        entries = [
            {"PutRequest": {"Item": {"sku": {"S": sku}, "schema": {"N": "1"}, "qty": {"S": q}}}}
            for sku, q in list(quantities.items())[chunk:chunk + 25]
        ]
        await db.call("BatchWriteItem", {"RequestItems": {table: entries}}, table=table)


async def scan(db: Session, table: str) -> dict[str, dict[str, Any]]:
    name = f"{db.table_prefix}{table}"
    response = await db.call("Scan", {"TableName": name, "ConsistentRead": True}, table=name)
    return {item["sku"]["S"]: item for item in response["Items"]}


async def scan_all(db: Session) -> list[dict[str, Any]]:
    name = f"{db.table_prefix}stock"
    items: list[dict[str, Any]] = []
    payload: dict[str, Any] = {"TableName": name, "ConsistentRead": True}
    while True:
        response = await db.call("Scan", payload, table=name)
        items.extend(response["Items"])
        if "LastEvaluatedKey" not in response:
            return items
        payload["ExclusiveStartKey"] = response["LastEvaluatedKey"]


async def test_help_and_usage_errors(cli: Cli) -> None:
    code, out, err = await cli("--help", connect=False)
    assert code == 0 and err == ""
    assert "migrate" in out and "create-tables" in out and "COMMAND --help" in out

    code, out, err = await cli("migrate", "stockapp:upgrade", "--source", "stockapp:Nope",
                               "--target", "stockapp:StockV2")
    assert code == 2 and out == ""
    assert "--source: 'stockapp' has no attribute 'Nope'" in err


async def test_create_tables_dry_run_and_migrate(cli: Cli, dynamodb_session: Session) -> None:
    db = dynamodb_session
    prefix = db.table_prefix

    code, out, err = await cli("create-tables", "stockapp")
    assert code == 0
    assert err == f"target: {cli.endpoint}; tables: {prefix}stock, {prefix}ledger\n"
    assert out.splitlines() == [
        f"created {prefix}ledger (Ledger)",
        f"created {prefix}stock (StockV1, StockV2)",
    ]
    code, out, _ = await cli("create-tables", "stockapp")
    assert code == 0 and out.splitlines()[1] == f"exists {prefix}stock (StockV1, StockV2)"
    description = await db.describe_table(f"{prefix}ledger")
    assert description["GlobalSecondaryIndexes"][0]["IndexName"] == "by_qty"

    await put_stock(db, {f"s{i:03d}": str(i) for i in range(200)})
    before = await scan(db, "stock")

    code, out, err = await cli.migrate("--dry-run", "--segments", "2")
    assert code == 0, err
    lines = out.splitlines()
    assert sum(line.startswith("sample before: {") for line in lines) == 3
    assert sum(line.startswith("sample after:  {") for line in lines) == 3
    assert lines[-1].startswith(f"dry run: StockV1 ({prefix}stock) -> StockV2 ({prefix}stock): ")
    assert "scanned 200, transformed 200, would write 200," in lines[-1]
    assert await scan(db, "stock") == before

    # Cross-table, with an async transform that skips one item.
    code, out, err = await cli("migrate", "stockapp:to_ledger", "--source", "stockapp:StockV1",
                               "--target", "stockapp:Ledger")
    assert code == 0, err
    assert "scanned 200, transformed 199, wrote 199, unchanged 0, skipped 1" in out
    assert len(await scan(db, "ledger")) == 199

    # In place, resumable.
    checkpoint = cli.directory / "stock.ckpt.json"
    code, out, err = await cli.migrate("--segments", "3", "--page-size", "40",
                                       "--checkpoint", str(checkpoint))
    assert code == 0, err
    assert out.splitlines()[-1].startswith(f"StockV1 ({prefix}stock) -> StockV2 ({prefix}stock):")
    assert "scanned 200, transformed 200, wrote 200, unchanged 0, skipped 0" in out
    # Not a terminal: plain log lines, no bar.
    target, progress = err.split("\n", 1)
    assert target == f"target: {cli.endpoint}; tables: {prefix}stock"
    assert progress.startswith("progress: scanned=") and "\r" not in err
    assert "segments=3/3" in err.splitlines()[-1]
    stored = await scan(db, "stock")
    assert stored["s007"] == {"sku": {"S": "s007"}, "schema": {"N": "2"}, "qty": {"N": "7"}}
    assert all(item["schema"] == {"N": "2"} for item in stored.values())
    state = json.loads(checkpoint.read_text())
    assert all(segment["done"] for segment in state["segments_state"])


async def test_failing_run_exits_1(cli: Cli, dynamodb_session: Session) -> None:
    db = dynamodb_session
    await create_tables(db)
    await put_stock(db, {f"s{i:03d}": ("x" if i in (3, 9) else str(i)) for i in range(20)})

    code, out, err = await cli.migrate()
    assert code == 1
    failed = sorted(line for line in out.splitlines() if line.startswith("failed "))
    assert failed == [
        'failed {"sku":"s003"}: transform failed: ConversionError: \'x\' is not a number',
        'failed {"sku":"s009"}: transform failed: ConversionError: \'x\' is not a number',
    ]
    assert out.splitlines()[-1].startswith("StockV1")
    assert "wrote 18," in out and "failed 2 in" in out

    # Items already migrated are skipped; the two failures stay failures; --on-error stop.
    code, out, err = await cli.migrate("--on-error", "stop", "--segments", "1")
    assert code == 1
    assert "error: migration stopped at its first failed item: transform failed" in err

    code, out, err = await cli("migrate", "stockapp:to_ledger", "--source", "stockapp:StockV1",
                               "--target", "stockapp:Ledger", "--on-error", "skip")
    assert code == 1
    assert not any(line.startswith("failed ") for line in out.splitlines())  # counted only
    assert "failed 20 in" in out
    assert await scan(db, "ledger") == {}


async def test_progress_bar_on_a_terminal(cli: Cli, dynamodb_session: Session) -> None:
    await create_tables(dynamodb_session)
    await put_stock(dynamodb_session, {f"s{i:03d}": str(i) for i in range(100)})
    master, slave = pty.openpty()
    try:
        done = await anyio.run_process(
            cli.argv("migrate", "stockapp:upgrade", "--source", "stockapp:StockV1", "--target",
                     "stockapp:StockV2", "--segments", "2"),
            check=False, cwd=cli.directory, env=cli.env, stderr=slave,
        )
        os.set_blocking(master, False)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(slave)
        os.close(master)
    bar = b"".join(chunks).decode()
    assert done.returncode == 0
    assert "\r\x1b[K[" in bar and "] 100% 100/~100 done · 100 scanned" in bar
    assert "segments 2/2" in bar
    assert "wrote 100," in done.stdout.decode()


async def test_ctrl_c_then_resume_from_the_checkpoint(cli: Cli, dynamodb_session: Session) -> None:
    db = dynamodb_session
    await create_tables(db)
    await put_stock(db, {f"s{i:04d}": str(i) for i in range(1500)})
    checkpoint = cli.directory / "stock.ckpt.json"
    args = ["--segments", "2", "--page-size", "25", "--checkpoint", str(checkpoint)]

    argv = cli.argv("migrate", "stockapp:upgrade", "--source", "stockapp:StockV1", "--target",
                    "stockapp:StockV2", *args)
    async with await anyio.open_process(argv, cwd=cli.directory, env=cli.env) as process:
        assert process.stderr is not None
        received = b""
        async for chunk in process.stderr:  # the first progress line: a page is written
            received += chunk
            if b"progress:" in received:
                break
        process.send_signal(signal.SIGINT)
        async for chunk in process.stderr:
            received += chunk
        code = await process.wait()
    assert code == 130
    assert f"interrupted; run the same command again to resume from {checkpoint}" in (
        received.decode()
    )
    state = json.loads(checkpoint.read_text())
    assert not all(segment["done"] for segment in state["segments_state"])

    code, out, err = await cli.migrate(*args)
    assert code == 0, err
    resumed = int(out.split("scanned ")[1].split(",")[0])
    assert resumed < 1500  # pages written before the interruption were not read again
    stored = await scan_all(db)
    assert len(stored) == 1500
    assert all(item["schema"] == {"N": "2"} for item in stored)


async def test_the_environment_configures_the_connection(
    cli: Cli, dynamodb_session: Session
) -> None:
    db = dynamodb_session
    prefix = db.table_prefix
    cli.env.update(
        DYNAMODB_ENDPOINT=cli.endpoint, AWS_REGION="us-east-1", DYNAMORM_TABLE_PREFIX=prefix
    )
    cli.env.pop("AWS_DEFAULT_REGION", None)

    code, out, err = await cli("create-tables", "stockapp", connect=False)
    assert code == 0, err
    assert err == f"target: {cli.endpoint}; tables: {prefix}stock, {prefix}ledger\n"
    assert out.splitlines()[1] == f"created {prefix}stock (StockV1, StockV2)"
    await put_stock(db, {f"s{i:03d}": str(i) for i in range(10)})

    code, out, err = await cli("migrate", "stockapp:upgrade", "--source", "stockapp:StockV1",
                               "--target", "stockapp:StockV2", "--dry-run", connect=False)
    assert code == 0, err
    assert err.splitlines()[0] == f"target: {cli.endpoint}; tables: {prefix}stock"
    assert "scanned 10, transformed 10, would write 10," in out

    # Flags win over the environment: a dead endpoint in it is never contacted.
    cli.env.update(DYNAMODB_ENDPOINT="http://127.0.0.1:9", DYNAMORM_TABLE_PREFIX="elsewhere_")
    code, out, err = await cli.migrate("--dry-run")
    assert code == 0, err
    assert err.splitlines()[0] == f"target: {cli.endpoint}; tables: {prefix}stock"

    # Without a region the command says how to give one, having read nothing.
    cli.env.update(DYNAMODB_ENDPOINT=cli.endpoint, AWS_CONFIG_FILE=str(cli.directory / "none"))
    del cli.env["AWS_REGION"]
    code, out, err = await cli("migrate", "stockapp:upgrade", "--source", "stockapp:StockV1",
                               "--target", "stockapp:StockV2", connect=False)
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == f"target: {cli.endpoint}; tables: elsewhere_stock"
    assert "error: no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)" in err
    assert all(item["schema"] == {"N": "1"} for item in (await scan(db, "stock")).values())
