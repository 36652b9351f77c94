"""Reading one item by its primary key (GetItem), in wire form."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._model.model import Model, model_info

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = ["get_item"]

Item = dict[str, Any]


async def get_item(
    context: ExecutionContext, model: type[Model], key: Item, *, consistent: bool = False
) -> Item | None:
    """The stored item under ``key`` (a wire key of ``model``'s table), or None.

    The item is returned as DynamoDB stored it, undecoded: callers decode it with the model,
    or compare it with what they mean to write.
    """
    table = context.table_name(model)
    response = await context.call(
        "GetItem",
        {"TableName": table, "Key": key, "ConsistentRead": consistent},
        table=table,
        key=model_info(model).key_dict(key),
    )
    item: Item | None = response.get("Item")
    return item
