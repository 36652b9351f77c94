"""Table executors without a database: a scripted execution context answers each call.

Covers what DynamoDB Local rarely shows: another creator winning the race in ensure_table,
ListTables pages, a table whose global indexes are still being built, and errors that must
propagate unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

import pytest

from dynamorm_async import TTL, GlobalIndex, HashKey, Model, TableError, ValidationError
from dynamorm_async._batch.retry import RetryPolicy
from dynamorm_async._model.model import model_info
from dynamorm_async._read.cursor import CursorCodec
from dynamorm_async._write import tables
from dynamorm_async._write.table_requests import Billing, create_table_request, read_table_options

pytestmark = pytest.mark.timeout(10)

Answer = Callable[[dict[str, Any]], dict[str, Any]]


class Thing(Model, table="things"):
    pk: Annotated[str, HashKey()]
    kind: str = ""

    __indexes__ = (GlobalIndex("by_kind", hash_key="kind"),)


class Script:
    """An ExecutionContext whose calls are answered, in order, by scripted functions."""

    max_concurrency = 4
    batch_retry = RetryPolicy()
    cursor_codec = CursorCodec(b"k" * 32)

    def __init__(self, *answers: tuple[str, Answer]) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def table_name(self, model: type[Model]) -> str:
        return "p_" + model.__dynamorm__.require_table()

    async def call(
        self,
        operation: str,
        payload: dict[str, Any],
        *,
        table: str | None = None,
        key: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        self.sent.append((operation, payload))
        expected, answer = self.answers.pop(0)
        assert operation == expected
        return answer(payload)


def returns(response: dict[str, Any]) -> Answer:
    return lambda _: response


def fails(code: str) -> Answer:
    def answer(_: dict[str, Any]) -> dict[str, Any]:
        raise TableError(f"{code}!", code=code)

    return answer


def status(table: str, *indexes: str) -> Answer:
    gsis = [{"IndexName": f"i{n}", "IndexStatus": s} for n, s in enumerate(indexes)]
    return returns({"Table": {"TableStatus": table, "GlobalSecondaryIndexes": gsis}})


CREATED = returns({"TableDescription": {"TableName": "p_things"}})
NO_TTL = returns({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}})


def described(model: type[Model], *, status: str = "ACTIVE", **indexes: str) -> Answer:
    """DescribeTable's answer for the table ``model`` creates; ``indexes`` maps global index
    names to their status (each of the model's is ACTIVE unless named; others are added)."""
    table = create_table_request(model_info(model), "p_things")
    gsis = {g["IndexName"]: g for g in table.pop("GlobalSecondaryIndexes", [])}
    for name in indexes:
        gsis.setdefault(name, {"IndexName": name, "KeySchema": table["KeySchema"]})
    for name, gsi in gsis.items():
        gsi["IndexStatus"] = indexes.get(name, "ACTIVE")
    table.update(TableStatus=status, GlobalSecondaryIndexes=list(gsis.values()))
    return returns({"Table": table})


async def test_create_waits_until_the_table_and_its_indexes_are_active() -> None:
    ctx = Script(
        ("CreateTable", CREATED),
        ("DescribeTable", status("CREATING")),
        ("DescribeTable", status("ACTIVE", "CREATING")),
        ("DescribeTable", status("ACTIVE", "ACTIVE")),
    )
    description = await tables.create_table(ctx, Thing, Billing(), wait=True)
    assert description == {"TableName": "p_things"}
    assert not ctx.answers, "every scripted answer was used"


async def test_ensure_table_lets_a_concurrent_creator_win() -> None:
    ctx = Script(
        ("DescribeTable", fails("ResourceNotFoundException")),
        ("CreateTable", fails("ResourceInUseException")),
        ("DescribeTable", described(Thing, status="CREATING")),
        ("DescribeTable", described(Thing)),
        ("DescribeTimeToLive", NO_TTL),
    )
    assert await tables.ensure_table(ctx, Thing, Billing(), wait=True) is False
    assert not ctx.answers


async def test_ensure_table_creates_an_absent_table() -> None:
    ctx = Script(
        ("DescribeTable", fails("ResourceNotFoundException")),
        ("CreateTable", CREATED),
    )
    assert await tables.ensure_table(ctx, Thing, Billing("PROVISIONED", 2, 3), wait=False)
    create = ctx.sent[1][1]
    assert create["ProvisionedThroughput"] == {"ReadCapacityUnits": 2, "WriteCapacityUnits": 3}


@pytest.mark.parametrize(
    "answers",
    [
        [("DescribeTable", fails("AccessDeniedException"))],
        [
            ("DescribeTable", fails("ResourceNotFoundException")),
            ("CreateTable", fails("LimitExceededException")),
        ],
    ],
    ids=["describe", "create"],
)
async def test_ensure_table_passes_other_table_errors_on(answers: list[tuple[str, Answer]]) -> None:
    with pytest.raises(TableError) as caught:
        await tables.ensure_table(Script(*answers), Thing, Billing(), wait=True)
    assert caught.value.code in ("AccessDeniedException", "LimitExceededException")


async def test_delete_waits_until_the_table_is_gone() -> None:
    ctx = Script(
        ("DeleteTable", returns({})),
        ("DescribeTable", status("DELETING")),
        ("DescribeTable", fails("ResourceNotFoundException")),
    )
    await tables.delete_table(ctx, "p_things", wait=True)
    assert not ctx.answers


async def test_waiting_for_a_deleted_table_passes_other_errors_on() -> None:
    ctx = Script(("DeleteTable", returns({})), ("DescribeTable", fails("AccessDeniedException")))
    with pytest.raises(TableError, match="AccessDenied"):
        await tables.delete_table(ctx, "p_things", wait=True)


async def test_list_tables_reads_every_page_and_keeps_the_prefix() -> None:
    ctx = Script(
        ("ListTables", returns({"TableNames": ["p_a", "q_b"], "LastEvaluatedTableName": "q_b"})),
        ("ListTables", returns({"TableNames": ["p_c"]})),
    )
    assert await tables.list_tables(ctx, "p_") == ["p_a", "p_c"]
    assert [payload for _, payload in ctx.sent] == [{}, {"ExclusiveStartTableName": "q_b"}]


class Bare(Model, table="things"):
    """Thing's key alone."""

    pk: Annotated[str, HashKey()]


class Expiring(Model, table="things"):
    """Thing with a second index and a TTL."""

    pk: Annotated[str, HashKey()]
    kind: str = ""
    size: int = 0
    expires: Annotated[int | None, TTL()] = None

    __indexes__ = (
        GlobalIndex("by_kind", hash_key="kind"),
        GlobalIndex("by_size", hash_key="size"),
    )


async def test_ensure_table_compares_an_existing_table(caplog: pytest.LogCaptureFixture) -> None:
    ctx = Script(("DescribeTable", described(Thing)), ("DescribeTimeToLive", NO_TTL))
    assert await tables.ensure_table(ctx, Thing, Billing(), wait=True) is False
    assert not caplog.records

    ctx = Script(("DescribeTable", described(Bare)), ("DescribeTimeToLive", NO_TTL))
    assert await tables.ensure_table(ctx, Thing, Billing(), wait=True) is False
    [record] = caplog.records
    assert record.levelname == "WARNING" and record.name == "dynamorm_async"
    assert record.getMessage() == (
        "table 'p_things' differs from Thing: missing global index 'by_kind'; "
        "Session.sync_table() adds missing global indexes and TTL"
    )


async def test_ensure_table_refuses_a_table_with_another_key() -> None:
    class Numbered(Model, table="things"):
        pk: Annotated[int, HashKey()]

    ctx = Script(("DescribeTable", described(Bare)), ("DescribeTimeToLive", NO_TTL))
    with pytest.raises(TableError, match=r"has the key HASH pk \(S\) but Numbered declares"):
        await tables.ensure_table(ctx, Numbered, Billing(), wait=True)


async def test_sync_waits_for_a_settled_table_then_for_each_change() -> None:
    ctx = Script(
        ("DescribeTable", described(Thing, by_kind="CREATING")),  # a build still under way
        ("DescribeTable", described(Thing)),
        ("DescribeTimeToLive", NO_TTL),
        ("UpdateTable", returns({})),
        # Answered before the change shows: the new index is not listed yet.
        ("DescribeTable", described(Thing)),
        ("DescribeTable", described(Thing, by_size="CREATING")),
        ("DescribeTable", described(Thing, by_size="ACTIVE")),
        ("UpdateTimeToLive", returns({})),
    )
    result = await tables.sync_table(ctx, Expiring, drop_extra_indexes=False, dry_run=False)
    assert not ctx.answers
    assert result.created_indexes == ("by_size",) and result.enabled_ttl == "expires"
    assert [operation for operation, _ in ctx.sent].count("UpdateTable") == 1


async def test_sync_waits_until_a_dropped_index_is_gone(caplog: pytest.LogCaptureFixture) -> None:
    ctx = Script(
        ("DescribeTable", described(Thing)),
        ("DescribeTimeToLive", NO_TTL),
        ("UpdateTable", returns({})),
        ("DescribeTable", described(Thing, by_kind="DELETING")),
        ("DescribeTable", described(Bare)),
    )
    result = await tables.sync_table(ctx, Bare, drop_extra_indexes=True, dry_run=False)
    assert not ctx.answers
    assert result.dropped_indexes == ("by_kind",) and result.remaining.in_sync
    assert not caplog.records


async def test_a_dry_run_neither_waits_nor_changes(caplog: pytest.LogCaptureFixture) -> None:
    ctx = Script(
        ("DescribeTable", described(Thing, by_kind="CREATING")),
        ("DescribeTimeToLive", NO_TTL),
    )
    result = await tables.sync_table(ctx, Expiring, drop_extra_indexes=True, dry_run=True)
    assert result.dry_run and result.created_indexes == ("by_size",)
    assert [operation for operation, _ in ctx.sent] == ["DescribeTable", "DescribeTimeToLive"]
    assert not caplog.records


async def test_sync_warns_of_what_it_leaves(caplog: pytest.LogCaptureFixture) -> None:
    ctx = Script(("DescribeTable", described(Thing)), ("DescribeTimeToLive", NO_TTL))
    result = await tables.sync_table(ctx, Bare, drop_extra_indexes=False, dry_run=False)
    assert not result.changed and result.remaining.extra_indexes == ("by_kind",)
    [record] = caplog.records
    assert record.levelname == "WARNING"
    assert record.getMessage() == (
        "table 'p_things' differs from Bare: extra global index 'by_kind' (the model does not "
        "declare it); sync_table() does not change these"
    )


async def test_sync_of_an_absent_table_is_a_table_error() -> None:
    ctx = Script(("DescribeTable", fails("ResourceNotFoundException")))
    with pytest.raises(TableError) as caught:
        await tables.sync_table(ctx, Thing, drop_extra_indexes=False, dry_run=False)
    assert caught.value.code == "ResourceNotFoundException"


def test_table_options_give_the_billing_and_the_wait_flag() -> None:
    assert read_table_options({}) == (Billing(), True)
    provisioned = {"billing_mode": "PROVISIONED", "read_capacity": 7, "wait": False}
    assert read_table_options(provisioned) == (Billing("PROVISIONED", 7, 5), False)
    with pytest.raises(ValidationError, match=r"unknown table options \['capacity'\]"):
        read_table_options({"capacity": 3})
