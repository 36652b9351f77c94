"""The command line's parsing and usage errors (exit code 2), in process and without DynamoDB."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dynamorm_async._migrate.cli import main

pytestmark = pytest.mark.timeout(30)

MODELS = """
from typing import Annotated
from dynamorm_async import HashKey, Model

class ThingV1(Model, table="things"):
    id: Annotated[str, HashKey()]
    qty: str

class ThingV2(Model, table="things"):
    id: Annotated[str, HashKey()]
    qty: int

class Abstract(Model):
    name: str

NOT_CALLABLE = 42

def upgrade(old: ThingV1) -> ThingV2:
    return ThingV2(id=old.id, qty=int(old.qty))
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "migrate" in out and "create-tables" in out

    code, out, _ = run(capsys, "migrate", "--help")
    assert code == 0
    for text in ("MOD:FN", "--source", "--target", "--dry-run", "--segments", "--checkpoint",
                 "--on-error", "--allow-key-change", "--endpoint-url", "--table-prefix",
                 "exit codes", "progress bar"):
        assert text in out, text

    code, out, _ = run(capsys, "create-tables", "--help")
    assert code == 0 and "MOD" in out and "--endpoint-url" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required: COMMAND"),
        (["migrate", "m:f"], "required: --source, --target"),
        (["migrate", "m:f", "--source", "m:A", "--target", "m:B", "--segments", "0"],
         "must be at least 1"),
        (["migrate", "m:f", "--source", "m:A", "--target", "m:B", "--page-size", "x"],
         "expected a whole number"),
        (["migrate", "m:f", "--source", "m:A", "--target", "m:B", "--on-error", "ignore"],
         "invalid choice: 'ignore'"),
        (["migrate", "m:f", "--source", "m:A", "--target", "m:B", "--samples", "-1"],
         "must not be negative"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_argparse_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err


@pytest.mark.parametrize(
    ("transform", "source", "target", "message"),
    [
        ("nocolon", "{m}:ThingV1", "{m}:ThingV2", "MOD:FN must look like package.module:name"),
        ("{m}:", "{m}:ThingV1", "{m}:ThingV2", "MOD:FN must look like package.module:name"),
        ("no_such_module_xyz:f", "{m}:ThingV1", "{m}:ThingV2",
         "cannot import module 'no_such_module_xyz'"),
        ("{m}:nope", "{m}:ThingV1", "{m}:ThingV2", "has no attribute 'nope'"),
        ("{m}:NOT_CALLABLE", "{m}:ThingV1", "{m}:ThingV2", "is not callable"),
        ("{m}:upgrade", "{m}:upgrade", "{m}:ThingV2", "is not a Model subclass"),
        ("{m}:upgrade", "{m}:ThingV1", "{m}:Abstract", "has no table"),
    ],
)
def test_references_are_checked(
    capsys: pytest.CaptureFixture[str],
    module: Callable[[str], str],
    transform: str,
    source: str,
    target: str,
    message: str,
) -> None:
    name = module(MODELS)
    code, out, err = run(
        capsys, "migrate", transform.format(m=name), "--source", source.format(m=name),
        "--target", target.format(m=name), "--region", "us-east-1",
    )
    assert code == 2
    assert out == ""
    assert err.startswith("usage: python -m dynamorm_async migrate")
    assert message in err


def test_dry_run_with_checkpoint_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], module: Callable[[str], str]
) -> None:
    name = module(MODELS)
    code, _, err = run(
        capsys, "migrate", f"{name}:upgrade", "--source", f"{name}:ThingV1", "--target",
        f"{name}:ThingV2", "--dry-run", "--checkpoint", "c.json", "--region", "us-east-1",
    )
    assert code == 2
    assert "--dry-run writes nothing, not even a checkpoint" in err


def test_a_region_is_required(
    capsys: pytest.CaptureFixture[str],
    module: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "DYNAMODB_ENDPOINT",
                     "DYNAMORM_TABLE_PREFIX"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    name = module(MODELS)
    code, out, err = run(
        capsys, "migrate", f"{name}:upgrade", "--source", f"{name}:ThingV1", "--target",
        f"{name}:ThingV2",
    )
    assert (code, out) == (2, "")
    target, usage = err.splitlines()[:2]
    assert target == "target: AWS, region from the AWS config; tables: things"
    assert usage.startswith("usage: python -m dynamorm_async migrate")
    assert "error: no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)" in err
    code, _, err = run(capsys, "create-tables", name, "--profile", "ops")
    assert code == 2
    assert err.startswith("target: AWS, region of profile 'ops'; tables: things\n"
                          "usage: python -m dynamorm_async create-tables")


def test_the_target_is_written_before_the_session_opens(
    capsys: pytest.CaptureFixture[str],
    module: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("DYNAMODB_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("DYNAMORM_TABLE_PREFIX", "env_")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    name = module(MODELS)
    code, _, err = run(capsys, "create-tables", name)
    assert code == 2
    assert err.startswith("target: http://127.0.0.1:9; tables: env_things\n")
    # Flags win over the environment; a region lets the Session open, and the dead endpoint
    # fails the first request.
    code, _, err = run(capsys, "create-tables", name, "--endpoint-url", "http://127.0.0.1:1",
                       "--table-prefix", "flag_", "--region", "eu-west-1")
    assert code == 1
    assert err.startswith("target: http://127.0.0.1:1; tables: flag_things\nerror: ")
    monkeypatch.delenv("DYNAMODB_ENDPOINT")
    code, _, err = run(capsys, "create-tables", name, "--region", "eu-west-1",
                       "--profile", "nowhere")
    assert code == 2
    assert err.startswith("target: AWS eu-west-1; tables: env_things\nusage: ")
    assert "cannot configure the DynamoDB client: The config profile (nowhere) could not" in err


def test_create_tables_needs_models(
    capsys: pytest.CaptureFixture[str], module: Callable[[str], str]
) -> None:
    name = module("X = 1\n")
    code, _, err = run(capsys, "create-tables", name, "--region", "us-east-1")
    assert code == 2
    assert f"module '{name}' has no Model with a table" in err
