"""The command line's --dask and --checkpoint-table options, checked before any request."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dynamorm_async._migrate.cli import main

pytestmark = pytest.mark.timeout(30)

MODELS = """
from typing import Annotated
from dynamorm_async import HashKey, Model

class ThingV1(Model, table="things"):
    id: Annotated[str, HashKey()]
    qty: str

class ThingV2(Model, table="things_v2"):
    id: Annotated[str, HashKey()]
    qty: int

def upgrade(old: ThingV1) -> ThingV2:
    return ThingV2(id=old.id, qty=int(old.qty))
"""


def migrate(
    capsys: pytest.CaptureFixture[str], name: str, *argv: str
) -> tuple[int, str, str]:
    code = main([
        "migrate", f"{name}:upgrade", "--source", f"{name}:ThingV1", "--target",
        f"{name}:ThingV2", "--region", "us-east-1", "--endpoint-url", "http://localhost:1",
        *argv,
    ])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_help_shows_the_dask_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    assert "--dask ADDRESS" in out and "local:N, a LocalCluster of N processes" in out
    assert "--checkpoint-table NAME" in out and "--dask tcp://scheduler:8786 --segments 256" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--checkpoint", "c.json", "--checkpoint-table", "state"],
         "give --checkpoint FILE or --checkpoint-table NAME, not both"),
        (["--dry-run", "--checkpoint-table", "state"],
         "--dry-run writes nothing, not even a checkpoint"),
        (["--dask", "local:0"], "local:N needs a number of worker processes N >= 1"),
    ],
)
def test_option_mistakes_are_usage_errors(
    capsys: pytest.CaptureFixture[str], module: Callable[[str], str], argv: list[str],
    message: str,
) -> None:
    code, _, err = migrate(capsys, module(MODELS), *argv)

    assert code == 2
    assert message in err
