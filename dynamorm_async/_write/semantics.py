"""Write semantics every writer shares (pure: plain data in, plain data out).

Single-item calls, batches and transactions all go through here, so an instance is resolved,
versioned, stamped and updated after the write the same way everywhere:

- **Target.** A write names an item by an instance or by a model class and its key
  (:func:`resolve_target`); an instance also carries its ``Version`` check.
- **Versions and timestamps.** A put of an instance checks the ``Version`` it holds (an item
  must not exist yet for version 0) and bumps it, stamps ``UpdatedAt`` and, when unset,
  ``CreatedAt`` (:func:`prepare_write`); ``create`` also requires that no item has the key.
- **Confirmed values.** The new version and timestamps reach the caller's instance only after
  DynamoDB confirmed the write (:func:`apply_confirmed`): a mutable instance is updated in
  place; a frozen one is never mutated, and the updated copy is returned instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import msgspec

from .._errors import ConditionFailed, ValidationError
from .._expressions.core import Condition, Placeholders, both
from .._model.model import Model, ModelInfo, model_info
from .._wire.taggers import Item
from .._wire.values import epoch_datetime, epoch_seconds

__all__ = [
    "PreparedWrite",
    "WriteTarget",
    "apply_confirmed",
    "condition_payload",
    "delete_condition",
    "delete_request",
    "prepare_write",
    "put_request",
    "resolve_target",
    "version_condition",
    "with_stored_item",
]

M = TypeVar("M", bound=Model)


@dataclass(frozen=True, slots=True)
class WriteTarget(Generic[M]):
    """The item a write names: its model, its wire key, and the instance when one was given."""

    info: ModelInfo
    key: Item
    instance: M | None = None

    @property
    def expected_version(self) -> int | None:
        """The version an instance holds, which the write must find stored (None by key)."""
        if self.instance is None or self.info.version is None:
            return None
        version: int = getattr(self.instance, self.info.version)
        return version


def resolve_target(target: M | type[M], key: Mapping[str, object]) -> WriteTarget[M]:
    """An instance, or a model class with its full key as field values, as a WriteTarget."""
    if isinstance(target, type):
        info = model_info(target)
        return WriteTarget(info, info.key_from(key))
    info = model_info(type(target))
    if key:
        raise ValidationError(
            "pass either an instance or a model class with a key, not both", table=info.table
        )
    return WriteTarget(info, info.key_of(target), target)


def version_condition(info: ModelInfo, expected: int) -> Condition:
    """The optimistic-locking condition for an instance holding version ``expected``: the
    stored version equals it, or no item exists yet for version 0."""
    assert info.version is not None
    path = info.path(info.version)
    return path.not_exists() if expected == 0 else path == expected


def delete_condition(target: WriteTarget[Any], condition: Condition | None) -> Condition | None:
    """The condition of a delete: the caller's, and an instance's version check."""
    expected = target.expected_version
    check = None if expected is None else version_condition(target.info, expected)
    return both(condition, check)


@dataclass(frozen=True, slots=True)
class PreparedWrite:
    """An instance ready to write: its wire item and key, the condition, the field values to
    apply to the caller's instance once DynamoDB confirmed the write."""

    item: Item
    key: Item
    condition: Condition | None
    updates: Mapping[str, Any]
    json: bytes
    """The item's JSON text (what a batch write sends)."""


def prepare_write(
    info: ModelInfo,
    obj: msgspec.Struct,
    *,
    now: datetime,
    condition: Condition | None = None,
    create: bool = False,
) -> PreparedWrite:
    """Apply Version/CreatedAt/UpdatedAt semantics to a put of ``obj``; with ``create``, the
    write also requires that no item has the key."""
    # Before any getattr of a special field, which another model may not have.
    info.check_instance(obj)
    updates: dict[str, Any] = {}
    if info.updated_at is not None:
        updates[info.updated_at] = now
    if info.created_at is not None and getattr(obj, info.created_at) is None:
        updates[info.created_at] = now
    if info.ttl is not None:
        _truncate_epoch(getattr(obj, info.ttl), info.ttl, updates)
    if create:
        assert info.hash_key is not None, "a model with a table has a hash key"
        condition = both(condition, info.path(info.hash_key).not_exists())
    if info.version is not None:
        current = getattr(obj, info.version)
        condition = both(condition, version_condition(info, current))
        updates[info.version] = current + 1
    staged = msgspec.structs.replace(obj, **updates) if updates else obj
    item, json = info.encode_sized(staged)
    key = {attribute: item[attribute] for attribute in info.key_attributes}
    return PreparedWrite(item, key, condition, updates, json)


def _truncate_epoch(value: Any, field: str, updates: dict[str, Any]) -> None:
    """A TTL datetime reads back as whole seconds in UTC: the confirmed write says so too."""
    if isinstance(value, datetime) and value.utcoffset() is not None:
        stored = epoch_datetime(epoch_seconds(value)["N"])
        if value.tzinfo is not UTC or stored != value:
            updates[field] = stored


def apply_confirmed(obj: M, updates: Mapping[str, Any]) -> M:
    """Give the caller's instance the values DynamoDB confirmed: a mutable instance is updated
    in place and returned; a frozen one is left as it is and an updated copy is returned."""
    if not updates:
        return obj
    if type(obj).__struct_config__.frozen:
        return msgspec.structs.replace(obj, **updates)
    for name, value in updates.items():
        setattr(obj, name, value)
    return obj


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


def put_request(table: str, item: Item, condition: Condition | None) -> dict[str, Any]:
    """PutItem payload."""
    return _conditional({"TableName": table, "Item": item}, condition)


def delete_request(
    table: str, key: Item, condition: Condition | None, *, return_old: bool = False
) -> dict[str, Any]:
    """DeleteItem payload (also a transaction's ``Delete`` and ``ConditionCheck`` entry);
    ``return_old`` asks for the deleted item back."""
    request = _conditional({"TableName": table, "Key": key}, condition)
    if return_old:
        request["ReturnValues"] = "ALL_OLD"
    return request


def _conditional(request: dict[str, Any], condition: Condition | None) -> dict[str, Any]:
    ph = Placeholders()
    request.update(condition_payload(condition, ph))
    return ph.apply(request)
