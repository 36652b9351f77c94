"""Table executors: CreateTable (with its indexes and TTL), DeleteTable, DescribeTable,
ListTables, comparing a table with its model and syncing it, and waiting for a table or an
index to settle.

The request payloads are built by pure functions (``table_requests``) and the differences and
sync steps by ``table_diff``; the executors send them through an :class:`ExecutionContext`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from .._errors import TableError
from .._model.model import Model, model_info
from .table_diff import SyncResult, SyncStep, TableDiff, compare_table, plan_sync, ttl_attribute
from .table_requests import Billing, create_table_request, ttl_request

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = [
    "create_table",
    "delete_table",
    "describe_table",
    "diff_table",
    "ensure_table",
    "list_tables",
    "sync_table",
]

_log = logging.getLogger("dynamorm_async")

_WAIT_INTERVAL = 0.2
_WAIT_LIMIT = 300.0  # seconds for a table to become ACTIVE or disappear
# Building a global index reads the whole table: on a large one that takes long.
_INDEX_WAIT_LIMIT = 3600.0

Description = dict[str, Any]


async def create_table(
    ctx: ExecutionContext, model: type[Model], billing: Billing, *, wait: bool
) -> dict[str, Any]:
    """Create the model's table with its indexes, then its TTL; TableError if it exists."""
    info = model_info(model)
    name = ctx.table_name(model)
    response = await ctx.call("CreateTable", create_table_request(info, name, billing), table=name)
    if wait:
        await _wait_for(ctx, name, _is_active, _WAIT_LIMIT, "it to become ACTIVE")
    ttl = ttl_request(info, name)
    if ttl is not None:
        await ctx.call("UpdateTimeToLive", ttl, table=name)
    description: dict[str, Any] = response["TableDescription"]
    return description


async def ensure_table(
    ctx: ExecutionContext, model: type[Model], billing: Billing, *, wait: bool
) -> bool:
    """Create the table when absent (a concurrent creator wins quietly); True if created.

    A table that exists is compared with the model: a different key is a TableError, other
    differences (indexes, TTL) are logged at WARNING.
    """
    name = ctx.table_name(model)
    description = await _description_or_none(ctx, name)
    if description is None:
        try:
            await create_table(ctx, model, billing, wait=wait)
        except TableError as exc:
            if exc.code != "ResourceInUseException":
                raise
            description = await _wait_for(ctx, name, _is_active, _WAIT_LIMIT, "it to become ACTIVE")
        else:
            return True
    diff = await _compare(ctx, model, description)
    if not diff.in_sync:
        _log.warning("%s; Session.sync_table() adds missing global indexes and TTL", diff)
    return False


async def diff_table(ctx: ExecutionContext, model: type[Model]) -> TableDiff:
    """How the model's existing table differs from the model; TableError for another key."""
    return await _compare(ctx, model, await describe_table(ctx, ctx.table_name(model)))


async def sync_table(
    ctx: ExecutionContext, model: type[Model], *, drop_extra_indexes: bool, dry_run: bool
) -> SyncResult:
    """Add the model's missing global indexes and TTL to its table, one change at a time,
    each waited for (and drop the global indexes it does not declare, when asked).

    A dry run only describes the table and returns the plan.
    """
    name = ctx.table_name(model)
    if dry_run:
        description = await describe_table(ctx, name)
    else:
        # Planned on a settled table: DynamoDB refuses index changes while one is in progress.
        description = await _wait_for(
            ctx, name, _is_active, _INDEX_WAIT_LIMIT, "it and its indexes to become ACTIVE"
        )
    ttl = ttl_attribute(await _describe_ttl(ctx, name))
    plan = plan_sync(
        model_info(model),
        name,
        description,
        ttl,
        drop_extra_indexes=drop_extra_indexes,
        dry_run=dry_run,
    )
    if dry_run:
        return plan.result
    for step in plan.steps:
        await _apply(ctx, name, step)
    if not plan.result.remaining.in_sync:
        _log.warning("%s; sync_table() does not change these", plan.result.remaining)
    return plan.result


async def delete_table(ctx: ExecutionContext, name: str, *, wait: bool) -> None:
    """Delete a table by its full name; TableError if absent."""
    await ctx.call("DeleteTable", {"TableName": name}, table=name)
    if not wait:
        return
    with anyio.move_on_after(_WAIT_LIMIT):
        while True:
            if await _description_or_none(ctx, name) is None:
                return
            await anyio.sleep(_WAIT_INTERVAL)
    raise _still_waiting(name, "it to disappear", _WAIT_LIMIT)


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


async def _compare(
    ctx: ExecutionContext, model: type[Model], description: Description
) -> TableDiff:
    name = ctx.table_name(model)
    ttl = ttl_attribute(await _describe_ttl(ctx, name))
    return compare_table(model_info(model), name, description, ttl)


async def _describe_ttl(ctx: ExecutionContext, name: str) -> dict[str, Any]:
    return await ctx.call("DescribeTimeToLive", {"TableName": name}, table=name)


async def _apply(ctx: ExecutionContext, name: str, step: SyncStep) -> None:
    """Send one sync step; wait until an index it creates is ACTIVE or one it deletes is gone."""
    await ctx.call(step.operation, step.payload, table=name)
    if step.index is not None:
        waiting_for = f"index {step.index!r} to {'build' if step.creates else 'be deleted'}"
        ready = _index_settled(step.index, present=step.creates)
        await _wait_for(ctx, name, ready, _INDEX_WAIT_LIMIT, waiting_for)


async def _description_or_none(ctx: ExecutionContext, name: str) -> Description | None:
    try:
        return await describe_table(ctx, name)
    except TableError as exc:
        if exc.code == "ResourceNotFoundException":
            return None
        raise


def _is_active(table: Description) -> bool:
    indexes = table.get("GlobalSecondaryIndexes", [])
    return table.get("TableStatus") == "ACTIVE" and all(
        g.get("IndexStatus") == "ACTIVE" for g in indexes
    )


def _index_settled(index: str, *, present: bool) -> Callable[[Description], bool]:
    """The table and its global indexes ACTIVE, with ``index`` among them or gone.

    Checking the name, not only the statuses, keeps a DescribeTable answered before the
    change shows from ending the wait early.
    """

    def settled(table: Description) -> bool:
        names = {g["IndexName"] for g in table.get("GlobalSecondaryIndexes", [])}
        return _is_active(table) and (index in names) == present

    return settled


async def _wait_for(
    ctx: ExecutionContext,
    name: str,
    ready: Callable[[Description], bool],
    limit: float,
    waiting_for: str,
) -> Description:
    """Describe the table until ``ready`` holds for it; TableError after ``limit`` seconds."""
    with anyio.move_on_after(limit):
        while True:
            table = await describe_table(ctx, name)
            if ready(table):
                return table
            await anyio.sleep(_WAIT_INTERVAL)
    raise _still_waiting(name, waiting_for, limit)


def _still_waiting(name: str, waiting_for: str, limit: float) -> TableError:
    return TableError(
        f"table {name!r}: waited {limit:.0f}s for {waiting_for}; DynamoDB carries on: check "
        "the table's status (describe_table) and try again once it has settled",
        table=name,
    )
