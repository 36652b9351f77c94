"""The caller's objects as batch requests: write requests, keys, read projections (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import pytest

from dynamorm_async import (
    HashKey,
    ItemDecodeError,
    Model,
    RangeKey,
    ValidationError,
    Version,
)
from dynamorm_async._batch.plan import delete_entry, put_entry
from dynamorm_async._batch.requests import (
    WriteRequests,
    delete_target,
    duplicate_put_error,
    get_keys,
    key_request,
    selection,
)
from dynamorm_async._wire.values import key_fingerprint

pytestmark = pytest.mark.timeout(30)


class Inner(msgspec.Struct):
    city: str


class Row(Model, table="rows"):
    pk: Annotated[str, HashKey()]
    sk: Annotated[int, RangeKey()]
    body: str = msgspec.field(default="", name="b")
    inner: Inner | None = None
    version: Annotated[int, Version()] = 0


class Other(Model, table="rows"):
    pk: Annotated[str, HashKey()]


class Part(msgspec.Struct):
    pk: str
    b: str


class Unrelated(msgspec.Struct):
    nope: int


def table_name(model: type[Model]) -> str:
    return f"test-{model.__dynamorm__.table}"


NOW = datetime(2024, 1, 2, tzinfo=UTC)
KEY = {"pk": {"S": "a"}, "sk": {"N": "1"}}


# --- writes -----------------------------------------------------------------------------------


def test_a_put_is_marshalled_once_with_its_version_bump_and_table_key() -> None:
    build = WriteRequests(table_name)
    row = Row(pk="a", sk=1, body="x")
    request = build.put(row, 7, NOW)
    assert request.table == "test-rows"
    assert request.entry == put_entry({**KEY, "b": {"S": "x"}, "version": {"N": "1"}})
    assert request.fingerprint == key_fingerprint("test-rows", ("pk", "sk"), KEY)
    assert (request.index, request.source, request.updates) == (7, row, {"version": 1})
    assert row.version == 0  # applied only once DynamoDB confirms the write
    assert build.table_keys == {"test-rows": ("pk", "sk")}


def test_a_delete_takes_an_instance_or_a_key_mapping() -> None:
    build = WriteRequests(table_name)
    row, mapping = Row(pk="a", sk=1), {"pk": "a", "sk": 1}
    by_instance = build.delete(delete_target(Row, row), row, 0)
    by_mapping = build.delete(delete_target(Row, mapping), mapping, 1)
    assert by_instance.entry == by_mapping.entry == delete_entry(KEY)
    assert by_instance.fingerprint == by_mapping.fingerprint
    assert (by_instance.source, by_mapping.source) == (row, mapping)
    with pytest.raises(ValidationError, match="expected a Row instance, got Other"):
        delete_target(Row, Other(pk="a"))
    with pytest.raises(ValidationError, match="instances or key mappings, got int"):
        delete_target(Row, 3)


def test_batch_puts_take_model_instances_only() -> None:
    with pytest.raises(ValidationError, match="model instances, got dict"):
        WriteRequests(table_name).put({"pk": "a"}, 0, NOW)  # type: ignore[arg-type]


def test_models_sharing_a_table_must_agree_on_its_key() -> None:
    build = WriteRequests(table_name)
    build.put(Row(pk="a", sk=1), 0, NOW)
    with pytest.raises(ValidationError, match="declares the key"):
        build.put(Other(pk="a"), 1, NOW)


def test_two_puts_of_one_key_name_the_key_and_both_positions() -> None:
    build = WriteRequests(table_name)
    first, again = build.put(Row(pk="a", sk=1), 0, NOW), build.put(Row(pk="a", sk=1), 4, NOW)
    error = duplicate_put_error(first, again)
    assert error.key == {"pk": "a", "sk": 1}
    assert (error.operation, error.table) == ("BatchWriteItem", "test-rows")
    assert "positions 0 and 4" in str(error)


def test_a_wire_key_request_ignores_attributes_beyond_the_key() -> None:
    wire = {**KEY, "b": {"S": "ignored"}}
    request = key_request("t", ("pk", "sk"), wire, 3)
    assert request.entry == delete_entry(KEY)
    assert (request.index, request.source) == (3, wire)
    with pytest.raises(ValidationError, match="'sk' is missing"):
        key_request("t", ("pk", "sk"), {"pk": {"S": "a"}}, 0)


# --- reads ------------------------------------------------------------------------------------


def test_get_keys_keep_input_order_and_refuse_what_is_not_a_mapping() -> None:
    keys = get_keys(Row.__dynamorm__, "t", [{"pk": "a", "sk": 2}, {"pk": "a", "sk": 1}])
    assert [(k.index, k.key["sk"]) for k in keys] == [(0, {"N": "2"}), (1, {"N": "1"})]
    with pytest.raises(ValidationError, match="mappings of field names, got Row"):
        get_keys(Row.__dynamorm__, "t", [Row(pk="a", sk=1)])  # type: ignore[list-item]


def test_selection_always_projects_the_key_and_dedupes_paths() -> None:
    info = Row.__dynamorm__
    expression, names, decode = selection(
        info, [Row.body, "pk", Row.inner.city, Row.body]  # type: ignore[union-attr]
    )
    assert expression is not None and names is not None
    rendered = [
        ".".join(names[part] for part in path.split("."))
        for path in expression.split(", ")
    ]
    assert rendered == ["b", "pk", "inner.city", "sk"]  # the selection, then the missing keys
    item: dict[str, dict[str, Any]] = {
        "pk": {"S": "a"}, "sk": {"N": "1"}, "b": {"S": "x"}, "inner": {"M": {"city": {"S": "c"}}}
    }
    assert decode(item) == {"body": "x", "pk": "a", "inner.city": "c"}


def test_selection_of_a_struct_reads_its_fields_and_decodes_into_it() -> None:
    expression, names, decode = selection(Row.__dynamorm__, Part)
    assert expression is not None and names is not None
    assert sorted(names.values()) == ["b", "pk", "sk"]
    assert decode({"pk": {"S": "a"}, "sk": {"N": "1"}, "b": {"S": "x"}}) == Part(pk="a", b="x")
    with pytest.raises(ItemDecodeError, match="does not fit Part"):
        decode({"pk": {"S": "a"}})


def test_selection_of_nothing_decodes_models() -> None:
    expression, names, decode = selection(Row.__dynamorm__, None)
    assert (expression, names) == (None, None)
    assert decode({"pk": {"S": "a"}, "sk": {"N": "1"}}) == Row(pk="a", sk=1)


def test_selection_rejects_what_it_cannot_project() -> None:
    with pytest.raises(ValidationError, match=r"msgspec\.Struct type"):
        selection(Row.__dynamorm__, int)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="no field 'zz'"):
        selection(Row.__dynamorm__, ["zz"])
    with pytest.raises(ValidationError, match="attribute path"):
        selection(Row.__dynamorm__, [3])
    with pytest.raises(ValidationError, match="sequence of attributes"):
        selection(Row.__dynamorm__, "body")
    with pytest.raises(ValidationError, match="not attributes of Row"):
        selection(Row.__dynamorm__, Unrelated)
