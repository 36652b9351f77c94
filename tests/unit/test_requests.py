"""Pure request builders: CreateTable/TTL payloads and the shared write semantics (the target
of a write, versions and timestamps, what a confirmed write gives the caller's instance)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import pytest

from dynamorm_async._errors import ValidationError
from dynamorm_async._expressions.core import Condition, Placeholders
from dynamorm_async._model.model import (
    TTL,
    CreatedAt,
    GlobalIndex,
    HashKey,
    LocalIndex,
    Model,
    RangeKey,
    UpdatedAt,
    Version,
    model_info,
)
from dynamorm_async._write.semantics import (
    apply_confirmed,
    condition_payload,
    delete_condition,
    delete_request,
    prepare_write,
    put_request,
    resolve_target,
)
from dynamorm_async._write.table_requests import Billing, create_table_request, ttl_request

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


class RequestOrder(Model, table="orders"):
    """Renamed attributes, a binary index key and every managed field, for exact payloads."""

    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    status: str = "new"
    total: Decimal = Decimal(0)
    qty: int = 0
    region: str = msgspec.field(default="eu", name="rg")
    picture: bytes | None = None
    note: str | None = None
    version: Annotated[int, Version()] = 0
    expires_at: Annotated[datetime | None, TTL()] = None
    created_at: Annotated[datetime | None, CreatedAt()] = None
    updated_at: Annotated[datetime | None, UpdatedAt()] = None

    __indexes__ = (
        GlobalIndex("by_status", hash_key="status", range_key="total"),
        GlobalIndex("by_region", hash_key="region", projection="KEYS_ONLY"),
        GlobalIndex(
            "by_picture",
            hash_key="picture",
            range_key="order_id",
            projection=["note", "qty"],
            read_capacity=7,
            write_capacity=3,
        ),
        LocalIndex("by_qty", range_key="qty", projection="ALL"),
        LocalIndex("by_created", range_key="created_at", projection=["status"]),
    )


class Simple(Model, table="simple"):
    pk: Annotated[int, HashKey()]
    value: str = ""


INFO = model_info(RequestOrder)


def render(condition: Condition | None) -> tuple[str, dict[str, str], dict[str, Any]] | None:
    if condition is None:
        return None
    ph = Placeholders()
    return condition.encode(ph), ph.names, ph.values


# --- CreateTable ----------------------------------------------------------------------------


def test_create_table_on_demand() -> None:
    request = create_table_request(INFO, "p_orders")
    assert request["TableName"] == "p_orders"
    assert request["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in request
    assert request["KeySchema"] == [
        {"AttributeName": "customer", "KeyType": "HASH"},
        {"AttributeName": "order_id", "KeyType": "RANGE"},
    ]
    definitions = request["AttributeDefinitions"]
    names = [d["AttributeName"] for d in definitions]
    assert len(names) == len(set(names)), "attribute definitions must be deduplicated"
    assert {d["AttributeName"]: d["AttributeType"] for d in definitions} == {
        "customer": "S",
        "order_id": "S",
        "status": "S",
        "total": "N",
        "rg": "S",
        "picture": "B",
        "qty": "N",
        "created_at": "S",
    }
    gsis = {g["IndexName"]: g for g in request["GlobalSecondaryIndexes"]}
    assert gsis["by_status"] == {
        "IndexName": "by_status",
        "KeySchema": [
            {"AttributeName": "status", "KeyType": "HASH"},
            {"AttributeName": "total", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    assert gsis["by_region"]["KeySchema"] == [{"AttributeName": "rg", "KeyType": "HASH"}]
    assert gsis["by_region"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert gsis["by_picture"]["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": ["note", "qty"],
    }
    assert all("ProvisionedThroughput" not in g for g in gsis.values())
    lsis = {i["IndexName"]: i for i in request["LocalSecondaryIndexes"]}
    assert lsis["by_qty"] == {
        "IndexName": "by_qty",
        "KeySchema": [
            {"AttributeName": "customer", "KeyType": "HASH"},
            {"AttributeName": "qty", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    assert lsis["by_created"]["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": ["status"],
    }


def test_create_table_provisioned() -> None:
    request = create_table_request(INFO, "orders", Billing("PROVISIONED", 11, 12))
    assert request["BillingMode"] == "PROVISIONED"
    assert request["ProvisionedThroughput"] == {"ReadCapacityUnits": 11, "WriteCapacityUnits": 12}
    gsis = {g["IndexName"]: g for g in request["GlobalSecondaryIndexes"]}
    # An index's own capacity wins; otherwise it gets the table's.
    assert gsis["by_picture"]["ProvisionedThroughput"] == {
        "ReadCapacityUnits": 7,
        "WriteCapacityUnits": 3,
    }
    assert gsis["by_status"]["ProvisionedThroughput"] == {
        "ReadCapacityUnits": 11,
        "WriteCapacityUnits": 12,
    }
    # LSIs share the table's throughput and take none of their own.
    assert all("ProvisionedThroughput" not in i for i in request["LocalSecondaryIndexes"])


def test_create_table_without_indexes() -> None:
    request = create_table_request(model_info(Simple), "simple")
    assert request == {
        "TableName": "simple",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "N"}],
    }


def test_ttl_request() -> None:
    assert ttl_request(INFO, "p_orders") == {
        "TableName": "p_orders",
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires_at"},
    }
    assert ttl_request(model_info(Simple), "simple") is None


# --- prepare_write ------------------------------------------------------------------------


def test_first_write_requires_absence_and_bumps_version_to_one() -> None:
    order = RequestOrder(customer="c", order_id="o")
    prepared = prepare_write(INFO, order, now=NOW)
    assert render(prepared.condition) == (
        "attribute_not_exists(#n0)",
        {"#n0": "version"},
        {},
    )
    assert prepared.item["version"] == {"N": "1"}
    assert prepared.updates["version"] == 1
    assert order.version == 0, "the caller's instance changes only after DynamoDB confirms"


def test_later_write_requires_the_current_version_and_bumps_it() -> None:
    order = RequestOrder(customer="c", order_id="o", version=41)
    prepared = prepare_write(INFO, order, now=NOW)
    assert render(prepared.condition) == ("#n0 = :v0", {"#n0": "version"}, {":v0": {"N": "41"}})
    assert prepared.item["version"] == {"N": "42"}
    assert prepared.updates["version"] == 42


def test_created_at_is_set_once_and_updated_at_every_time() -> None:
    first = prepare_write(INFO, RequestOrder(customer="c", order_id="o"), now=NOW)
    stamp = {"S": "2025-06-01T12:00:00.000000Z"}
    assert first.item["created_at"] == stamp
    assert first.item["updated_at"] == stamp
    assert first.updates["created_at"] == NOW
    assert first.updates["updated_at"] == NOW

    later = NOW + timedelta(days=1)
    stored = msgspec.structs.replace(
        RequestOrder(customer="c", order_id="o", version=1), **dict(first.updates)
    )
    second = prepare_write(INFO, stored, now=later)
    assert second.item["created_at"] == stamp
    assert "created_at" not in second.updates
    assert second.item["updated_at"] == {"S": "2025-06-02T12:00:00.000000Z"}
    assert second.updates["updated_at"] == later


def test_create_also_requires_that_no_item_has_the_key() -> None:
    order = RequestOrder(customer="c", order_id="o")
    prepared = prepare_write(INFO, order, now=NOW, condition=RequestOrder.qty == 0, create=True)
    assert render(prepared.condition) == (
        "(#n0 = :v0) AND (attribute_not_exists(#n1)) AND (attribute_not_exists(#n2))",
        {"#n0": "qty", "#n1": "customer", "#n2": "version"},
        {":v0": {"N": "0"}},
    )
    plain = prepare_write(model_info(Simple), Simple(pk=1), now=NOW, create=True)
    assert render(plain.condition) == ("attribute_not_exists(#n0)", {"#n0": "pk"}, {})
    assert plain.key == {"pk": {"N": "1"}}


def test_user_condition_is_combined_with_the_version_check() -> None:
    order = RequestOrder(customer="c", order_id="o", version=3)
    prepared = prepare_write(INFO, order, now=NOW, condition=RequestOrder.status == "new")
    assert render(prepared.condition) == (
        "(#n0 = :v0) AND (#n1 = :v1)",
        {"#n0": "status", "#n1": "version"},
        {":v0": {"S": "new"}, ":v1": {"N": "3"}},
    )


def test_model_without_special_fields_writes_as_is() -> None:
    prepared = prepare_write(model_info(Simple), Simple(pk=1, value="v"), now=NOW)
    assert prepared.condition is None
    assert prepared.updates == {}
    assert prepared.item == {"pk": {"N": "1"}, "value": {"S": "v"}}
    only_user = prepare_write(
        model_info(Simple), Simple(pk=1), now=NOW, condition=Simple.value.exists()
    )
    assert render(only_user.condition) == ("attribute_exists(#n0)", {"#n0": "value"}, {})


def test_prepare_write_validates_the_item() -> None:
    with pytest.raises(ValidationError, match="empty"):
        prepare_write(INFO, RequestOrder(customer="", order_id="o"), now=NOW)
    with pytest.raises(ValidationError, match="expected a RequestOrder"):
        prepare_write(INFO, Simple(pk=1), now=NOW)
    with pytest.raises(ValidationError, match="timezone"):
        prepare_write(INFO, RequestOrder(customer="c", order_id="o"), now=datetime(2025, 1, 1))


# --- the target of a write -----------------------------------------------------------------


def test_an_instance_names_its_item_and_carries_its_version() -> None:
    order = RequestOrder(customer="c", order_id="o", version=5)
    target = resolve_target(order, {})
    assert (target.info, target.instance) == (INFO, order)
    assert target.key == {"customer": {"S": "c"}, "order_id": {"S": "o"}}
    assert target.expected_version == 5
    simple = resolve_target(Simple(pk=7), {})
    assert (simple.key, simple.expected_version) == ({"pk": {"N": "7"}}, None)


def test_a_model_class_names_the_item_under_its_key() -> None:
    target = resolve_target(RequestOrder, {"customer": "c", "order_id": "o"})
    assert (target.info, target.instance) == (INFO, None)
    assert target.key == {"customer": {"S": "c"}, "order_id": {"S": "o"}}
    assert target.expected_version is None, "a key carries no version to check"


@pytest.mark.parametrize(
    ("target", "key", "message"),
    [
        (
            RequestOrder(customer="c", order_id="o"),
            {"customer": "c"},
            "either an instance or a model",
        ),
        (RequestOrder, {"customer": "c"}, r"missing \['order_id'\]"),
        (RequestOrder, {"customer": "c", "order_id": "o", "x": 1}, r"unexpected \['x'\]"),
        (RequestOrder, {}, "key needs exactly"),
        (RequestOrder(customer="c", order_id=""), {}, "empty"),
        (RequestOrder, {"customer": "c", "order_id": ""}, "empty"),
    ],
)
def test_a_target_is_an_instance_or_a_model_with_its_full_key(
    target: Any, key: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        resolve_target(target, key)


def test_a_delete_checks_an_instance_version_and_the_caller_condition() -> None:
    target = resolve_target(RequestOrder(customer="c", order_id="o", version=5), {})
    assert render(delete_condition(target, None)) == (
        "#n0 = :v0",
        {"#n0": "version"},
        {":v0": {"N": "5"}},
    )
    fresh = resolve_target(RequestOrder(customer="c", order_id="o"), {})
    assert render(delete_condition(fresh, RequestOrder.status == "cancelled")) == (
        "(#n0 = :v0) AND (attribute_not_exists(#n1))",
        {"#n0": "status", "#n1": "version"},
        {":v0": {"S": "cancelled"}},
    )
    by_key = resolve_target(RequestOrder, {"customer": "c", "order_id": "o"})
    assert delete_condition(by_key, None) is None
    assert delete_condition(resolve_target(Simple(pk=7), {}), None) is None


# --- what a confirmed write gives the caller's instance ------------------------------------


class Pinned(Model, table="pinned", frozen=True):
    pk: Annotated[str, HashKey()]
    version: Annotated[int, Version()] = 0


def test_a_mutable_instance_takes_the_confirmed_values_in_place() -> None:
    order = RequestOrder(customer="c", order_id="o")
    prepared = prepare_write(INFO, order, now=NOW)
    assert apply_confirmed(order, prepared.updates) is order
    assert (order.version, order.created_at, order.updated_at) == (1, NOW, NOW)


def test_a_frozen_instance_is_never_changed_and_an_updated_copy_is_returned() -> None:
    pinned = Pinned(pk="p")
    prepared = prepare_write(model_info(Pinned), pinned, now=NOW)
    confirmed = apply_confirmed(pinned, prepared.updates)
    assert pinned.version == 0
    assert confirmed == Pinned(pk="p", version=1)


def test_nothing_to_confirm_returns_the_instance_itself() -> None:
    pinned = Pinned(pk="p")
    assert apply_confirmed(pinned, {}) is pinned


# --- item payloads --------------------------------------------------------------------------


def test_put_get_delete_payloads() -> None:
    item = {"pk": {"N": "1"}}
    assert put_request("t", item, None) == {"TableName": "t", "Item": item}
    assert put_request("t", item, Simple.value.not_exists()) == {
        "TableName": "t",
        "Item": item,
        "ConditionExpression": "attribute_not_exists(#n0)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        "ExpressionAttributeNames": {"#n0": "value"},
    }
    assert delete_request("t", item, Simple.value == "x") == {
        "TableName": "t",
        "Key": item,
        "ConditionExpression": "#n0 = :v0",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        "ExpressionAttributeNames": {"#n0": "value"},
        "ExpressionAttributeValues": {":v0": {"S": "x"}},
    }
    assert condition_payload(None, Placeholders()) == {}
