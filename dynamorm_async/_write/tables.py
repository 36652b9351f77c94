"""Table executors: CreateTable (with its indexes and TTL), DeleteTable, DescribeTable,
ListTables, and waiting for a table to become ACTIVE or disappear.

The request payloads are built by pure functions (:func:`create_table_request`,
:func:`ttl_request`); the executors send them through an :class:`ExecutionContext`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import anyio

from .._errors import TableError
from .._model.model import Model, ModelInfo, Projection, model_info

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = [
    "Billing",
    "BillingMode",
    "create_table",
    "create_table_request",
    "delete_table",
    "describe_table",
    "ensure_table",
    "list_tables",
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


_WAIT_INTERVAL = 0.2
_WAIT_LIMIT = 300.0  # seconds for a table to become ACTIVE or disappear


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



async def create_table(
    ctx: ExecutionContext, model: type[Model], billing: Billing, *, wait: bool
) -> dict[str, Any]:
    """Create the model's table with its indexes, then its TTL; TableError if it exists."""
    info = model_info(model)
    name = ctx.table_name(model)
    response = await ctx.call("CreateTable", create_table_request(info, name, billing), table=name)
    if wait:
        await _wait_for_table(ctx, name, exists=True)
    ttl = ttl_request(info, name)
    if ttl is not None:
        await ctx.call("UpdateTimeToLive", ttl, table=name)
    description: dict[str, Any] = response["TableDescription"]
    return description


async def ensure_table(
    ctx: ExecutionContext, model: type[Model], billing: Billing, *, wait: bool
) -> bool:
    """Create the table when absent (a concurrent creator wins quietly); True if created."""
    name = ctx.table_name(model)
    if await _table_exists(ctx, name):
        return False
    try:
        await create_table(ctx, model, billing, wait=wait)
    except TableError as exc:
        if exc.code != "ResourceInUseException":
            raise
        await _wait_for_table(ctx, name, exists=True)
        return False
    return True


async def delete_table(ctx: ExecutionContext, name: str, *, wait: bool) -> None:
    """Delete a table by its full name; TableError if absent."""
    await ctx.call("DeleteTable", {"TableName": name}, table=name)
    if wait:
        await _wait_for_table(ctx, name, exists=False)


async def describe_table(ctx: ExecutionContext, name: str) -> dict[str, Any]:
    """DescribeTable's ``Table`` description of a table by its full name."""
    response = await ctx.call("DescribeTable", {"TableName": name}, table=name)
    table: dict[str, Any] = response["Table"]
    return table


async def list_tables(ctx: ExecutionContext, prefix: str) -> list[str]:
    """Names of the tables that start with ``prefix``, across every ListTables page."""
    names: list[str] = []
    request: dict[str, Any] = {}
    while True:
        response = await ctx.call("ListTables", request)
        names.extend(n for n in response.get("TableNames", []) if n.startswith(prefix))
        last = response.get("LastEvaluatedTableName")
        if not last:
            return names
        request = {"ExclusiveStartTableName": last}


async def _table_exists(ctx: ExecutionContext, name: str) -> bool:
    try:
        await describe_table(ctx, name)
    except TableError as exc:
        if exc.code == "ResourceNotFoundException":
            return False
        raise
    return True


def _is_active(table: dict[str, Any]) -> bool:
    indexes = table.get("GlobalSecondaryIndexes", [])
    return table.get("TableStatus") == "ACTIVE" and all(
        g.get("IndexStatus") == "ACTIVE" for g in indexes
    )


async def _wait_for_table(ctx: ExecutionContext, name: str, *, exists: bool) -> None:
    with anyio.fail_after(_WAIT_LIMIT):
        while True:
            try:
                table = await describe_table(ctx, name)
            except TableError as exc:
                if exc.code == "ResourceNotFoundException" and not exists:
                    return
                raise
            if exists and _is_active(table):
                return
            await anyio.sleep(_WAIT_INTERVAL)
