"""The runner seam without a server: LocalRunner, the option checks of runners that run
segments elsewhere, worker options, segment reports, and the package without dask."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import msgspec
import pytest

from dynamorm_async import (
    Avg,
    Count,
    HashKey,
    LocalRunner,
    Max,
    MigrationReport,
    Min,
    MissingDependency,
    Model,
    Runner,
    Session,
    Sum,
    TableCheckpoint,
    ValidationError,
    migrate,
)
from dynamorm_async._distribute.dask import DaskRunner, dask_runner
from dynamorm_async._migrate.report import SegmentReport
from dynamorm_async._migrate.segment import key_digest
from dynamorm_async._runner import Emit, SegmentWork
from dynamorm_async.testing import RecordingTransport, local_transport

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


class Ship(msgspec.Struct):
    city: str
    code: str = msgspec.field(name="zip")


class Order(Model, table="runner_orders"):
    id: Annotated[str, HashKey()]
    status: str
    total: Decimal
    ship: Ship
    lines: list[Ship] = msgspec.field(default_factory=list)
    schema: Literal[1] = 1


class OrderV2(Model, table="runner_orders"):
    id: Annotated[str, HashKey()]
    status: str
    schema: Literal[2] = 2


class Elsewhere:
    """A runner whose jobs run in other processes; these tests never get as far as running."""

    in_process = False

    async def run(
        self,
        context: Any,
        work: SegmentWork[Any, Any],
        jobs: Sequence[Any],
        *,
        on_result: Callable[[Any, Any], None],
        on_event: Callable[[Mapping[str, int]], None],
    ) -> None:
        raise AssertionError("the options should have been rejected before running")

    def __repr__(self) -> str:
        return "Elsewhere()"


def offline() -> Session:
    """A Session that is never opened: whatever it would send is recorded, not sent."""
    return Session(transport=RecordingTransport(local_transport("http://localhost:1")))


class Squares:
    """Work whose jobs are numbers: each job's result is its square; 13 fails."""

    def __init__(self) -> None:
        self.started = 0
        self.ran: list[int] = []

    async def start(self, context: Any, emit: Emit) -> Callable[[int], Awaitable[int]]:
        self.started += 1

        async def square(job: int) -> int:
            await anyio.sleep(0.001 * (job % 3))
            if job == 13:
                raise ValidationError("13 is unlucky")
            self.ran.append(job)
            emit({"segment": job})
            return job * job

        return square


async def test_the_local_runner_runs_every_job_once_in_this_process() -> None:
    work = Squares()
    results: dict[int, int] = {}
    events: list[Mapping[str, int]] = []

    def keep(job: int, result: int) -> None:
        results[job] = result

    runner = LocalRunner()
    await runner.run(offline(), work, list(range(10)), on_result=keep, on_event=events.append)

    assert runner.in_process and isinstance(runner, Runner) and repr(runner) == "LocalRunner()"
    assert results == {n: n * n for n in range(10)}
    assert sorted(work.ran) == list(range(10)) and work.started == 1
    assert sorted(e["segment"] for e in events) == list(range(10))


async def test_a_failing_job_stops_the_local_run_with_its_error() -> None:
    with pytest.raises(ValidationError, match="13 is unlucky"):
        await LocalRunner().run(
            offline(), Squares(), [13, 1, 2], on_result=lambda j, r: None, on_event=print
        )


async def test_runners_elsewhere_refuse_what_needs_this_process(tmp_path: Path) -> None:
    transport = RecordingTransport(local_transport("http://localhost:1"))
    db = Session(transport=transport)
    common: dict[str, Any] = {"source": Order, "target": OrderV2, "transform": lambda o: None}
    with pytest.raises(ValidationError, match=r"on this machine only.*TableCheckpoint"):
        await migrate(db, **common, runner=Elsewhere(), checkpoint=tmp_path / "c.json")
    with pytest.raises(ValidationError, match="changes keys tracks the keys it moved"):
        await migrate(db, **common, runner=Elsewhere(), allow_key_change=True)
    with pytest.raises(ValidationError, match="runner must be a Runner"):
        await migrate(db, **common, runner=object())  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"limit\(\) caps the items of all segments"):
        await db.scan(Order).limit(5).aggregate(n=Count(), runner=Elsewhere())
    with pytest.raises(ValidationError, match="runner must be a Runner"):
        db.scan(Order).group_by(Order.status).aggregate(n=Count(), runner=object())  # type: ignore[arg-type]
    assert transport.requests == []


def test_worker_options_carry_what_was_given_and_leave_this_process_behind() -> None:
    db = Session(
        endpoint_url="http://localhost:8000", region_name="eu-west-1", table_prefix="p_",
        max_concurrency=7, aws_access_key_id="k", aws_secret_access_key="s",
        on_request=print,
    )

    options = db.worker_options()

    assert options == {
        "endpoint_url": "http://localhost:8000", "region_name": "eu-west-1",
        "aws_access_key_id": "k", "aws_secret_access_key": "s", "table_prefix": "p_",
        "max_concurrency": 7,
    }
    # A Session opened elsewhere from them names tables the same way.
    assert Session(**pickle.loads(pickle.dumps(options))).table_name(Order) == "p_runner_orders"
    with pytest.raises(ValidationError, match="cannot be rebuilt in another process"):
        offline().worker_options()


def test_segment_reports_add_up_into_the_run_report() -> None:
    first = SegmentReport(0, scanned=5, completed=5, written=4, changed=4, transformed=4,
                          failed_count=1, failed=[({"id": "a"}, "bad")], samples=[(1, 2)] * 3)
    second = SegmentReport(1, samples=[(3, 4)] * 2)
    second.restore({**first.counts(), "scanned": 7, "unknown": 3})
    report: MigrationReport[Any, Any] = MigrationReport(
        source=Order, target=OrderV2, source_table="t", target_table="t", dry_run=False,
        segments=2, sample_size=4,
    )

    first.add_to(report)
    second.add_to(report)

    assert (report.scanned, report.written, report.failed_count) == (12, 8, 2)
    assert report.failed == [({"id": "a"}, "bad")]
    assert report.samples == [(1, 2)] * 3 + [(3, 4)]
    assert second.counts()["completed"] == 5 and "unknown" not in second.counts()


def test_key_digests_name_equal_keys_alike_in_every_process() -> None:
    a = key_digest({"id": {"S": "x"}, "n": {"N": "1.0"}})
    assert a == key_digest({"n": {"N": "1"}, "id": {"S": "x"}})
    assert a != key_digest({"id": {"S": "x"}, "n": {"N": "2"}}) and len(a) == 8


def test_aggregate_states_pickle_with_their_paths() -> None:
    db = offline()
    grouped = db.scan(Order).group_by(Order.status, Order.ship.city).aggregate(
        n=Count(), total=Sum(Order.total), mean=Avg(Order.total), low=Min(Order.ship.code),
        high=Max(Order.lines[0].code), coded=Count(Order.lines[0].code),
    ).having(Sum(Order.total) > 1)
    empty = grouped._state.empty
    item = {"id": {"S": "1"}, "status": {"S": "new"}, "total": {"N": "2.50"},
            "ship": {"M": {"city": {"S": "Oslo"}, "zip": {"S": "0150"}}},
            "lines": {"L": [{"M": {"city": {"S": "Rome"}, "zip": {"S": "00100"}}}]}}
    part = empty.fresh()
    part.add(item)

    copy = pickle.loads(pickle.dumps(part))
    merged = pickle.loads(pickle.dumps(empty)).fresh()
    merged.merge(copy)
    merged.merge(part)

    assert copy.rows() == part.rows()
    (row,) = merged.rows()
    assert row.key == ("new", "Oslo") and row["n"] == 2 and row["total"] == Decimal("5.00")
    assert (row["low"], row["high"], row["coded"]) == ("0150", "00100", 2)


def test_the_dask_runner_checks_its_arguments() -> None:
    with pytest.raises(ValidationError, match=r"takes a dask\.distributed\.Client"):
        DaskRunner(object())  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="TableCheckpoint takes a table name"):
        TableCheckpoint("")


async def test_a_local_cluster_needs_a_number_of_workers() -> None:
    with pytest.raises(ValidationError, match="local:N needs a number of worker processes"):
        async with dask_runner("local:none"):
            pass


WITHOUT_DASK = """
import sys
import warnings

warnings.simplefilter("error")


class NoDask:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("dask", "distributed"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None


sys.meta_path.insert(0, NoDask())

from typing import Annotated

import dynamorm_async as d
from dynamorm_async.distributed import DaskRunner


class Item(d.Model, table="items"):
    id: Annotated[str, d.HashKey()]
    n: int


db = d.Session(endpoint_url="http://localhost:1", region_name="us-east-1")
print(db.scan(Item).segments(2).group_by(Item.n).aggregate(total=d.Sum(Item.n)))
try:
    DaskRunner(object())
except d.MissingDependency as exc:
    print("error:", exc)
print("imported:", sorted(m for m in sys.modules if m.partition(".")[0] in ("dask", "distributed")))
"""


def test_without_dask_the_package_works_and_the_runner_names_the_extra() -> None:
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WITHOUT_DASK)],
        capture_output=True, text=True, env=env, timeout=50, check=False,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "GroupBy(Item, by=[n], total=Sum(n))"
    assert lines[1] == (
        "error: DaskRunner needs Dask distributed, which is not installed: install the dask "
        "extra, pip install 'dynamorm-async[dask]'"
    )
    assert lines[2] == "imported: []"
    assert issubclass(MissingDependency, Exception)
