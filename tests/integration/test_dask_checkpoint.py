"""TableCheckpoint's ownership and takeover rules, store against store, without a cluster.

Two stores of one run stand for two workers: the second takes a segment over from the first
(what a re-run Dask task does) and must find what the first saved; the first must then be
fenced off. A store of another run starts from the resume key alone.
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from dynamorm_async import (
    DistributedError,
    HashKey,
    LocalRunner,
    Model,
    Session,
    TableCheckpoint,
    ValidationError,
    migrate,
)
from dynamorm_async._migrate.checkpoint import identity
from dynamorm_async._migrate.report import SegmentReport
from dynamorm_async._migrate.segment import key_digest

pytestmark = pytest.mark.timeout(60)


class Thing(Model, table="ckpt_things"):
    id: Annotated[str, HashKey()]
    n: int


class Other(Model, table="ckpt_others"):
    id: Annotated[str, HashKey()]
    n: int


def ident(segments: int = 2) -> dict[str, Any]:
    return identity(Thing, "things", Other, "others", segments)


async def test_a_segment_taken_over_in_the_same_run_resumes_with_what_was_saved(
    dynamodb_session: Session,
) -> None:
    db = dynamodb_session
    source, done = await TableCheckpoint("state").open(db, ident())
    assert done == set()
    first = await source.store(db, "run-1")
    claim = await first.claim(0, None)
    assert claim.start_key is None and claim.report.counts()["scanned"] == 0

    report = SegmentReport(0, scanned=3, completed=3, written=2, failed_count=1)
    page_key = {"id": {"S": "t3"}}
    await first.advance(0, page_key, report, [({"id": {"S": "t1"}}, "bad value")])
    pending = [key_digest({"id": {"S": "t4"}}), key_digest({"id": {"S": "t5"}})]
    await first.pending(0, pending)

    second = await source.store(db, "run-1")
    taken = await second.claim(0, None)

    assert taken.start_key == page_key and taken.report.counts()["written"] == 2
    assert taken.failures == [({"id": {"S": "t1"}}, "bad value")]
    assert taken.replayed == frozenset(pending)
    with pytest.raises(DistributedError, match="was taken over by another worker"):
        await first.advance(0, None, report, [])

    # A later run starts segment 0 from the resume key alone; segment 1 is fresh.
    later = await source.store(db, "run-2")
    again = await later.claim(0, None)
    assert again.start_key == page_key and again.replayed == frozenset()
    assert again.report.counts()["written"] == 0 and again.failures == []
    await later.advance(0, None, SegmentReport(0, scanned=1), [])
    assert (await TableCheckpoint("state").open(db, ident()))[1] == {0}


async def test_a_checkpoint_table_belongs_to_its_migration(dynamodb_session: Session) -> None:
    db = dynamodb_session
    await TableCheckpoint("state").open(db, ident(2))
    with pytest.raises(ValidationError, match="resume with the same source, target and segments"):
        await TableCheckpoint("state").open(db, ident(3))


async def test_the_local_runner_keeps_its_progress_in_a_checkpoint_table(
    dynamodb_session: Session,
) -> None:
    db = dynamodb_session
    await db.ensure_table(Thing)
    await db.batch_put([Thing(id=f"t{i:03d}", n=i) for i in range(120)])

    def copy(thing: Thing) -> Other:
        if thing.n % 50 == 7:
            raise ValueError(f"no copy of {thing.id}")
        return Other(id=thing.id, n=thing.n)

    checkpoint = TableCheckpoint("state")
    first = await migrate(db, source=Thing, target=Other, transform=copy, segments=3,
                          page_size=25, checkpoint=checkpoint, runner=LocalRunner())
    again = await migrate(db, source=Thing, target=Other, transform=copy, segments=3,
                          page_size=25, checkpoint=checkpoint)

    assert (first.scanned, first.written, first.failed_count) == (120, 117, 3)
    assert sorted(key["id"] for key, _ in first.failed) == ["t007", "t057", "t107"]
    assert (again.scanned, again.resumed_segments) == (0, 3)
