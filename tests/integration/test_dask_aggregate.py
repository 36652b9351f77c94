"""GROUP BY and aggregates folded on a Dask LocalCluster, compared with the in-process run.

Uses a synchronous ``Client`` (the migration tests use an asynchronous one); the workers
import this module to unpickle the model, so it is defined at module level.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Any

import distributed
import pytest

from dynamorm_async import (
    Avg,
    Count,
    HashKey,
    Max,
    Min,
    Model,
    Session,
    Sum,
    ValidationError,
    path,
)
from dynamorm_async.distributed import DaskRunner

pytestmark = pytest.mark.timeout(120)


class Sale(Model, table="dask_sales"):
    id: Annotated[str, HashKey()]
    region: str
    amount: Decimal
    qty: int
    note: str | None = None


def sale(i: int) -> Sale:
    # Amounts of mixed precision and sign, so sums and averages must stay exact.
    amount = Decimal(f"{(-1) ** i * (i % 37)}.{i % 1000:03d}") / (1 + i % 3)
    return Sale(id=f"s{i:05d}", region=f"r{i % 7}", amount=amount.quantize(Decimal("1.000001")),
                qty=i % 11, note="x" if i % 4 else None)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A synchronous client of two worker processes, shared by this module's tests."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as sync_client,
    ):
        yield sync_client


async def test_group_by_with_having_on_dask_equals_the_in_process_result(
    dynamodb_session: Session, client: Any
) -> None:
    db = dynamodb_session
    await db.ensure_table(Sale)
    await db.batch_put([sale(i) for i in range(3_000)])
    runner = DaskRunner(client)
    scan = db.scan(Sale).segments(6).page_size(200)
    aggregates = {
        "n": Count(),
        "notes": Count(Sale.note),
        "total": Sum(Sale.amount),
        "mean": Avg(Sale.amount),
        "least": Min(Sale.amount),
        "most": Max(Sale.qty),
    }
    grouped = scan.group_by(Sale.region).having(Sum(Sale.amount) > 0)

    here = await grouped.aggregate(**aggregates).order_by("total", desc=True)
    there = await grouped.aggregate(**aggregates, runner=runner).order_by("total", desc=True)

    assert there == here and 0 < len(here) < 7
    assert all(isinstance(row["mean"], Decimal) for row in there)
    whole = scan.filter(path(Sale.qty) > 3)
    assert await whole.aggregate(**aggregates, runner=runner) == await whole.aggregate(
        **aggregates
    )
    # Count() alone reads Select=COUNT pages, on the workers too.
    assert await scan.aggregate(n=Count(), runner=runner) == await scan.aggregate(n=Count())
    assert (await scan.aggregate(n=Count(), runner=runner))["n"] == 3_000


async def test_limit_needs_the_items_in_one_process(
    dynamodb_session: Session, client: Any
) -> None:
    await dynamodb_session.ensure_table(Sale)
    limited = dynamodb_session.scan(Sale).limit(10).aggregate(n=Count(), runner=DaskRunner(client))
    with pytest.raises(ValidationError, match=r"limit\(\) caps the items of all segments"):
        await limited
