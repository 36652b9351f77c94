"""The web-framework integrations are optional: the package imports and works without them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


def run_without_fastapi(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where ``import fastapi`` fails, as when not installed."""
    prelude = "import sys\nsys.modules['fastapi'] = None  # makes `import fastapi` fail\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )


def test_the_package_imports_and_works_without_fastapi() -> None:
    done = run_without_fastapi(
        """
        import sys
        from typing import Annotated
        import dynamorm_async
        from dynamorm_async import HashKey, Model

        class Thing(Model, table="things"):
            name: Annotated[str, HashKey()]

        assert Thing(name="x").to_dynamodb() == {"name": {"S": "x"}}
        assert "dynamorm_async.fastapi" not in sys.modules
        assert not any(name.split(".")[0] in ("starlette", "pydantic") for name in sys.modules)
        print("ok")
        """
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_importing_the_integration_without_fastapi_says_what_to_install() -> None:
    done = run_without_fastapi("import dynamorm_async.fastapi")
    assert done.returncode == 1
    assert "ImportError: dynamorm_async.fastapi needs FastAPI" in done.stderr
    assert "pip install 'dynamorm-async[fastapi]'" in done.stderr
