"""``_fanout.worker_pool``: streamed jobs on a bounded number of workers, nothing left running."""

from __future__ import annotations

import asyncio
import math

import anyio
import anyio.lowlevel
import pytest

from dynamorm_async import DynamormError
from dynamorm_async._fanout import worker_pool

pytestmark = pytest.mark.timeout(30)


async def test_jobs_are_taken_in_the_order_sent_by_at_most_workers_tasks() -> None:
    taken: list[int] = []
    running = most = 0

    async def work(job: int) -> None:
        nonlocal running, most
        taken.append(job)
        running += 1
        most = max(most, running)
        await anyio.sleep(0.001)
        running -= 1

    async with worker_pool(work, workers=3) as jobs:
        for job in range(20):
            await jobs.send(job)
    assert taken == list(range(20))
    assert most == 3


async def test_send_waits_while_the_backlog_is_full() -> None:
    release = anyio.Event()
    sent = 0

    async def work(job: int) -> None:
        await release.wait()

    async with worker_pool(work, workers=2) as jobs:
        with anyio.move_on_after(0.1):
            for job in range(100):
                await jobs.send(job)
                sent += 1
        release.set()
    assert sent == 4  # two jobs running, two queued


async def test_an_unbounded_backlog_takes_jobs_from_synchronous_code() -> None:
    done: list[int] = []

    async def work(job: int) -> None:
        await anyio.lowlevel.checkpoint()
        done.append(job)

    async with worker_pool(work, workers=2, backlog=math.inf) as jobs:
        for job in range(50):
            jobs.send_nowait(job)
    assert sorted(done) == list(range(50))


async def test_a_failing_job_cancels_the_rest_and_comes_out_as_the_library_error() -> None:
    before = asyncio.all_tasks()

    async def work(job: int) -> None:
        if job == 3:
            raise DynamormError("job 3 failed")
        await anyio.sleep(60)

    with pytest.raises(DynamormError, match="job 3 failed"):
        async with worker_pool(work, workers=4) as jobs:
            for job in range(10):
                await jobs.send(job)
    await anyio.lowlevel.checkpoint()
    assert asyncio.all_tasks() == before


async def test_an_error_in_the_block_cancels_the_workers() -> None:
    before = asyncio.all_tasks()

    async def work(job: int) -> None:
        await anyio.sleep(60)

    with pytest.raises(LookupError):
        async with worker_pool(work, workers=2) as jobs:
            await jobs.send(1)
            raise LookupError("producer failed")
    await anyio.lowlevel.checkpoint()
    assert asyncio.all_tasks() == before
