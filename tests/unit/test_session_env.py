"""``Session.from_env``, and the errors of a client that cannot be configured, without a server."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import get_type_hints

import pytest

from dynamorm_async import InvalidCursor, Session, SessionOptions, ValidationError
from dynamorm_async._session import session_options_from_env

pytestmark = pytest.mark.timeout(30)

_VARIABLES = (
    "DYNAMODB_ENDPOINT",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "DYNAMORM_TABLE_PREFIX",
    "DYNAMORM_CURSOR_SECRET",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No configuration from the machine: no variables, no AWS config or credentials file."""
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


def test_every_variable_maps_to_its_keyword(monkeypatch: pytest.MonkeyPatch) -> None:
    assert session_options_from_env({}) == {}
    monkeypatch.setenv("DYNAMODB_ENDPOINT", " http://localhost:8000 ")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("DYNAMORM_TABLE_PREFIX", "dev_")
    monkeypatch.setenv("DYNAMORM_CURSOR_SECRET", "s3cret")
    assert session_options_from_env({}) == {
        "endpoint_url": "http://localhost:8000",
        "region_name": "eu-west-1",
        "table_prefix": "dev_",
        "cursor_secret": "s3cret",
    }
    monkeypatch.setenv("AWS_REGION", "eu-central-1")  # the more specific variable wins
    assert session_options_from_env({})["region_name"] == "eu-central-1"


def test_blank_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMODB_ENDPOINT", "")
    monkeypatch.setenv("AWS_REGION", "  ")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert session_options_from_env({}) == {"region_name": "us-west-2"}


def test_overrides_win_even_when_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMODB_ENDPOINT", "http://localhost:8000")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    options = session_options_from_env({"endpoint_url": None, "max_concurrency": 4})
    assert options == {"endpoint_url": None, "region_name": "eu-west-1", "max_concurrency": 4}


def test_from_env_builds_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMODB_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("DYNAMORM_TABLE_PREFIX", "env_")
    monkeypatch.setenv("DYNAMORM_CURSOR_SECRET", "shared")
    first, second = Session.from_env(), Session.from_env(max_concurrency=3)
    assert first.table_prefix == "env_" and second.max_concurrency == 3
    assert Session.from_env(table_prefix="mine_").table_prefix == "mine_"
    # The same secret in every process: a cursor of one Session is valid in another.
    token = first.cursor_codec.encode(b"q", {"k": 1})
    assert second.cursor_codec.decode(b"q", token) == {"k": 1}
    with pytest.raises(InvalidCursor):
        Session.from_env(cursor_secret="other").cursor_codec.decode(b"q", token)


def test_from_env_checks_what_the_environment_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMODB_ENDPOINT", "localhost:8000")
    with pytest.raises(ValidationError, match="endpoint_url must be an http:// or https:// URL"):
        Session.from_env()


def test_session_options_name_every_session_keyword() -> None:
    parameters = inspect.signature(Session.__init__).parameters
    assert set(SessionOptions.__annotations__) == set(parameters) - {"self"}
    session_hints = get_type_hints(Session.__init__)
    for name, annotation in get_type_hints(SessionOptions).items():
        assert annotation == session_hints[name], name


async def test_a_session_without_a_region_says_how_to_set_one() -> None:
    for session in (Session(), Session.from_env(), Session(endpoint_url="http://127.0.0.1:9")):
        with pytest.raises(ValidationError) as caught:
            async with session:
                pass
        message = caught.value.message
        assert message.startswith("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)")
        assert "region_name=" in message and "DynamoDB Local" in message
        assert type(caught.value.__cause__).__name__ == "NoRegionError"


async def test_a_region_from_the_environment_opens_the_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    async with Session.from_env(endpoint_url="http://127.0.0.1:9") as db:
        assert db.table_prefix == ""


async def test_other_client_configuration_errors_are_the_librarys() -> None:
    session = Session(region_name="eu-west-1", profile_name="nowhere")
    with pytest.raises(ValidationError, match=r"^cannot configure the DynamoDB client: .*nowhere"):
        async with session:
            pass
