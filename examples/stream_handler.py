"""A Lambda handler for the orders table's DynamoDB Stream, decoding images into models.

Subscribe it to the stream with view type ``NEW_AND_OLD_IMAGES`` and "report batch item
failures" on. Lambda hands over each record's images in DynamoDB JSON with binary values as
base64 text, which is exactly what ``Model.from_dynamodb`` reads, so no conversion step is
needed. Processing stops at the first record that cannot be decoded, which is reported back by
sequence number: Lambda then retries the batch from that record, so later records are neither
lost nor seen twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dynamorm_async import DynamormError, Model
from examples.fastapi_orders.orders import Order

__all__ = ["Change", "decode_record", "handler", "summarize"]

log = logging.getLogger(__name__)

EventName = Literal["INSERT", "MODIFY", "REMOVE"]

# Base table names (without any deployment prefix) to the models stored in them.
MODELS: Mapping[str, type[Model]] = {"orders": Order}


@dataclass(frozen=True, slots=True)
class Change:
    """One decoded stream record: the item before and after the change."""

    event: EventName
    table: str
    sequence_number: str
    old: Model | None
    new: Model | None


def table_of(record: Mapping[str, Any]) -> str:
    """The table name in a record's ``eventSourceARN`` (``...:table/<name>/stream/<time>``)."""
    arn: str = record["eventSourceARN"]
    return arn.split(":table/", 1)[1].split("/", 1)[0]


def model_for(table: str, models: Mapping[str, type[Model]]) -> type[Model] | None:
    """The model of a table, matching its name or its name after a deployment prefix."""
    for base, model in models.items():
        if table == base or table.endswith("_" + base) or table.endswith("-" + base):
            return model
    return None


def decode_record(
    record: Mapping[str, Any], models: Mapping[str, type[Model]] = MODELS
) -> Change | None:
    """Decode one stream record; None for tables without a model."""
    table = table_of(record)
    model = model_for(table, models)
    if model is None:
        return None
    data = record["dynamodb"]
    old_image = data.get("OldImage")
    new_image = data.get("NewImage")
    return Change(
        event=record["eventName"],
        table=table,
        sequence_number=data["SequenceNumber"],
        old=model.from_dynamodb(old_image) if old_image is not None else None,
        new=model.from_dynamodb(new_image) if new_image is not None else None,
    )


def summarize(changes: list[Change]) -> dict[str, Any]:
    """Counts per event, and every order whose status changed (``from -> to``)."""
    counts = Counter(change.event for change in changes)
    transitions: list[dict[str, Any]] = []
    for change in changes:
        old, new = change.old, change.new
        if isinstance(new, Order) and (old is None or isinstance(old, Order)):
            before = old.status if old is not None else None
            if before != new.status:
                transitions.append(
                    {
                        "customer": new.customer,
                        "order_id": new.order_id,
                        "from": before,
                        "to": new.status,
                        "total": str(new.total),
                    }
                )
    return {
        "inserted": counts["INSERT"],
        "modified": counts["MODIFY"],
        "removed": counts["REMOVE"],
        "status_changes": transitions,
    }


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Lambda entry point: decode the records in order, summarize, report the first failure."""
    changes: list[Change] = []
    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        try:
            change = decode_record(record)
        except (DynamormError, KeyError, IndexError, TypeError) as exc:
            sequence = str(record.get("dynamodb", {}).get("SequenceNumber", ""))
            log.warning("cannot decode stream record %s: %s", sequence, exc)
            failures.append({"itemIdentifier": sequence})
            break
        if change is not None:
            changes.append(change)
    return {**summarize(changes), "batchItemFailures": failures}
