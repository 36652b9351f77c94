"""The pytest plugin as a project meets it: pytest run in a subprocess in a fresh project.

Each run gets this session's DynamoDB Local through ``DYNAMODB_ENDPOINT``. Without
pytest-asyncio is simulated by blocking its plugin (``-p no:asyncio``) and shadowing the
package with one whose import fails, as it does where it is not installed.
"""

from __future__ import annotations

import os
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

import dynamorm_async

pytestmark = pytest.mark.timeout(180)

# The library under test: this checkout, ahead of any installed copy.
_LIBRARY_ROOT = Path(dynamorm_async.__file__).resolve().parents[1]

_SETTINGS_WITH_ASYNCIO = """
[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
asyncio_default_test_loop_scope = "function"
filterwarnings = ["error"]
"""

_SETTINGS_WITHOUT_ASYNCIO = """
[tool.pytest.ini_options]
filterwarnings = ["error"]
"""

_MODEL = """
from types import ModuleType
from typing import Annotated

import pytest

from dynamorm_async import HashKey, Model, Session


class Thing(Model, table="things"):
    id: Annotated[str, HashKey()]
    n: int = 0


def test_the_fixtures_are_registered_once(request: pytest.FixtureRequest) -> None:
    holders = [
        plugin for plugin in request.config.pluginmanager.get_plugins()
        if isinstance(plugin, ModuleType) and hasattr(plugin, "dynamodb_session")
    ]
    assert len(holders) == 1, holders


def test_the_endpoint_is_the_one_given(dynamodb_endpoint: str) -> None:
    import os
    assert dynamodb_endpoint == os.environ["DYNAMODB_ENDPOINT"]
"""

_ASYNCIO_TESTS = """
async def test_round_trip(dynamodb_session: Session) -> None:
    await dynamodb_session.create_table(Thing)
    await dynamodb_session.put(Thing(id="a", n=1))
    assert await dynamodb_session.get(Thing, id="a") == Thing(id="a", n=1)
"""

_ANYIO_TESTS = """
@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_pytest_asyncio_cannot_be_imported() -> None:
    with pytest.raises(ImportError):
        import pytest_asyncio  # noqa: F401


@pytest.mark.anyio
async def test_round_trip(dynamodb_session: Session) -> None:
    await dynamodb_session.create_table(Thing)
    await dynamodb_session.put(Thing(id="a", n=1))
    assert await dynamodb_session.get(Thing, id="a") == Thing(id="a", n=1)


async def test_unmarked(dynamodb_session: Session) -> None:
    pass
"""


@dataclass
class Run:
    code: int
    output: str


class Project:
    """A directory with a pyproject, a conftest and one test module, run with pytest."""

    def __init__(self, directory: Path, endpoint: str, *, asyncio: bool) -> None:
        self.directory = directory
        self.asyncio = asyncio
        settings = _SETTINGS_WITH_ASYNCIO if asyncio else _SETTINGS_WITHOUT_ASYNCIO
        (directory / "pyproject.toml").write_text(settings)
        tests = _MODEL + (_ASYNCIO_TESTS if asyncio else _ANYIO_TESTS)
        (directory / "test_things.py").write_text(textwrap.dedent(tests))
        self.conftest("")
        path = [str(_LIBRARY_ROOT)]
        if not asyncio:
            shadow = directory.parent / f"{directory.name}_shadow" / "pytest_asyncio"
            shadow.mkdir(parents=True)
            (shadow / "__init__.py").write_text(
                "raise ModuleNotFoundError(\"No module named 'pytest_asyncio'\", "
                "name='pytest_asyncio')\n"
            )
            path.insert(0, str(shadow.parent))
        ignored = {"PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
        self.env = {name: value for name, value in os.environ.items() if name not in ignored}
        self.env.update(DYNAMODB_ENDPOINT=endpoint, PYTHONPATH=os.pathsep.join(path))

    def conftest(self, text: str) -> None:
        (self.directory / "conftest.py").write_text(text)

    async def pytest(self, *args: str, autoload: bool = True) -> Run:
        blocked = [] if self.asyncio else ["-p", "no:asyncio"]
        env = dict(self.env)
        if not autoload:
            env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *blocked, *args]
        with anyio.fail_after(120):
            done = await anyio.run_process(argv, cwd=self.directory, env=env, check=False)
        return Run(done.returncode, done.stdout.decode() + done.stderr.decode())


@pytest.fixture
def with_asyncio(tmp_path: Path, dynamodb_endpoint: str) -> Project:
    (tmp_path / "app").mkdir()
    return Project(tmp_path / "app", dynamodb_endpoint, asyncio=True)


@pytest.fixture
def without_asyncio(tmp_path: Path, dynamodb_endpoint: str) -> Project:
    (tmp_path / "app").mkdir()
    return Project(tmp_path / "app", dynamodb_endpoint, asyncio=False)


PLUGINS = 'pytest_plugins = ["dynamorm_async.testing"]\n'
PLUGINS_BY_MODULE = 'pytest_plugins = ["dynamorm_async.testing.plugin"]\n'
PLUGINS_TWICE = 'pytest_plugins = ["dynamorm_async.testing", "dynamorm_async.testing.plugin"]\n'


@pytest.mark.parametrize(
    ("conftest", "args"),
    [
        ("", ()),  # the entry point alone
        (PLUGINS, ()),
        ("", ("-p", "dynamorm_async.testing")),
        (PLUGINS_BY_MODULE, ()),
        (PLUGINS_TWICE, ("-p", "dynamorm_async.testing", "-p", "dynamorm_async.testing.plugin")),
    ],
    ids=["entry-point", "pytest_plugins", "-p", "pytest_plugins-module", "every-spelling"],
)
async def test_every_spelling_registers_the_fixtures_once(
    with_asyncio: Project, conftest: str, args: tuple[str, ...]
) -> None:
    with_asyncio.conftest(conftest)
    run = await with_asyncio.pytest(*args)
    assert run.code == 0, run.output
    assert "3 passed" in run.output, run.output


async def test_without_the_entry_point_the_package_name_loads_the_plugin(
    with_asyncio: Project,
) -> None:
    run = await with_asyncio.pytest("-p", "asyncio", autoload=False)
    assert run.code == 1  # nothing names the plugin: its fixtures do not exist
    assert "fixture 'dynamodb_endpoint' not found" in run.output

    with_asyncio.conftest(PLUGINS)
    run = await with_asyncio.pytest("-p", "asyncio", autoload=False)
    assert run.code == 0, run.output
    assert "3 passed" in run.output

    # A conftest that imports the package before naming it as a plugin.
    with_asyncio.conftest("from dynamorm_async.testing import local_session\n" + PLUGINS)
    run = await with_asyncio.pytest("-p", "asyncio", autoload=False)
    assert run.code == 0, run.output


@pytest.mark.parametrize("conftest", ["", PLUGINS], ids=["entry-point", "pytest_plugins"])
async def test_without_pytest_asyncio(without_asyncio: Project, conftest: str) -> None:
    without_asyncio.conftest(conftest)
    run = await without_asyncio.pytest()
    assert "Error while loading plugin" not in run.output
    # anyio's plugin runs the fixture; an unmarked async test is told what to install.
    assert "4 passed, 1 error" in run.output, run.output
    assert run.code == 1
    assert "PASSED test_things.py::test_round_trip" in run.output
    assert "ERROR at setup of test_unmarked" in run.output
    assert "dynamodb_session is an async fixture and no plugin runs it for this test: install " \
        'pytest-asyncio (with asyncio_mode = "auto"' in run.output
