"""Reading one item by its primary key (GetItem): in wire form, or decoded into its model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import ItemNotFound
from .._model.model import Model, model_info

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = ["get", "get_item", "get_or_none"]

Item = dict[str, Any]
M = TypeVar("M", bound=Model)


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


async def get_or_none(
    ctx: ExecutionContext, model: type[M], key: Mapping[str, object], *, consistent: bool
) -> M | None:
    """The item under ``key`` (field names to values) as a ``model`` instance; None if absent."""
    info = model_info(model)
    item = await get_item(ctx, model, info.key_from(key), consistent=consistent)
    if item is None:
        return None
    found: M = info.decode(item)
    return found


async def get(
    ctx: ExecutionContext, model: type[M], key: Mapping[str, object], *, consistent: bool
) -> M:
    """The item under ``key`` as a ``model`` instance; ItemNotFound if absent."""
    found = await get_or_none(ctx, model, key, consistent=consistent)
    if found is None:
        info = model_info(model)
        raise ItemNotFound(
            f"no {model.__name__} with this key",
            operation="GetItem",
            table=ctx.table_name(model),
            key=info.key_dict(info.key_from(key)),
        )
    return found
