"""Migration writes that DynamoDB leaves unprocessed, through the fault-injecting proxy."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest

# tests/ is on sys.path as the directory of the root conftest.py, under `pytest` and
# `python -m pytest` alike.
from faultproxy import FaultConfig, FaultProxy

from dynamorm_async import HashKey, Model, Session
from dynamorm_async._batch.retry import RetryPolicy
from dynamorm_async._migrate.converters import Reshape, to_int
from dynamorm_async._migrate.run import migrate
from dynamorm_async.testing import local_session

pytestmark = pytest.mark.timeout(60)


class ItemV1(Model, table="things"):
    id: Annotated[str, HashKey()]
    qty: str
    schema: Literal[1] = 1


class ItemV2(Model, table="things"):
    id: Annotated[str, HashKey()]
    qty: int
    schema: Literal[2] = 2


UPGRADE = Reshape(ItemV2, drop=["schema"], convert={"qty": to_int}, source=ItemV1)


async def stored(db: Session) -> dict[str, dict[str, Any]]:
    table = db.table_name(ItemV1)
    response = await db.call("Scan", {"TableName": table, "ConsistentRead": True}, table=table)
    return {item["id"]["S"]: item for item in response["Items"]}


async def test_unprocessed_writes_are_failures_of_their_items(
    dynamodb_session: Session, dynamodb_endpoint: str
) -> None:
    await dynamodb_session.ensure_table(ItemV1)
    await dynamodb_session.batch_put(
        [ItemV1(id=f"k{i:03d}", qty="0.5" if i == 3 else str(i)) for i in range(30)]
    )
    stuck = {"k005", "k021"}
    config = FaultConfig(never_process=lambda item: item["id"]["S"] in stuck)
    async with (
        FaultProxy(upstream=dynamodb_endpoint, config=config) as proxy,
        local_session(
            proxy.endpoint_url,
            table_prefix=dynamodb_session.table_prefix,
            batch_retry=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.001),
        ) as db,
    ):
        report = await migrate(db, source=ItemV1, target=ItemV2, transform=UPGRADE, page_size=8)

    failed = dict((k["id"], r) for k, r in report.failed)
    assert set(failed) == {"k003"} | stuck
    assert failed["k005"].startswith("not written: ") and "were not written" in failed["k005"]
    assert failed["k003"].startswith("transform failed: ConversionError: qty: '0.5'")
    assert report.written == report.transformed - 2 == 27
    assert report.failed_count == 3
    items = await stored(dynamodb_session)
    assert items["k005"]["schema"] == {"N": "1"} and items["k006"]["schema"] == {"N": "2"}


async def test_old_items_left_undeleted_are_failures_of_their_items(
    dynamodb_session: Session, dynamodb_endpoint: str
) -> None:
    await dynamodb_session.ensure_table(ItemV1)
    await dynamodb_session.batch_put([ItemV1(id=f"k{i:03d}", qty=str(i)) for i in range(10)])
    # The proxy sees the delete of the old key k004 (a key, no "qty") and never processes it.
    config = FaultConfig(never_process=lambda entry: entry == {"id": {"S": "k004"}})

    def rekey(item: ItemV1) -> ItemV2:
        return ItemV2(id="new-" + item.id, qty=to_int(item.qty))

    async with (
        FaultProxy(upstream=dynamodb_endpoint, config=config) as proxy,
        local_session(
            proxy.endpoint_url,
            table_prefix=dynamodb_session.table_prefix,
            batch_retry=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.001),
        ) as db,
    ):
        report = await migrate(
            db, source=ItemV1, target=ItemV2, transform=rekey, allow_key_change=True
        )

    assert report.written == 10 and report.deleted == 9
    [(key, reason)] = report.failed
    assert key == {"id": "k004"}
    assert reason.startswith("written under {'id': 'new-k004'}, but the old item was not deleted")
    items = await stored(dynamodb_session)
    assert sorted(items) == sorted([f"new-k{i:03d}" for i in range(10)] + ["k004"])
