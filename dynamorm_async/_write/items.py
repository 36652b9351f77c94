"""Single-item write executors: PutItem (put and create) and DeleteItem.

Each builds its payload with the pure write semantics (:mod:`.semantics`), sends one request
through an :class:`ExecutionContext` and maps a failed condition to the library's error with
the stored item decoded. GetItem is the read layer's (:mod:`.._read.item`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import ConditionFailed, ItemExists, ValidationError
from .._expressions.core import Condition
from .._model.model import Model, model_info
from . import semantics
from .semantics import WriteTarget

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = ["delete", "put"]

M = TypeVar("M", bound=Model)

_DELETE_RETURNS = ("NONE", "ALL_OLD")


async def put(
    ctx: ExecutionContext, obj: M, condition: Condition | None, *, create: bool = False
) -> M:
    """Write ``obj`` (``create``: only where no item has its key, else ItemExists); returns
    it with the confirmed version and timestamps (see :func:`.semantics.apply_confirmed`)."""
    info = model_info(type(obj))
    table = ctx.table_name(type(obj))
    now = datetime.now(UTC)
    prepared = semantics.prepare_write(info, obj, now=now, condition=condition, create=create)
    key = info.key_dict(prepared.key)
    request = semantics.put_request(table, prepared.item, prepared.condition)
    try:
        await ctx.call("PutItem", request, table=table, key=key)
    except ConditionFailed as exc:
        failed = semantics.with_stored_item(info, exc)
        if create:
            raise ItemExists(
                f"{info.cls.__name__} already exists under this key",
                operation="PutItem",
                table=table,
                key=key,
                code=exc.code,
                item=failed.item,
            ) from exc.__cause__
        raise failed from exc.__cause__
    return semantics.apply_confirmed(obj, prepared.updates)


async def delete(
    ctx: ExecutionContext,
    target: WriteTarget[Any],
    condition: Condition | None,
    *,
    returning: str = "NONE",
) -> Model | None:
    """Delete the target's item; ConditionFailed when ``condition`` or an instance's version
    check fails. ``returning="ALL_OLD"`` returns the deleted item decoded into the model (None
    when there was none); ``"NONE"`` returns None."""
    info = target.info
    table = ctx.table_name(info.cls)
    if returning not in _DELETE_RETURNS:
        raise ValidationError(
            f"delete(returning=...) takes 'NONE' or 'ALL_OLD', got {returning!r}", table=table
        )
    checked = semantics.delete_condition(target, condition)
    request = semantics.delete_request(
        table, target.key, checked, return_old=returning == "ALL_OLD"
    )
    try:
        response = await ctx.call("DeleteItem", request, table=table, key=info.key_dict(target.key))
    except ConditionFailed as exc:
        raise semantics.with_stored_item(info, exc) from exc.__cause__
    old = response.get("Attributes")
    deleted: Model | None = info.decode(old) if old else None
    return deleted
