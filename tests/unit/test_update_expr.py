"""Update expressions: rendering of every action, marshalling with the field type, managed
fields, and every validation error raised before a request exists."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import pytest

from dynamorm_async import (
    TTL,
    CreatedAt,
    HashKey,
    Model,
    RangeKey,
    UpdatedAt,
    ValidationError,
    Version,
)
from dynamorm_async._expressions.core import AttributePath, Placeholders
from dynamorm_async._model.model import model_info
from dynamorm_async._write.semantics import version_condition
from dynamorm_async._write.update_expr import (
    RETURN_VALUES,
    ActionOp,
    PreparedUpdate,
    UpdateAction,
    add_action,
    make_action,
    prepare_update,
)
from tests.shared_types import Color

NOW = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
NOW_TEXT = "2025-01-02T03:04:05.678000Z"
KEY = {"pk": {"S": "p"}, "sk": {"N": "1"}}


class Building(msgspec.Struct):
    city: str
    zip: str | None = None
    floors: list[int] = msgspec.field(default_factory=list)


class Thing(Model, table="things"):
    """Every kind of field, no managed fields (so expressions are exact)."""

    pk: Annotated[str, HashKey()]
    sk: Annotated[int, RangeKey()]
    # No default, but absent reads as None: an update may create a Thing (no existence check).
    required: str | None
    name: str = ""
    count: int = 0
    price: Decimal = Decimal(0)
    ratio: float = 0.0
    flag: bool = False
    blob: bytes = b""
    tags: set[str] = msgspec.field(default_factory=set)
    scores: frozenset[int] = frozenset()
    blobs: set[bytes] = msgspec.field(default_factory=set)
    lines: list[str] = msgspec.field(default_factory=list)
    maybe: list[str | None] = msgspec.field(default_factory=list)
    attrs: dict[str, int] = msgspec.field(default_factory=dict)
    extra: dict[str, Any] = msgspec.field(default_factory=dict)
    address: Building | None = None
    home: Building = msgspec.field(default_factory=lambda: Building(city="x"))
    color: Color = Color.RED
    ident: uuid.UUID | None = None
    when: datetime | None = None
    expires: Annotated[datetime | None, TTL()] = None
    note: str | None = None
    renamed: int = msgspec.field(default=0, name="rn")


class Foreign(Model, table="others"):
    pk: Annotated[str, HashKey()]
    name: str = ""


class Managed(Model, table="managed"):
    pk: Annotated[str, HashKey()]
    status: str = "new"
    version: Annotated[int, Version()] = 0
    created_at: Annotated[datetime | None, CreatedAt()] = None
    updated_at: Annotated[datetime | None, UpdatedAt()] = None


THING = model_info(Thing)
MANAGED = model_info(Managed)


def act(op: ActionOp, path: object, value: object = None) -> UpdateAction:
    return make_action(THING, op, path, value)


def request(*actions: UpdateAction, **options: Any) -> dict[str, Any]:
    prepared = prepare_update(THING, tuple(actions), now=NOW, **options)
    return prepared.request("things", KEY)


def rendered(*actions: UpdateAction) -> tuple[str, dict[str, str], dict[str, Any]]:
    r = request(*actions)
    return (
        r["UpdateExpression"],
        r.get("ExpressionAttributeNames", {}),
        r.get("ExpressionAttributeValues", {}),
    )


# --- rendering -------------------------------------------------------------------------------


def test_set_renders_with_placeholders() -> None:
    assert rendered(act("set", Thing.name, "n")) == ("SET #n0 = :v0", {"#n0": "name"}, {
        ":v0": {"S": "n"}
    })


def test_every_action_renders_in_its_clause() -> None:
    expr, names, values = rendered(
        act("set", Thing.name, "n"),
        act("set_if_not_exists", Thing.price, Decimal("1.5")),
        act("increment", Thing.count, 2),
        act("decrement", Thing.ratio, 0.5),
        act("append", Thing.lines, ["a"]),
        act("prepend", Thing.maybe, ["b"]),
        act("remove", Thing.note),
        act("add", Thing.tags, {"t"}),
        act("delete", Thing.scores, {3}),
    )
    assert expr == (
        "SET #n0 = :v0, #n1 = if_not_exists(#n1, :v1), #n2 = if_not_exists(#n2, :v2) + :v3, "
        "#n3 = if_not_exists(#n3, :v2) - :v4, #n4 = list_append(if_not_exists(#n4, :v5), :v6), "
        "#n5 = list_append(:v7, if_not_exists(#n5, :v5)) REMOVE #n6 ADD #n7 :v8 DELETE #n8 :v9"
    )
    assert names == {
        "#n0": "name",
        "#n1": "price",
        "#n2": "count",
        "#n3": "ratio",
        "#n4": "lines",
        "#n5": "maybe",
        "#n6": "note",
        "#n7": "tags",
        "#n8": "scores",
    }
    assert values == {
        ":v0": {"S": "n"},
        ":v1": {"N": "1.5"},
        ":v2": {"N": "0"},
        ":v3": {"N": "2"},
        ":v4": {"N": "0.5"},
        ":v5": {"L": []},
        ":v6": {"L": [{"S": "a"}]},
        ":v7": {"L": [{"S": "b"}]},
        ":v8": {"SS": ["t"]},
        ":v9": {"NS": ["3"]},
    }


def test_clauses_come_in_fixed_order_whatever_the_call_order() -> None:
    expr, _, _ = rendered(
        act("delete", Thing.tags, {"a"}),
        act("add", Thing.count, 1),
        act("remove", Thing.note),
        act("set", Thing.name, "x"),
    )
    assert expr == "SET #n0 = :v0 REMOVE #n1 ADD #n2 :v1 DELETE #n3 :v2"


def test_nested_field_and_list_element_paths() -> None:
    expr, names, values = rendered(
        act("set", Thing.address.city, "Paris"),
        act("set", Thing.lines[2], "c"),
        act("increment", Thing.home.floors[0], 1),
        act("set", Thing.attrs["k"], 5),
    )
    assert expr == (
        "SET #n0.#n1 = :v0, #n2[2] = :v1, #n3.#n4[0] = if_not_exists(#n3.#n4[0], :v2) + :v3, "
        "#n5.#n6 = :v4"
    )
    assert names == {
        "#n0": "address",
        "#n1": "city",
        "#n2": "lines",
        "#n3": "home",
        "#n4": "floors",
        "#n5": "attrs",
        "#n6": "k",
        "#n7": "pk",  # attribute_exists(pk): nested paths need a stored item
    }
    assert values[":v4"] == {"N": "5"}


def test_reserved_words_and_renamed_attributes_go_through_placeholders() -> None:
    _, names, values = rendered(act("set", Thing.renamed, 3))
    assert names == {"#n0": "rn"}
    assert values == {":v0": {"N": "3"}}


def test_equal_values_share_a_placeholder() -> None:
    expr, _, values = rendered(act("set", Thing.name, "same"), act("set", Thing.note, "same"))
    assert expr == "SET #n0 = :v0, #n1 = :v0"
    assert values == {":v0": {"S": "same"}}


def test_condition_shares_the_placeholders() -> None:
    r = request(act("set", Thing.name, "x"), condition=Thing.name == "x")
    assert r["ConditionExpression"] == "#n0 = :v0"
    assert r["UpdateExpression"] == "SET #n0 = :v0"


def test_request_shape_and_return_values() -> None:
    prepared = prepare_update(THING, (act("set", Thing.name, "x"),), now=NOW)
    r = prepared.request("things", KEY)
    assert set(r) == {
        "TableName",
        "Key",
        "UpdateExpression",
        "ExpressionAttributeNames",
        "ExpressionAttributeValues",
    }
    assert r["TableName"] == "things"
    assert r["Key"] == KEY
    for mode in RETURN_VALUES:
        got = prepared.request("things", KEY, return_values=mode)
        assert got.get("ReturnValues", "NONE") == mode


def test_remove_only_update_has_no_values() -> None:
    r = request(act("remove", Thing.note), act("remove", Thing.lines[1]))
    assert r["UpdateExpression"] == "REMOVE #n0, #n1[1]"
    assert "ExpressionAttributeValues" not in r


def test_touched_and_nested() -> None:
    top = prepare_update(THING, (act("set", Thing.name, "x"),), now=NOW)
    assert top.touched == frozenset({"name"})
    assert not top.nested
    deep = prepare_update(
        THING, (act("set", Thing.address.city, "x"), act("remove", Thing.note)), now=NOW
    )
    assert deep.touched == frozenset({"address", "note"})
    assert deep.nested


# --- marshalling with the field type ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "wire"),
    [
        (Thing.count, 7, {"N": "7"}),
        (Thing.price, Decimal("12.50"), {"N": "12.50"}),
        (Thing.price, 3, {"N": "3"}),
        (Thing.ratio, 2, {"N": "2"}),
        (Thing.flag, True, {"BOOL": True}),
        (Thing.blob, b"\x00\x01", {"B": base64.b64encode(b"\x00\x01").decode()}),
        (Thing.tags, {"b", "a"}, {"SS": ["a", "b"]}),
        (Thing.scores, frozenset({5}), {"NS": ["5"]}),
        (Thing.blobs, {b"x"}, {"BS": [base64.b64encode(b"x").decode()]}),
        (Thing.lines, ["a", "b"], {"L": [{"S": "a"}, {"S": "b"}]}),
        (Thing.attrs, {"k": 1}, {"M": {"k": {"N": "1"}}}),
        (Thing.extra, {"k": [1, "x"]}, {"M": {"k": {"L": [{"N": "1"}, {"S": "x"}]}}}),
        (Thing.address, Building(city="Rome"), {"M": {"city": {"S": "Rome"}, "floors": {"L": []}}}),
        (Thing.color, Color.BLUE, {"S": "blue"}),
        (
            Thing.ident,
            uuid.UUID(int=1),
            {"S": "00000000-0000-0000-0000-000000000001"},
        ),
        (Thing.when, NOW, {"S": NOW_TEXT}),
        (Thing.expires, NOW, {"N": str(int(NOW.timestamp()))}),
        (Thing.maybe[0], None, {"NULL": True}),
        (Thing.extra["free"], {"a": 1}, {"M": {"a": {"N": "1"}}}),
    ],
)
def test_values_are_marshalled_with_the_field_type(
    path: object, value: object, wire: dict[str, Any]
) -> None:
    action = act("set", path, value)
    assert action.op == "set"
    assert action.value == wire


def test_set_none_or_empty_set_becomes_remove_like_a_put() -> None:
    assert act("set", Thing.note, None) == UpdateAction("remove", THING.path("note"))
    assert act("set", Thing.tags, set()).op == "remove"
    assert act("set", Thing.address.zip, None).op == "remove"


def test_timezone_aware_datetime_is_required() -> None:
    with pytest.raises(ValidationError, match="naive datetime"):
        act("set", Thing.when, datetime(2025, 1, 1))


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [Thing.pk, Thing.sk])
def test_key_attributes_cannot_be_updated(path: object) -> None:
    with pytest.raises(ValidationError, match="primary key and cannot be updated"):
        act("set", path, "x")


def test_version_field_is_managed() -> None:
    with pytest.raises(ValidationError, match="Version field"):
        make_action(MANAGED, "increment", Managed.version, 1)


def test_path_of_another_model_is_rejected() -> None:
    with pytest.raises(ValidationError, match="belongs to Foreign, not Thing"):
        act("set", Foreign.name, "x")


def test_unknown_attribute_is_rejected() -> None:
    with pytest.raises(ValidationError, match="has no attribute 'nope'"):
        act("set", AttributePath(("nope",), str), "x")


def test_instance_values_are_not_paths() -> None:
    with pytest.raises(ValidationError, match="expected an attribute path"):
        act("set", "name", "x")


@pytest.mark.parametrize(
    ("op", "path", "value"),
    [
        ("set", Thing.count, "5"),
        ("set", Thing.count, True),
        ("set", Thing.count, 1.5),
        ("set", Thing.name, 5),
        ("set", Thing.name, None),
        ("set", Thing.tags, {1}),
        ("set", Thing.lines, "abc"),
        ("set", Thing.lines[0], 5),
        ("set", Thing.address, {"zip": "1"}),
        ("set", Thing.address.city, 3),
        ("set", Thing.color, "green"),
        ("set", Thing.attrs["k"], "v"),
        ("set_if_not_exists", Thing.count, "1"),
        ("increment", Thing.count, Decimal("1.5")),
        ("increment", Thing.count, "1"),
        ("add", Thing.tags, {1}),
        ("add", Thing.count, "1"),
        ("delete", Thing.scores, {"a"}),
        ("append", Thing.lines, [1]),
        ("append", Thing.lines, "abc"),
    ],
)
def test_wrong_value_type_is_rejected(op: ActionOp, path: object, value: object) -> None:
    # The error names the field path down to the bad value, what the value should have been,
    # then the action, as a put's error does; .path holds the field path.
    shape = (
        r"^(?P<path>Thing\.[\w.\[\]']+): (expected|None cannot|Expected|needs)"
        r".* \(in \w+\(Thing\.[\w.\[\]]+\)\)"
    )
    with pytest.raises(ValidationError, match=shape) as raised:
        act(op, path, value)
    found = re.match(shape, raised.value.message)
    assert found is not None
    assert raised.value.path == found.group("path")
    assert raised.value.model is Thing


@pytest.mark.parametrize(
    ("op", "path", "value", "message"),
    [
        ("add", Thing.name, "x", "add\\(\\) works on number and set fields only"),
        ("add", Thing.lines, ["x"], "add\\(\\) works on number and set fields only"),
        ("add", Thing.address, Building(city="x"), "add\\(\\) works on number and set fields"),
        ("delete", Thing.count, 1, "delete\\(\\) removes elements from set fields only"),
        ("delete", Thing.lines, ["x"], "delete\\(\\) removes elements from set fields only"),
        ("increment", Thing.name, 1, "needs a number field"),
        ("decrement", Thing.tags, 1, "needs a number field"),
        ("increment", Thing.when, 1, "needs a number field"),
        ("append", Thing.tags, ["x"], "needs a list field"),
        ("prepend", Thing.name, ["x"], "needs a list field"),
    ],
)
def test_action_on_the_wrong_kind_of_field(
    op: ActionOp, path: object, value: object, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        act(op, path, value)


@pytest.mark.parametrize("op", ["add", "delete", "set_if_not_exists"])
def test_empty_set_where_elements_are_needed(op: ActionOp) -> None:
    with pytest.raises(ValidationError, match="empty set"):
        act(op, Thing.tags, set())


@pytest.mark.parametrize("op", ["add", "delete", "increment", "append", "set_if_not_exists"])
def test_none_is_not_a_value_for_these_actions(op: ActionOp) -> None:
    with pytest.raises(ValidationError, match="needs a value, got None"):
        act(op, Thing.extra["x"], None)


def test_dynamic_paths_check_the_value_shape() -> None:
    assert act("add", Thing.extra["n"], 2).value == {"N": "2"}
    assert act("delete", Thing.extra["s"], {"a"}).value == {"SS": ["a"]}
    with pytest.raises(ValidationError, match="needs a number or a set"):
        act("add", Thing.extra["n"], "x")
    with pytest.raises(ValidationError, match="needs a set of elements"):
        act("delete", Thing.extra["s"], "x")
    with pytest.raises(ValidationError, match="needs a list of values"):
        act("append", Thing.extra["l"], "x")
    with pytest.raises(ValidationError, match="needs a number"):
        act("increment", Thing.extra["n"], "x")
    with pytest.raises(ValidationError, match="cannot store a value of type object"):
        act("set", Thing.extra["o"], object())


def test_removing_a_field_without_default_is_rejected() -> None:
    with pytest.raises(ValidationError, match="has no default"):
        act("remove", Thing.required)
    with pytest.raises(ValidationError, match="has no default"):
        act("remove", Thing.address.city)
    with pytest.raises(ValidationError, match="has no default"):
        act("remove", Thing.home.city)
    assert act("remove", Thing.address.zip).op == "remove"
    assert act("remove", Thing.lines[3]).op == "remove"
    assert act("remove", Thing.attrs["k"]).op == "remove"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (Thing.name, Thing.name),
        (Thing.address, Thing.address.zip),
        (Thing.address.zip, Thing.address),
        (Thing.lines, Thing.lines[0]),
        (Thing.lines[1], Thing.lines[1]),
    ],
)
def test_overlapping_paths_are_rejected(first: AttributePath, second: AttributePath) -> None:
    actions = add_action((), act("remove", first))
    with pytest.raises(ValidationError, match="overlaps remove"):
        add_action(actions, act("remove", second))


def test_distinct_paths_do_not_overlap() -> None:
    actions: tuple[UpdateAction, ...] = ()
    for path in (Thing.lines[0], Thing.lines[1], Thing.address.zip, Thing.home.floors):
        actions = add_action(actions, act("remove", path))
    assert len(actions) == 4


def test_empty_update_is_rejected() -> None:
    with pytest.raises(ValidationError, match="empty update of Thing"):
        prepare_update(THING, (), now=NOW)


def test_unknown_op_is_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown update action"):
        make_action(THING, "multiply", Thing.count, 2)  # type: ignore[arg-type]


# --- managed fields --------------------------------------------------------------------------


def managed(
    *actions: UpdateAction, expected_version: int | None = None, **options: Any
) -> dict[str, Any]:
    prepared = prepare_update(
        MANAGED, tuple(actions), now=NOW, expected_version=expected_version, **options
    )
    return prepared.request("managed", {"pk": {"S": "p"}})


def test_key_update_stamps_and_bumps_without_a_version_check() -> None:
    r = managed(make_action(MANAGED, "set", Managed.status, "paid"))
    assert r["UpdateExpression"] == (
        "SET #n0 = :v0, #n1 = :v1, #n2 = if_not_exists(#n2, :v1), "
        "#n3 = if_not_exists(#n3, :v2) + :v3"
    )
    assert r["ExpressionAttributeNames"] == {
        "#n0": "status",
        "#n1": "updated_at",
        "#n2": "created_at",
        "#n3": "version",
    }
    assert r["ExpressionAttributeValues"] == {
        ":v0": {"S": "paid"},
        ":v1": {"S": NOW_TEXT},
        ":v2": {"N": "0"},
        ":v3": {"N": "1"},
    }
    assert "ConditionExpression" not in r


def test_instance_update_checks_and_sets_the_next_version() -> None:
    r = managed(make_action(MANAGED, "set", Managed.status, "x"), expected_version=4)
    assert r["UpdateExpression"].endswith("#n3 = :v2")
    assert r["ExpressionAttributeValues"][":v2"] == {"N": "5"}
    assert r["ConditionExpression"] == "#n3 = :v3"
    assert r["ExpressionAttributeValues"][":v3"] == {"N": "4"}


def test_instance_update_at_version_zero_requires_no_stored_version() -> None:
    r = managed(
        make_action(MANAGED, "set", Managed.status, "x"),
        expected_version=0,
        condition=Managed.status == "new",
    )
    assert r["ConditionExpression"] == "(#n0 = :v3) AND (attribute_not_exists(#n3))"
    assert r["ExpressionAttributeValues"][":v2"] == {"N": "1"}


def test_explicit_timestamps_win_over_managed_ones() -> None:
    later = NOW + timedelta(days=1)
    r = managed(
        make_action(MANAGED, "set", Managed.updated_at, later),
        make_action(MANAGED, "remove", Managed.created_at),
    )
    assert r["UpdateExpression"] == (
        "SET #n0 = :v0, #n1 = if_not_exists(#n1, :v1) + :v2 REMOVE #n2"
    )
    assert r["ExpressionAttributeNames"] == {
        "#n0": "updated_at",
        "#n1": "version",
        "#n2": "created_at",
    }


def test_model_without_managed_fields_gets_nothing_extra() -> None:
    prepared = prepare_update(THING, (act("set", Thing.name, "x"),), now=NOW, expected_version=3)
    assert prepared == PreparedUpdate((act("set", Thing.name, "x"),), None)


def test_version_condition() -> None:
    ph = Placeholders()
    assert version_condition(MANAGED, 0).encode(ph) == "attribute_not_exists(#n0)"
    assert version_condition(MANAGED, 2).encode(ph) == "#n0 = :v0"
    assert ph.values == {":v0": {"N": "2"}}
