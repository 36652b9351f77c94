"""``sync-tables`` parsing and usage errors (exit code 2), in process and without DynamoDB."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dynamorm_async._migrate.cli import main

pytestmark = pytest.mark.timeout(30)

MODELS = """
from typing import Annotated
from dynamorm_async import GlobalIndex, HashKey, Model

class Thing(Model, table="things"):
    id: Annotated[str, HashKey()]
    kind: str = ""

class SameThing(Model, table="things"):
    id: Annotated[str, HashKey()]
    kind: str = ""
    size: int = 0

class IndexedThing(Model, table="things"):
    id: Annotated[str, HashKey()]
    kind: str = ""
    __indexes__ = (GlobalIndex("by_kind", hash_key="kind"),)

class Abstract(Model):
    name: str

def helper() -> None: ...
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--region", "us-east-1"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "sync-tables" in out

    code, out, _ = run(capsys, "sync-tables", "--help")
    assert code == 0
    for text in ("REF", "--dry-run", "--drop-extra-indexes", "--endpoint-url", "--table-prefix",
                 "exit codes", "one index at a time"):
        assert text in out, text


def test_a_ref_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "sync-tables")
    assert code == 2 and "required: REF" in err


@pytest.mark.parametrize(
    ("refs", "message"),
    [
        (["{m}:Nope"], "REF: '{m}' has no attribute 'Nope'"),
        (["{m}:helper"], "REF '{m}:helper' is not a Model subclass"),
        (["{m}:Abstract"], "REF '{m}:Abstract' has no table"),
        (["no_such_module_xyz"], "cannot import module 'no_such_module_xyz'"),
        # The whole module: two models of one table declare different indexes.
        (["{m}"], "Thing and IndexedThing share table 'things' but declare different keys"),
        (["{m}:SameThing", "{m}:IndexedThing"], "SameThing and IndexedThing share table"),
    ],
)
def test_references_are_checked_before_connecting(
    capsys: pytest.CaptureFixture[str],
    module: Callable[[str], str],
    refs: list[str],
    message: str,
) -> None:
    name = module(MODELS)
    code, out, err = run(capsys, "sync-tables", *(r.format(m=name) for r in refs))
    assert code == 2 and out == ""
    assert err.startswith("usage: python -m dynamorm_async sync-tables")
    assert message.format(m=name) in err


def test_a_module_without_models(
    capsys: pytest.CaptureFixture[str], module: Callable[[str], str]
) -> None:
    name = module("X = 1\n")
    code, _, err = run(capsys, "sync-tables", name)
    assert code == 2 and f"module {name!r} has no Model with a table" in err
