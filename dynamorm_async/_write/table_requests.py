"""Table request payloads, built from a model without I/O: CreateTable, UpdateTimeToLive, and
the UpdateTable calls that add or remove one global index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, cast

from .._errors import ValidationError
from .._model.indexes import Projection
from .._model.model import ModelInfo

__all__ = [
    "Billing",
    "BillingMode",
    "TableOptions",
    "create_index_request",
    "create_table_request",
    "delete_index_request",
    "read_table_options",
    "ttl_request",
]

BillingMode = Literal["PAY_PER_REQUEST", "PROVISIONED"]
"""How a table is billed: on demand, or with provisioned read and write capacity."""


@dataclass(frozen=True, slots=True)
class Billing:
    """The billing of a new table: on demand, or provisioned with these capacities (which
    also go to each global index that declares none of its own)."""

    mode: BillingMode = "PAY_PER_REQUEST"
    read_capacity: int = 5
    write_capacity: int = 5


class TableOptions(TypedDict, total=False):
    """How ``create_table`` and ``ensure_table`` make a table: ``wait`` until it is ACTIVE
    (default True), ``billing_mode`` (default ``"PAY_PER_REQUEST"``), and with
    ``"PROVISIONED"`` the ``read_capacity``/``write_capacity`` (default 5 each) of the table
    and of each global index that declares none of its own."""

    wait: bool
    billing_mode: BillingMode
    read_capacity: int
    write_capacity: int


def read_table_options(options: Mapping[str, object]) -> tuple[Billing, bool]:
    """The billing and the ``wait`` flag :class:`TableOptions` ask for; ValidationError for
    a keyword that is not one of them."""
    unknown = sorted(set(options) - TableOptions.__optional_keys__)
    if unknown:
        known = ", ".join(sorted(TableOptions.__optional_keys__))
        raise ValidationError(f"unknown table options {unknown}; the options are {known}")
    typed = cast("TableOptions", options)
    billing = Billing(
        typed.get("billing_mode", "PAY_PER_REQUEST"),
        typed.get("read_capacity", 5),
        typed.get("write_capacity", 5),
    )
    return billing, typed.get("wait", True)


def create_table_request(
    info: ModelInfo, table_name: str, billing: Billing = Billing()
) -> dict[str, Any]:
    """CreateTable payload: key schema, attribute definitions, GSIs, LSIs, billing."""
    read_capacity, write_capacity = billing.read_capacity, billing.write_capacity
    definitions: dict[str, str] = {}

    def define(attribute: str) -> None:
        # A key attribute's TypeKind (one of KEY_KINDS, checked by the model) is its tag.
        definitions[attribute] = info.by_attribute[attribute].kind.value

    def key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
        define(hash_key)
        schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
        if range_key is not None:
            define(range_key)
            schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
        return schema

    provisioned = billing.mode == "PROVISIONED"
    request: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": key_schema(info.hash_attribute, info.range_attribute),
        "BillingMode": billing.mode,
    }
    if provisioned:
        request["ProvisionedThroughput"] = {
            "ReadCapacityUnits": read_capacity,
            "WriteCapacityUnits": write_capacity,
        }
    gsis: list[dict[str, Any]] = []
    lsis: list[dict[str, Any]] = []
    for index in info.indexes.values():
        entry: dict[str, Any] = {
            "IndexName": index.name,
            "KeySchema": key_schema(index.hash_key, index.range_key),
            "Projection": _projection(index.projection),
        }
        if index.is_global:
            if provisioned:
                entry["ProvisionedThroughput"] = {
                    "ReadCapacityUnits": index.read_capacity or read_capacity,
                    "WriteCapacityUnits": index.write_capacity or write_capacity,
                }
            gsis.append(entry)
        else:
            lsis.append(entry)
    if gsis:
        request["GlobalSecondaryIndexes"] = gsis
    if lsis:
        request["LocalSecondaryIndexes"] = lsis
    request["AttributeDefinitions"] = [
        {"AttributeName": name, "AttributeType": kind} for name, kind in definitions.items()
    ]
    return request


def _projection(projection: Projection) -> dict[str, Any]:
    if isinstance(projection, str):
        return {"ProjectionType": projection}
    return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(projection)}


def ttl_request(info: ModelInfo, table_name: str) -> dict[str, Any] | None:
    """UpdateTimeToLive payload when the model has a TTL field."""
    if info.ttl is None:
        return None
    return {
        "TableName": table_name,
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": info.attribute(info.ttl)},
    }


def create_index_request(create_table: dict[str, Any], index_name: str) -> dict[str, Any]:
    """UpdateTable payload adding one global index of a CreateTable payload, with the
    definitions of its key attributes (and its throughput when the payload has one)."""
    entry = next(
        g for g in create_table.get("GlobalSecondaryIndexes", []) if g["IndexName"] == index_name
    )
    keys = {k["AttributeName"] for k in entry["KeySchema"]}
    return {
        "TableName": create_table["TableName"],
        "AttributeDefinitions": [
            d for d in create_table["AttributeDefinitions"] if d["AttributeName"] in keys
        ],
        "GlobalSecondaryIndexUpdates": [{"Create": entry}],
    }


def delete_index_request(table_name: str, index_name: str) -> dict[str, Any]:
    """UpdateTable payload removing one global index."""
    return {
        "TableName": table_name,
        "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": index_name}}],
    }
