"""Table drift without a database: DescribeTable answers against models, and the sync plans.

Most tables here are described as DynamoDB would describe the table an older model created
(:func:`described`), so each test reads as "the table was made by A, the code now declares B".
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import pytest

from dynamorm_async import (
    TTL,
    GlobalIndex,
    HashKey,
    IndexDiff,
    LocalIndex,
    Model,
    RangeKey,
    SyncResult,
    TableDiff,
    TableError,
    TtlDiff,
)
from dynamorm_async._model.model import model_info
from dynamorm_async._write.table_diff import (
    IndexShape,
    SyncStep,
    billing_of,
    compare_table,
    model_shape,
    plan_sync,
    table_shape,
    ttl_attribute,
)
from dynamorm_async._write.table_requests import Billing, create_table_request

pytestmark = pytest.mark.timeout(10)

TABLE = "p_orders"


class Order(Model, table="orders"):
    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    status: str = ""
    placed: int = 0
    note: str = ""
    expires: Annotated[datetime | None, TTL()] = None

    __indexes__ = (
        GlobalIndex("by_status", hash_key="status", range_key="placed", projection=["note"]),
        LocalIndex("by_placed", range_key="placed", projection="KEYS_ONLY"),
    )


class Bare(Model, table="orders"):
    """Order's key alone: no index, no TTL."""

    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]


def described(model: type[Model], billing: Billing | None = None) -> dict[str, Any]:
    """DescribeTable's ``Table`` for the table ``model`` creates, as DynamoDB answers it."""
    billing = billing or Billing()
    table = create_table_request(model_info(model), TABLE, billing)
    table.pop("BillingMode")
    for gsi in table.get("GlobalSecondaryIndexes", []):
        gsi["IndexStatus"] = "ACTIVE"
    table["TableStatus"] = "ACTIVE"
    if billing.mode == "PAY_PER_REQUEST":
        table["BillingModeSummary"] = {"BillingMode": "PAY_PER_REQUEST"}
    return table


def diff(model: type[Model], table: dict[str, Any], ttl: str | None = None) -> TableDiff:
    return compare_table(model_info(model), TABLE, table, ttl)


def plan(
    model: type[Model],
    table: dict[str, Any],
    ttl: str | None = None,
    *,
    drop: bool = False,
    dry_run: bool = False,
) -> tuple[SyncResult, tuple[SyncStep, ...]]:
    planned = plan_sync(
        model_info(model), TABLE, table, ttl, drop_extra_indexes=drop, dry_run=dry_run
    )
    return planned.result, planned.steps


# --- reading both sides ------------------------------------------------------------------------


def test_the_model_and_the_table_it_creates_have_one_shape() -> None:
    shape = model_shape(model_info(Order))
    assert shape == table_shape(described(Order), "expires")
    assert shape.keys == (("customer", "S", "HASH"), ("order_id", "S", "RANGE"))
    assert shape.ttl == "expires"
    assert shape.indexes == {
        "by_status": IndexShape(
            True,
            (("status", "S", "HASH"), ("placed", "N", "RANGE")),
            ("INCLUDE", frozenset({"note"})),
        ),
        "by_placed": IndexShape(
            False, (("customer", "S", "HASH"), ("placed", "N", "RANGE")), ("KEYS_ONLY", frozenset())
        ),
    }


def test_an_index_being_deleted_counts_as_gone_and_one_being_built_as_there() -> None:
    table = described(Order)
    table["GlobalSecondaryIndexes"][0]["IndexStatus"] = "DELETING"
    assert "by_status" not in table_shape(table, None).indexes
    table["GlobalSecondaryIndexes"][0]["IndexStatus"] = "CREATING"
    assert "by_status" in table_shape(table, None).indexes


def test_include_projections_compare_as_sets() -> None:
    class Two(Model, table="orders"):
        customer: Annotated[str, HashKey()]
        order_id: Annotated[str, RangeKey()]
        a: str = ""
        b: str = ""
        __indexes__ = (GlobalIndex("by_a", hash_key="a", projection=["a", "b"]),)

    table = described(Two)
    table["GlobalSecondaryIndexes"][0]["Projection"]["NonKeyAttributes"] = ["b", "a"]
    assert diff(Two, table).in_sync


@pytest.mark.parametrize(
    ("status", "attribute"),
    [("ENABLED", "exp"), ("ENABLING", "exp"), ("DISABLING", None), ("DISABLED", None)],
)
def test_ttl_attribute_counts_a_ttl_being_enabled(status: str, attribute: str | None) -> None:
    response = {"TimeToLiveDescription": {"TimeToLiveStatus": status, "AttributeName": "exp"}}
    assert ttl_attribute(response) == attribute


def test_ttl_attribute_of_a_table_that_never_had_one() -> None:
    assert ttl_attribute({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}) is None
    assert ttl_attribute({}) is None


def test_billing_of_a_described_table() -> None:
    assert billing_of(described(Bare)) == Billing()
    provisioned = {"ProvisionedThroughput": {"ReadCapacityUnits": 7, "WriteCapacityUnits": 2}}
    # A table created provisioned may have no BillingModeSummary at all.
    assert billing_of(provisioned) == Billing("PROVISIONED", 7, 2)
    summary = {"BillingModeSummary": {"BillingMode": "PROVISIONED"}, **provisioned}
    assert billing_of(summary) == Billing("PROVISIONED", 7, 2)


# --- the differences ---------------------------------------------------------------------------


def test_a_table_made_by_its_model_is_in_sync() -> None:
    found = diff(Order, described(Order), "expires")
    assert found == TableDiff(TABLE, "Order")
    assert found.in_sync and found.differences == ()
    assert str(found) == "table 'p_orders' matches Order"


class OtherRangeName(Model, table="orders"):
    customer: Annotated[str, HashKey()]
    order_no: Annotated[str, RangeKey()]


class OtherRangeType(Model, table="orders"):
    customer: Annotated[str, HashKey()]
    order_id: Annotated[int, RangeKey()]


class NoRange(Model, table="orders"):
    customer: Annotated[str, HashKey()]


@pytest.mark.parametrize(
    ("model", "declared"),
    [
        (OtherRangeName, "HASH customer (S), RANGE order_no (S)"),
        (OtherRangeType, "HASH customer (S), RANGE order_id (N)"),
        (NoRange, "HASH customer (S)"),
    ],
    ids=["name", "type", "range-key-dropped"],
)
def test_a_different_key_is_an_error_naming_both(model: type[Model], declared: str) -> None:
    with pytest.raises(TableError) as caught:
        diff(model, described(Bare))
    message = caught.value.message
    assert "has the key HASH customer (S), RANGE order_id (S)" in message
    assert f"but {model.__name__} declares {declared}" in message
    assert "copy the items with migrate()" in message
    assert caught.value.table == TABLE


def test_a_range_key_added_by_the_model_is_an_error() -> None:
    with pytest.raises(TableError, match=r"has the key HASH customer \(S\) but Bare declares"):
        diff(Bare, described(NoRange))


def test_missing_indexes_and_ttl() -> None:
    found = diff(Order, described(Bare))
    assert found.indexes == (
        IndexDiff("by_status", "missing", True),
        IndexDiff("by_placed", "missing", False),
    )
    assert found.missing_indexes == ("by_status", "by_placed")
    assert found.extra_indexes == found.changed_indexes == ()
    assert found.ttl == TtlDiff(model="expires", table=None)
    assert found.differences == (
        "missing global index 'by_status'",
        "missing local index 'by_placed'",
        "TTL is not enabled (the model declares it on 'expires')",
    )
    assert str(found).startswith("table 'p_orders' differs from Order: missing global index")


def test_extra_indexes_and_ttl() -> None:
    found = diff(Bare, described(Order), "expires")
    assert found.extra_indexes == ("by_status", "by_placed")
    assert found.missing_indexes == ()
    assert str(found.indexes[1]) == "extra local index 'by_placed' (the model does not declare it)"
    assert str(found.ttl) == "TTL is enabled on 'expires', which the model does not declare"


def test_ttl_on_another_attribute() -> None:
    found = diff(Order, described(Order), "old_expiry")
    assert found.indexes == ()
    assert found.ttl == TtlDiff("expires", "old_expiry")
    assert str(found.ttl) == "TTL is enabled on 'old_expiry'; the model declares it on 'expires'"


class Changed(Model, table="orders"):
    """Order's indexes under the same names, each changed."""

    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    status: str = ""
    placed: str = ""  # was int: a key type of both indexes changes
    note: str = ""
    expires: Annotated[datetime | None, TTL()] = None

    __indexes__ = (
        GlobalIndex("by_status", hash_key="status", projection="ALL"),
        LocalIndex("by_placed", range_key="placed", projection="KEYS_ONLY"),
    )


def test_changed_keys_key_types_and_projections_are_detailed() -> None:
    found = diff(Changed, described(Order), "expires")
    assert found.changed_indexes == ("by_status", "by_placed")
    by_status, by_placed = found.indexes
    assert by_status.details == (
        "keys: table HASH status (S), RANGE placed (N), model HASH status (S)",
        "projection: table INCLUDE note, model ALL",
    )
    assert by_placed.details == (
        "keys: table HASH customer (S), RANGE placed (N), model HASH customer (S), "
        "RANGE placed (S)",
    )
    assert str(by_placed).startswith("local index 'by_placed' differs: keys: table")


def test_an_index_that_changed_kind() -> None:
    class GlobalPlaced(Model, table="orders"):
        customer: Annotated[str, HashKey()]
        order_id: Annotated[str, RangeKey()]
        placed: int = 0
        __indexes__ = (
            GlobalIndex(
                "by_placed", hash_key="customer", range_key="placed", projection="KEYS_ONLY"
            ),
        )

    class LocalPlaced(Model, table="orders"):
        customer: Annotated[str, HashKey()]
        order_id: Annotated[str, RangeKey()]
        placed: int = 0
        __indexes__ = (LocalIndex("by_placed", range_key="placed", projection="KEYS_ONLY"),)

    found = diff(GlobalPlaced, described(LocalPlaced))
    assert found.indexes == (
        IndexDiff("by_placed", "changed", True, ("the table's is local, the model's global",)),
    )


def test_a_missing_index_whose_old_copy_is_being_deleted() -> None:
    table = described(Order)
    table["GlobalSecondaryIndexes"][0]["IndexStatus"] = "DELETING"
    assert diff(Order, table, "expires").missing_indexes == ("by_status",)


# --- the sync plan -----------------------------------------------------------------------------


def test_nothing_to_do() -> None:
    result, steps = plan(Order, described(Order), "expires")
    assert steps == ()
    assert not result.changed and result.actions == () and result.remaining.in_sync
    assert str(result) == "table 'p_orders': nothing to change"


def test_a_missing_global_index_and_ttl_are_added_in_order() -> None:
    class NoLocal(Model, table="orders"):
        customer: Annotated[str, HashKey()]
        order_id: Annotated[str, RangeKey()]
        status: str = ""
        placed: int = 0
        expires: Annotated[datetime | None, TTL()] = None
        __indexes__ = (
            GlobalIndex("by_status", hash_key="status", range_key="placed"),
            GlobalIndex("by_placed", hash_key="placed", projection="KEYS_ONLY"),
        )

    result, steps = plan(NoLocal, described(Bare))
    by_status = {
        "IndexName": "by_status",
        "KeySchema": [
            {"AttributeName": "status", "KeyType": "HASH"},
            {"AttributeName": "placed", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    assert steps[0] == SyncStep(
        "UpdateTable",
        {
            "TableName": TABLE,
            # Only the new index's key attributes are defined.
            "AttributeDefinitions": [
                {"AttributeName": "status", "AttributeType": "S"},
                {"AttributeName": "placed", "AttributeType": "N"},
            ],
            "GlobalSecondaryIndexUpdates": [{"Create": by_status}],
        },
        index="by_status",
        creates=True,
    )
    assert steps[1].index == "by_placed" and steps[1].creates
    assert steps[1].payload["AttributeDefinitions"] == [
        {"AttributeName": "placed", "AttributeType": "N"}
    ]
    assert steps[2] == SyncStep(
        "UpdateTimeToLive",
        {
            "TableName": TABLE,
            "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires"},
        },
    )
    assert len(steps) == 3
    assert result == SyncResult(
        diff(NoLocal, described(Bare)),
        created_indexes=("by_status", "by_placed"),
        enabled_ttl="expires",
    )
    assert result.changed and result.remaining.in_sync
    assert result.actions == (
        "created global index 'by_status'",
        "created global index 'by_placed'",
        "enabled TTL on 'expires'",
    )


def test_a_provisioned_table_gives_new_indexes_its_capacity_or_their_own() -> None:
    class Capacities(Model, table="orders"):
        customer: Annotated[str, HashKey()]
        order_id: Annotated[str, RangeKey()]
        a: str = ""
        b: str = ""
        __indexes__ = (
            GlobalIndex("by_a", hash_key="a"),
            GlobalIndex("by_b", hash_key="b", read_capacity=9, write_capacity=8),
        )

    table = described(Bare, Billing("PROVISIONED", 4, 3))
    table["ProvisionedThroughput"] = {"ReadCapacityUnits": 4, "WriteCapacityUnits": 3}
    _, steps = plan(Capacities, table)
    throughputs = [s.payload["GlobalSecondaryIndexUpdates"][0]["Create"] for s in steps]
    assert [t["ProvisionedThroughput"] for t in throughputs] == [
        {"ReadCapacityUnits": 4, "WriteCapacityUnits": 3},
        {"ReadCapacityUnits": 9, "WriteCapacityUnits": 8},
    ]
    _, on_demand = plan(Capacities, described(Bare))
    assert all(
        "ProvisionedThroughput" not in s.payload["GlobalSecondaryIndexUpdates"][0]["Create"]
        for s in on_demand
    )


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_missing_local_index_cannot_be_added(dry_run: bool) -> None:
    with pytest.raises(TableError) as caught:
        plan(Order, described(Bare), dry_run=dry_run)
    assert "lacks the local index(es) 'by_placed' of Order" in caught.value.message
    assert "local indexes can only be created with their table" in caught.value.message


def test_a_different_key_stops_the_plan_too() -> None:
    with pytest.raises(TableError, match="a table's key cannot change"):
        plan(NoRange, described(Bare))


def test_extra_indexes_stay_unless_asked() -> None:
    result, steps = plan(Bare, described(Order), "expires")
    assert steps == ()
    assert result.remaining == result.diff
    assert str(result) == (
        "table 'p_orders': nothing to change; left as is: extra global index 'by_status' "
        "(the model does not declare it); extra local index 'by_placed' (the model does not "
        "declare it); TTL is enabled on 'expires', which the model does not declare"
    )


def test_drop_extra_indexes_drops_global_ones_after_creating() -> None:
    class Renamed(Order, table="orders"):
        __indexes__ = (
            GlobalIndex("by_status_v2", hash_key="status", range_key="placed"),
            LocalIndex("by_placed", range_key="placed", projection="KEYS_ONLY"),
        )

    result, steps = plan(Renamed, described(Order), "expires", drop=True, dry_run=True)
    assert [(s.index, s.creates) for s in steps] == [("by_status_v2", True), ("by_status", False)]
    assert steps[1].payload == {
        "TableName": TABLE,
        "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "by_status"}}],
    }
    assert result.dry_run
    assert result.actions == (
        "would create global index 'by_status_v2'",
        "would drop global index 'by_status'",
    )
    assert result.remaining.in_sync


def test_local_indexes_are_never_dropped() -> None:
    result, steps = plan(Bare, described(Order), drop=True)
    assert [s.index for s in steps] == ["by_status"]
    assert result.dropped_indexes == ("by_status",)
    assert result.remaining.extra_indexes == ("by_placed",)


def test_changed_indexes_and_ttl_on_another_attribute_are_left_as_they_are() -> None:
    class ChangedGlobal(Model, table="orders"):
        customer: Annotated[str, HashKey()]
        order_id: Annotated[str, RangeKey()]
        status: str = ""
        placed: int = 0
        expires: Annotated[datetime | None, TTL()] = None
        __indexes__ = (
            GlobalIndex("by_status", hash_key="status", range_key="placed", projection="ALL"),
            LocalIndex("by_placed", range_key="placed", projection="KEYS_ONLY"),
        )

    result, steps = plan(ChangedGlobal, described(Order), "old", drop=True)
    assert steps == ()
    assert not result.changed
    assert result.remaining.changed_indexes == ("by_status",)
    assert result.remaining.ttl == TtlDiff("expires", "old")


class StatusAsNumber(Model, table="orders"):
    """Keys a new index on Order's ``status``, but as a number."""

    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    status: int = 0
    placed: int = 0
    __indexes__ = (
        GlobalIndex("by_status_no", hash_key="status"),
        LocalIndex("by_placed", range_key="placed", projection="KEYS_ONLY"),
    )


def test_an_extra_index_holding_an_attribute_with_another_type_is_dropped_first() -> None:
    result, steps = plan(StatusAsNumber, described(Order), drop=True)
    assert [(s.index, s.creates) for s in steps] == [
        ("by_status", False),
        ("by_status_no", True),
    ]
    assert result.dropped_indexes == ("by_status",)


def test_an_attribute_type_a_kept_index_contradicts_is_an_error() -> None:
    with pytest.raises(TableError) as caught:
        plan(StatusAsNumber, described(Order))
    assert caught.value.message.startswith(
        "index 'by_status_no' of StatusAsNumber keys 'status' as N, but table 'p_orders' "
        "defines 'status' as S for index(es) 'by_status': a table gives an attribute one type"
    )
