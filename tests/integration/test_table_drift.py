"""Tables that drift from their models, against DynamoDB Local: ensure_table's comparison,
diff_table, and sync_table adding and dropping global indexes and enabling TTL.

Each test creates the table with an older model (the ``...V1`` classes), then declares the
newer one, as a service meets it after a deploy.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated

import pytest

from dynamorm_async import (
    TTL,
    GlobalIndex,
    HashKey,
    LocalIndex,
    Model,
    RangeKey,
    Session,
    TableError,
    TtlDiff,
)
from dynamorm_async.testing import RecordingTransport, local_transport

pytestmark = pytest.mark.timeout(120)


class TaskV1(Model, table="drift_tasks"):
    project: Annotated[str, HashKey()]
    task_id: Annotated[str, RangeKey()]
    owner: str = ""
    state: str = "open"
    due: int = 0
    expires_at: Annotated[datetime | None, TTL()] = None

    __indexes__ = (LocalIndex("by_due", range_key="due", projection="KEYS_ONLY"),)


class TaskV1WithoutTtl(Model, table="drift_tasks"):
    """TaskV1's table as created before TTL was declared."""

    project: Annotated[str, HashKey()]
    task_id: Annotated[str, RangeKey()]
    due: int = 0

    __indexes__ = (LocalIndex("by_due", range_key="due", projection="KEYS_ONLY"),)


class TaskV2(TaskV1, table="drift_tasks"):
    """TaskV1 plus two global indexes."""

    __indexes__ = (
        LocalIndex("by_due", range_key="due", projection="KEYS_ONLY"),
        GlobalIndex("by_owner", hash_key="owner", range_key="due"),
        GlobalIndex("by_state", hash_key="state", projection=["owner"]),
    )


class TaskV3(TaskV1, table="drift_tasks"):
    """TaskV2 with ``by_owner`` renamed and ``by_state`` projecting everything."""

    __indexes__ = (
        LocalIndex("by_due", range_key="due", projection="KEYS_ONLY"),
        GlobalIndex("by_owner_v2", hash_key="owner", range_key="task_id"),
        GlobalIndex("by_state", hash_key="state", projection="ALL"),
    )


class TaskByOwner(Model, table="drift_tasks"):
    """Another key for the same table name."""

    owner: Annotated[str, HashKey()]
    task_id: Annotated[str, RangeKey()]


class TaskWithAnotherLocalIndex(Model, table="drift_tasks"):
    project: Annotated[str, HashKey()]
    task_id: Annotated[str, RangeKey()]
    due: int = 0
    state: str = ""

    __indexes__ = (
        LocalIndex("by_due", range_key="due", projection="KEYS_ONLY"),
        LocalIndex("by_state_local", range_key="state"),
    )


async def global_indexes(db: Session) -> dict[str, str]:
    table = await db.describe_table(TaskV1)
    return {g["IndexName"]: g["IndexStatus"] for g in table.get("GlobalSecondaryIndexes", [])}


async def ttl_of(db: Session) -> dict[str, str]:
    name = db.table_name(TaskV1)
    answer = await db.call("DescribeTimeToLive", {"TableName": name}, table=name)
    description: dict[str, str] = answer["TimeToLiveDescription"]
    return description


async def test_ensure_table_reports_drift_and_sync_table_fixes_it(
    dynamodb_session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    db = dynamodb_session
    await db.create_table(TaskV1WithoutTtl)
    for n in range(30):
        owner = "ada" if n % 3 else "bob"
        await db.put(TaskV1(project="p", task_id=f"t{n:02d}", owner=owner, due=n))

    assert await db.ensure_table(TaskV2) is False
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"table '{db.table_name(TaskV2)}' differs from TaskV2: missing global index 'by_owner'; "
        "missing global index 'by_state'; TTL is not enabled (the model declares it on "
        "'expires_at'); Session.sync_table() adds missing global indexes and TTL"
    ]
    diff = await db.diff_table(TaskV2)
    assert diff.missing_indexes == ("by_owner", "by_state")
    assert diff.ttl == TtlDiff(model="expires_at", table=None)

    plan = await db.sync_table(TaskV2, dry_run=True)
    assert plan.dry_run and plan.created_indexes == ("by_owner", "by_state")
    assert plan.enabled_ttl == "expires_at" and plan.remaining.in_sync
    assert await global_indexes(db) == {}
    assert (await ttl_of(db))["TimeToLiveStatus"] == "DISABLED"

    result = await db.sync_table(TaskV2)
    assert not result.dry_run
    assert result.actions == (
        "created global index 'by_owner'",
        "created global index 'by_state'",
        "enabled TTL on 'expires_at'",
    )
    assert await global_indexes(db) == {"by_owner": "ACTIVE", "by_state": "ACTIVE"}
    assert await ttl_of(db) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    # The new indexes hold the items written before they existed.
    mine = await db.query(TaskV2).index("by_owner").where(TaskV2.owner == "bob").all()
    assert [t.due for t in mine] == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]

    assert (await db.diff_table(TaskV2)).in_sync
    again = await db.sync_table(TaskV2)
    assert not again.changed and again.remaining.in_sync


async def test_indexes_are_added_one_at_a_time_each_waited_for(
    dynamodb_endpoint: str, dynamodb_session: Session
) -> None:
    await dynamodb_session.create_table(TaskV1)
    transport = RecordingTransport(local_transport(dynamodb_endpoint))
    async with Session(transport=transport, table_prefix=dynamodb_session.table_prefix) as db:
        await db.sync_table(TaskV2)
    operations = [r.operation for r in transport.requests]
    first, second = (i for i, op in enumerate(operations) if op == "UpdateTable")
    # Between the two creates the index being built was described until ACTIVE.
    assert "DescribeTable" in operations[first + 1 : second]
    assert operations[-1] == "DescribeTable"
    creates = transport.payloads("UpdateTable")
    assert creates[0]["AttributeDefinitions"] == [
        {"AttributeName": "due", "AttributeType": "N"},
        {"AttributeName": "owner", "AttributeType": "S"},
    ]
    assert "ProvisionedThroughput" not in creates[0]["GlobalSecondaryIndexUpdates"][0]["Create"]


async def test_a_provisioned_table_gives_new_indexes_its_capacity(
    dynamodb_session: Session,
) -> None:
    db = dynamodb_session
    await db.create_table(TaskV1, billing_mode="PROVISIONED", read_capacity=3, write_capacity=2)
    await db.sync_table(TaskV2)
    table = await db.describe_table(TaskV2)
    throughput = {
        g["IndexName"]: (
            g["ProvisionedThroughput"]["ReadCapacityUnits"],
            g["ProvisionedThroughput"]["WriteCapacityUnits"],
        )
        for g in table["GlobalSecondaryIndexes"]
    }
    assert throughput == {"by_owner": (3, 2), "by_state": (3, 2)}


async def test_sync_drops_only_when_asked_and_never_replaces(
    dynamodb_session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    db = dynamodb_session
    await db.create_table(TaskV2)

    kept = await db.sync_table(TaskV3)
    assert kept.created_indexes == ("by_owner_v2",) and kept.dropped_indexes == ()
    assert kept.remaining.extra_indexes == ("by_owner",)
    assert kept.remaining.changed_indexes == ("by_state",)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"table '{db.table_name(TaskV3)}' differs from TaskV3: extra global index 'by_owner' "
        "(the model does not declare it); global index 'by_state' differs: projection: table "
        "INCLUDE owner, model ALL; sync_table() does not change these"
    ]

    dropped = await db.sync_table(TaskV3, drop_extra_indexes=True)
    assert dropped.dropped_indexes == ("by_owner",) and dropped.created_indexes == ()
    # A changed index is left: replacing it would leave its queries without an index for as
    # long as the new one builds.
    assert dropped.remaining.changed_indexes == ("by_state",)
    assert await global_indexes(db) == {"by_owner_v2": "ACTIVE", "by_state": "ACTIVE"}

    # Back to the first model: its local index stays, TTL stays.
    back = await db.sync_table(TaskV1, drop_extra_indexes=True)
    assert set(back.dropped_indexes) == {"by_owner_v2", "by_state"}
    assert await global_indexes(db) == {}
    assert (await db.describe_table(TaskV1))["LocalSecondaryIndexes"][0]["IndexName"] == "by_due"


async def test_ttl_is_never_disabled_or_moved(dynamodb_session: Session) -> None:
    db = dynamodb_session
    await db.create_table(TaskV1)
    later = datetime.now(UTC) + timedelta(days=1)
    await db.put(TaskV1(project="p", task_id="t", expires_at=later))

    without = await db.sync_table(TaskV1WithoutTtl, drop_extra_indexes=True)
    assert not without.changed
    assert without.remaining.ttl == TtlDiff(model=None, table="expires_at")
    assert await ttl_of(db) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


async def test_what_sync_table_cannot_do_is_an_error(dynamodb_session: Session) -> None:
    db = dynamodb_session
    with pytest.raises(TableError) as absent:
        await db.sync_table(TaskV1)
    assert absent.value.code == "ResourceNotFoundException"
    assert "create it with Session.create_table()/ensure_table()" in absent.value.message

    await db.create_table(TaskV1)
    for attempt in (db.ensure_table, db.diff_table, db.sync_table):
        with pytest.raises(TableError) as other_key:
            await attempt(TaskByOwner)
        assert other_key.value.message.startswith(
            f"table '{db.table_name(TaskV1)}' has the key HASH project (S), RANGE task_id (S) "
            "but TaskByOwner declares HASH owner (S), RANGE task_id (S)"
        )

    with pytest.raises(TableError, match="lacks the local index\\(es\\) 'by_state_local'"):
        await db.sync_table(TaskWithAnotherLocalIndex, dry_run=True)
    diff = await db.diff_table(TaskWithAnotherLocalIndex)
    assert diff.missing_indexes == ("by_state_local",)
