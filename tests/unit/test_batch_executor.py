"""The batch executor's pure parts: which failures are retried, projections, error reports.

No DynamoDB here: a Session is built but never opened, and nothing is sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import pytest

from dynamorm_async import (
    BatchWriteError,
    ConditionFailed,
    DynamoDBError,
    DynamormError,
    HashKey,
    ItemDecodeError,
    Model,
    RangeKey,
    RequestRejected,
    Session,
    TableError,
    ThrottledError,
    ValidationError,
)
from dynamorm_async._batch.plan import BatchProgress
from dynamorm_async._batch.retry import RetryPolicy
from dynamorm_async._batch.run import (
    BatchWriter,
    _is_transient,
    _Requests,
    _selection,
    _write_error,
    batch_put,
)

pytestmark = pytest.mark.timeout(30)

class RowInner(msgspec.Struct):
    city: str


class BatchRow(Model, table="rows"):
    pk: Annotated[str, HashKey()]
    sk: Annotated[int, RangeKey()]
    body: str = msgspec.field(default="", name="b")
    inner: RowInner | None = None


class KeyOnlyRow(Model, table="rows"):
    pk: Annotated[str, HashKey()]


class RowPart(msgspec.Struct):
    pk: str
    b: str


class Unrelated(msgspec.Struct):
    nope: int


def session() -> Session:
    return Session(endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                   batch_retry=RetryPolicy(max_attempts=4, deadline=5.0))


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (ThrottledError("slow down", code="ProvisionedThroughputExceededException"), True),
        (ThrottledError("slow down", code="ThrottlingException"), True),
        (DynamoDBError("boom", code="InternalServerError"), True),
        (DynamoDBError("unavailable", code="ServiceUnavailable"), True),
        (DynamoDBError("bad gateway", code="502"), True),
        (DynamoDBError("connection reset by peer"), True),
        (DynamoDBError("denied", code="AccessDeniedException"), False),
        (DynamoDBError("teapot", code="418"), False),
        (RequestRejected("bad", code="ValidationException"), False),
        (TableError("gone", code="ResourceNotFoundException"), False),
        (ConditionFailed("no"), False),
        (DynamormError("answer named a request this call did not send"), False),
    ],
)
def test_only_throttling_5xx_and_lost_connections_are_retried(
    error: DynamormError, retried: bool
) -> None:
    assert _is_transient(error) is retried


def test_selection_always_projects_the_key_and_dedupes_paths() -> None:
    info = BatchRow.__dynamorm__
    expression, names, decode = _selection(
        info, [BatchRow.body, "pk", BatchRow.inner.city, BatchRow.body]  # type: ignore[union-attr]
    )
    assert expression is not None and names is not None
    rendered = [
        ".".join(names[part] for part in path.split("."))
        for path in expression.split(", ")
    ]
    assert rendered == ["pk", "sk", "b", "inner.city"]
    item: dict[str, dict[str, Any]] = {
        "pk": {"S": "a"}, "sk": {"N": "1"}, "b": {"S": "x"}, "inner": {"M": {"city": {"S": "c"}}}
    }
    assert decode(item) == {"body": "x", "pk": "a", "inner.city": "c"}


def test_selection_of_a_struct_reads_its_fields_and_decodes_into_it() -> None:
    expression, names, decode = _selection(BatchRow.__dynamorm__, RowPart)
    assert expression is not None and names is not None
    assert sorted(names.values()) == ["b", "pk", "sk"]
    assert decode({"pk": {"S": "a"}, "sk": {"N": "1"}, "b": {"S": "x"}}) == RowPart(pk="a", b="x")
    with pytest.raises(ItemDecodeError, match="does not fit RowPart"):
        decode({"pk": {"S": "a"}})


def test_selection_of_nothing_decodes_models() -> None:
    expression, names, decode = _selection(BatchRow.__dynamorm__, None)
    assert (expression, names) == (None, None)
    assert decode({"pk": {"S": "a"}, "sk": {"N": "1"}}) == BatchRow(pk="a", sk=1)


def test_selection_rejects_what_it_cannot_project() -> None:
    with pytest.raises(ValidationError, match=r"msgspec\.Struct type"):
        _selection(BatchRow.__dynamorm__, int)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="no field 'zz'"):
        _selection(BatchRow.__dynamorm__, ["zz"])
    with pytest.raises(ValidationError, match="attribute path"):
        _selection(BatchRow.__dynamorm__, [3])
    with pytest.raises(ValidationError, match="sequence of attributes"):
        _selection(BatchRow.__dynamorm__, "body")
    with pytest.raises(ValidationError, match="not attributes of BatchRow"):
        _selection(BatchRow.__dynamorm__, Unrelated)


def test_models_sharing_a_table_must_agree_on_its_key() -> None:
    build = _Requests(session())
    now = datetime.now(UTC)
    build.put(BatchRow(pk="a", sk=1), 0, now)
    with pytest.raises(ValidationError, match="declares the key"):
        build.put(KeyOnlyRow(pk="a"), 1, now)


def test_write_error_names_the_budget_the_count_and_the_last_error() -> None:
    progress = BatchProgress()
    progress.submitted = 10
    for index in range(8):
        progress.confirm(index, f"ok{index}")
    throttle = ThrottledError("slow down", table="rows", code="ThrottlingException")
    progress.give_up(9, "late", throttle)
    progress.give_up(8, "early", None)
    error = _write_error(session(), progress)
    assert isinstance(error, BatchWriteError)
    assert error.unprocessed == ["early", "late"]
    assert error.processed == 8
    assert error.processed_items == [f"ok{i}" for i in range(8)]
    assert (error.table, error.code) == ("rows", "ThrottlingException")
    text = str(error)
    assert "2 of 10 write requests were not written" in text
    assert "4 attempts or 5s per chunk" in text
    assert "slow down" in text


def test_write_error_after_a_rejection_says_so() -> None:
    progress = BatchProgress()
    progress.submitted = 1
    progress.give_up(0, "x", TableError("no table", code="ResourceNotFoundException"))
    assert "DynamoDB rejected them: no table" in str(_write_error(session(), progress))


async def test_an_empty_batch_sends_nothing() -> None:
    # The Session is never opened: any request would fail.
    result = await batch_put(session(), [])
    assert (result.processed, result.retries, result.unprocessed) == (0, 0, ())


async def test_a_writer_is_used_inside_its_block_once() -> None:
    writer = BatchWriter(session())
    with pytest.raises(ValidationError, match="inside 'async with"):
        writer.put(BatchRow(pk="a", sk=1))
    async with writer:
        pass
    with pytest.raises(DynamormError, match="entered once"):
        async with writer:
            pass
