"""May an update create the item it targets? The pure rule behind ItemNotFound for updates:
a missing item may be created only when the actions set every field it needs to decode."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import pytest

from dynamorm_async import (
    CreatedAt,
    DynamormError,
    HashKey,
    Model,
    RangeKey,
    UpdatedAt,
    Version,
)
from dynamorm_async._expressions.core import Placeholders
from dynamorm_async._model.model import ModelInfo, model_info
from dynamorm_async._write.update_expr import (
    ActionOp,
    UpdateAction,
    make_action,
    prepare_update,
    why_update_cannot_create,
)
from tests.models import Counter, Strict

NOW = datetime(2025, 1, 2, tzinfo=UTC)


class Kinds(Model, table="kinds"):
    """One required field per kind of action that can create it."""

    pk: Annotated[str, HashKey()]
    sk: Annotated[int, RangeKey()]
    count: int
    tags: set[str]
    lines: list[str]
    label: Annotated[str, msgspec.field(name="lbl")]
    maybe: str | None  # required, but absent decodes as None
    note: str = ""
    extra: list[str] = msgspec.field(default_factory=list)


class Loose(Model, table="loose"):
    pk: Annotated[str, HashKey()]
    anything: Any  # the codec reads it as None when absent, the generic decoder does not


class ManagedNoDefaults(Model, table="managed"):
    """Managed fields without defaults: the update's own managed actions write them."""

    pk: Annotated[str, HashKey()]
    version: Annotated[int, Version()]
    created_at: Annotated[datetime, CreatedAt()]
    updated_at: Annotated[datetime, UpdatedAt()]
    status: str = "new"


def actions(info: ModelInfo, *calls: tuple[ActionOp, object, object]) -> tuple[UpdateAction, ...]:
    return tuple(make_action(info, op, path, value) for op, path, value in calls)


STRICT = model_info(Strict)
KINDS = model_info(Kinds)


def test_an_update_that_leaves_a_required_field_unset_may_not_create() -> None:
    reason = why_update_cannot_create(STRICT, actions(STRICT, ("set", Strict.amount, 1)))
    assert reason == (
        "it does not set the required field name, so a created item could not be read"
    )
    both = why_update_cannot_create(STRICT, actions(STRICT, ("set", Strict.name, "x")))
    assert both is not None and "field amount" in both


def test_an_update_that_sets_every_required_field_may_create() -> None:
    calls = actions(STRICT, ("set", Strict.name, "n"), ("set", Strict.amount, Decimal(1)))
    assert why_update_cannot_create(STRICT, calls) is None


def test_counters_with_defaults_may_create() -> None:
    info = model_info(Counter)
    assert why_update_cannot_create(info, actions(info, ("increment", Counter.hits, 1))) is None


@pytest.mark.parametrize(
    ("op", "field", "value"),
    [
        ("set", "count", 1),
        ("set_if_not_exists", "count", 1),
        ("increment", "count", 1),
        ("decrement", "count", 1),
        ("add", "count", 1),
        ("add", "tags", {"a"}),
        ("append", "lines", ["a"]),
        ("prepend", "lines", ["a"]),
        ("append", "lines", []),  # list_append(if_not_exists(lines, []), []) stores []
    ],
)
def test_each_creating_action_counts(op: ActionOp, field: str, value: object) -> None:
    rest: dict[str, tuple[ActionOp, object, object]] = {
        "count": ("set", Kinds.count, 0),
        "tags": ("set", Kinds.tags, {"t"}),
        "lines": ("set", Kinds.lines, ["l"]),
    }
    rest[field] = (op, getattr(Kinds, field), value)
    calls = actions(KINDS, *rest.values(), ("set", Kinds.label, "l"))
    assert why_update_cannot_create(KINDS, calls) is None


@pytest.mark.parametrize(
    "action",
    [
        # The builder refuses to remove a required field; the rule does not rely on that.
        UpdateAction("remove", KINDS.path("tags")),
        make_action(KINDS, "delete", Kinds.tags, {"a"}),
    ],
)
def test_actions_that_leave_the_attribute_absent_do_not_count(action: UpdateAction) -> None:
    calls = actions(
        KINDS, ("set", Kinds.count, 1), ("set", Kinds.lines, []), ("set", Kinds.label, "l")
    )
    assert why_update_cannot_create(KINDS, (*calls, action)) == (
        "it does not set the required field tags, so a created item could not be read"
    )


def test_renamed_fields_are_matched_by_attribute_and_named_by_field() -> None:
    calls = actions(
        KINDS, ("set", Kinds.count, 1), ("set", Kinds.tags, {"t"}), ("set", Kinds.lines, [])
    )
    assert why_update_cannot_create(KINDS, calls) == (
        "it does not set the required field label, so a created item could not be read"
    )


def test_fields_that_decode_when_absent_are_not_required() -> None:
    # Keys come from the request's Key; Optional fields without a default decode as None;
    # fields with a default or default_factory decode as those.
    assert KINDS.absent_means_none == ["maybe"]
    calls = actions(
        KINDS,
        ("set", Kinds.count, 1),
        ("set", Kinds.tags, {"t"}),
        ("set", Kinds.lines, []),
        ("set", Kinds.label, "l"),
    )
    assert why_update_cannot_create(KINDS, calls) is None


def test_a_required_any_field_counts_as_required() -> None:
    # ModelInfo.decode falls back to msgspec.convert, which refuses a missing Any field.
    info = model_info(Loose)
    with pytest.raises(DynamormError, match="missing required field `anything`"):
        info.from_builtins({"pk": "p"}, {"pk": {"S": "p"}})
    assert why_update_cannot_create(info, actions(info, ("set", Loose.anything, 1))) is None
    reason = why_update_cannot_create(info, (UpdateAction("remove", info.path("anything")),))
    assert reason is not None and "field anything" in reason


def test_a_nested_path_needs_a_stored_item() -> None:
    # DynamoDB rejects a nested path whose parent is absent, so the item must exist anyway.
    info = model_info(Counter)
    assert why_update_cannot_create(info, (UpdateAction("remove", info.path("hits")),)) is None
    calls = actions(KINDS, ("set", Kinds.lines[0], "x"))
    assert why_update_cannot_create(KINDS, calls) == (
        "set(Kinds.lines[0]) reaches inside an attribute that a missing item does not have"
    )


def test_managed_actions_write_managed_fields() -> None:
    info = model_info(ManagedNoDefaults)
    assert why_update_cannot_create(info, ()) == (
        "it does not set the required fields version, created_at, updated_at, so a created "
        "item could not be read"
    )
    calls = actions(info, ("set", ManagedNoDefaults.status, "paid"))
    prepared = prepare_update(info, calls, now=NOW)
    assert prepared.must_exist is None and prepared.condition is None


def render_condition(info: ModelInfo, **options: Any) -> tuple[str, dict[str, str]]:
    prepared = prepare_update(info, options.pop("calls"), now=NOW, **options)
    ph = Placeholders()
    assert prepared.condition is not None
    text = prepared.condition.encode(ph)
    return text, ph.apply({}).get("ExpressionAttributeNames", {})


def test_the_existence_check_is_anded_with_the_callers_condition() -> None:
    calls = actions(STRICT, ("set", Strict.amount, 1))
    prepared = prepare_update(STRICT, calls, now=NOW)
    assert prepared.must_exist is not None
    request = prepared.request("strict", {"pk": {"S": "p"}})
    assert request["ConditionExpression"] == "attribute_exists(#n1)"
    assert request["ExpressionAttributeNames"]["#n1"] == "pk"
    assert request["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    text, names = render_condition(STRICT, calls=calls, condition=Strict.amount > 0)
    assert text == "(#n0 > :v0) AND (attribute_exists(#n1))"
    assert names == {"#n0": "amount", "#n1": "pk"}


def test_must_exist_forces_the_check_with_its_reason() -> None:
    info = model_info(Counter)
    calls = actions(info, ("increment", Counter.hits, 1))
    assert prepare_update(info, calls, now=NOW).condition is None
    prepared = prepare_update(info, calls, now=NOW, must_exist="asked")
    assert prepared.must_exist == "asked"
    text, names = render_condition(info, calls=calls, must_exist="asked")
    assert (text, names) == ("attribute_exists(#n0)", {"#n0": "name"})


def test_the_version_condition_and_the_existence_check_combine() -> None:
    info = model_info(ManagedNoDefaults)
    calls = actions(info, ("set", ManagedNoDefaults.status, "paid"))
    text, _ = render_condition(info, calls=calls, expected_version=3, must_exist="instance")
    assert text == "(#n0 = :v0) AND (attribute_exists(#n1))"
