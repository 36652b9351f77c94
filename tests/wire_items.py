"""Reading a table as DynamoDB stores it: wire items, for tests that compare tables exactly."""

from __future__ import annotations

import json
from typing import Any

from dynamorm_async import Session


async def raw_scan(db: Session, table: str, **extra: Any) -> list[dict[str, Any]]:
    """Every item of a table (or segment) in wire format."""
    items: list[dict[str, Any]] = []
    payload: dict[str, Any] = {"TableName": table, "ConsistentRead": True, **extra}
    while True:
        response = await db.call("Scan", payload, table=table)
        items.extend(response["Items"])
        last = response.get("LastEvaluatedKey")
        if last is None:
            return items
        payload["ExclusiveStartKey"] = last


def canonical_dump(items: list[dict[str, Any]]) -> str:
    """The items as one text, in key order: equal texts mean equal tables."""
    return json.dumps(sorted(items, key=lambda i: i["id"]["S"]), sort_keys=True)
