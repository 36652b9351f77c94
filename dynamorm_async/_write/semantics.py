"""Request building for tables and single items (pure: plain data in, payload dicts out).

Also holds the write semantics every writer shares (put, batch, transaction): optimistic
locking on ``Version`` fields and ``CreatedAt``/``UpdatedAt`` stamping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from .._errors import ConditionFailed, ValidationError
from .._expressions.core import Condition, Placeholders
from .._model.model import ModelInfo
from .._wire.taggers import Item
from .._wire.values import epoch_datetime, epoch_seconds

__all__ = [
    "BillingMode",
    "PreparedWrite",
    "condition_payload",
    "create_table_request",
    "delete_request",
    "get_request",
    "prepare_delete",
    "prepare_write",
    "put_request",
    "ttl_request",
    "version_condition",
    "with_stored_item",
]

BillingMode = Literal["PAY_PER_REQUEST", "PROVISIONED"]

def create_table_request(
    info: ModelInfo,
    table_name: str,
    *,
    billing_mode: BillingMode = "PAY_PER_REQUEST",
    read_capacity: int = 5,
    write_capacity: int = 5,
) -> dict[str, Any]:
    """CreateTable payload: key schema, attribute definitions, GSIs, LSIs, billing."""
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

    provisioned = billing_mode == "PROVISIONED"
    request: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": key_schema(info.hash_attribute, info.range_attribute),
        "BillingMode": billing_mode,
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


def _projection(projection: Any) -> dict[str, Any]:
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


def condition_payload(condition: Condition | None, ph: Placeholders) -> dict[str, Any]:
    """ConditionExpression entry (names/values go into ``ph``); a failed check returns the
    stored item, so ConditionFailed can show what the condition saw."""
    if condition is None:
        return {}
    return {
        "ConditionExpression": condition.encode(ph),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def with_stored_item(info: ModelInfo, exc: ConditionFailed) -> ConditionFailed:
    """Decode the stored item a failed condition check returned into the model."""
    if isinstance(exc.item, Mapping):
        exc.item = info.decode(exc.item)
    return exc


@dataclass(frozen=True, slots=True)
class PreparedWrite:
    """An instance ready to write: its wire item, the condition, the field values to apply
    to the caller's instance once DynamoDB confirmed the write."""

    item: Item
    condition: Condition | None
    updates: Mapping[str, Any]
    json_size: int


def prepare_write(
    info: ModelInfo,
    obj: msgspec.Struct,
    *,
    now: datetime,
    condition: Condition | None = None,
    stamp: bool = True,
) -> PreparedWrite:
    """Apply Version/CreatedAt/UpdatedAt semantics to a put of ``obj``."""
    _check_instance(info, obj)
    updates: dict[str, Any] = {}
    if stamp:
        if info.updated_at is not None:
            updates[info.updated_at] = now
        if info.created_at is not None and getattr(obj, info.created_at) is None:
            updates[info.created_at] = now
    if info.ttl is not None:
        _truncate_epoch(getattr(obj, info.ttl), info.ttl, updates)
    check: Condition | None = None
    if info.version is not None:
        current = getattr(obj, info.version)
        check = version_condition(info, current)
        updates[info.version] = current + 1
    staged = msgspec.structs.replace(obj, **updates) if updates else obj
    item, json_size = info.encode_sized(staged)
    return PreparedWrite(item, _combine(condition, check), updates, json_size)


def _truncate_epoch(value: Any, field: str, updates: dict[str, Any]) -> None:
    """A TTL datetime reads back as whole seconds in UTC: the confirmed write says so too."""
    if isinstance(value, datetime) and value.utcoffset() is not None:
        stored = epoch_datetime(epoch_seconds(value)["N"])
        if value.tzinfo is not UTC or stored != value:
            updates[field] = stored


def prepare_delete(
    info: ModelInfo, obj: msgspec.Struct, condition: Condition | None = None
) -> tuple[Item, Condition | None]:
    """Key and condition for deleting an instance (with its version check)."""
    _check_instance(info, obj)
    key = info.key_of(obj)
    check = None if info.version is None else version_condition(info, getattr(obj, info.version))
    return key, _combine(condition, check)


def version_condition(info: ModelInfo, expected: int) -> Condition:
    """The optimistic-locking condition for an instance holding version ``expected``: the
    stored version equals it, or no item exists yet for version 0."""
    assert info.version is not None
    path = info.path(info.version)
    return path.not_exists() if expected == 0 else path == expected


def _check_instance(info: ModelInfo, obj: object) -> None:
    # Before any getattr of a special field, which another model may not have.
    if not isinstance(obj, info.cls):
        raise ValidationError(
            f"expected a {info.cls.__name__} instance, got {type(obj).__name__}",
            table=info.table,
        )


def _combine(a: Condition | None, b: Condition | None) -> Condition | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def put_request(table: str, item: Item, condition: Condition | None) -> dict[str, Any]:
    """PutItem payload."""
    return _conditional({"TableName": table, "Item": item}, condition)


def get_request(table: str, key: Item, *, consistent: bool) -> dict[str, Any]:
    """GetItem payload."""
    return {"TableName": table, "Key": key, "ConsistentRead": consistent}


def delete_request(table: str, key: Item, condition: Condition | None) -> dict[str, Any]:
    """DeleteItem payload."""
    return _conditional({"TableName": table, "Key": key}, condition)


def _conditional(request: dict[str, Any], condition: Condition | None) -> dict[str, Any]:
    ph = Placeholders()
    request.update(condition_payload(condition, ph))
    return ph.apply(request)
