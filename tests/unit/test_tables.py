"""Table executors without a database: a scripted execution context answers each call.

Covers what DynamoDB Local rarely shows: another creator winning the race in ensure_table,
ListTables pages, a table whose global indexes are still being built, and errors that must
propagate unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

import pytest

from dynamorm_async import GlobalIndex, HashKey, Model, TableError
from dynamorm_async._batch.retry import RetryPolicy
from dynamorm_async._read.cursor import CursorCodec
from dynamorm_async._write import tables
from dynamorm_async._write.tables import Billing

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
        ("DescribeTable", status("ACTIVE", "ACTIVE")),
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
