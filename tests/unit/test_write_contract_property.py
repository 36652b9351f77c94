"""Property: for every supported annotation, a value either reads back equal or is refused.

Each annotation gets a one-field model. Values come from two sources: valid values of the
annotation, and arbitrary Python values of every shape (wrong types, enum names, dicts for
structs, naive datetimes, NaN, empty sets, deep nesting). Encoding either raises
ValidationError, or the item survives the transport's JSON round trip and decodes to an
equal value, the failure named by the field path.
"""

from __future__ import annotations

import enum
import types
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamorm_async import HashKey, Model, ValidationError
from tests.shared_types import Color, Level, Line


class Node(msgspec.Struct):
    name: str
    children: list[Node] = msgspec.field(default_factory=list)


ANNOTATIONS: list[Any] = [
    str,
    int,
    float,
    Decimal,
    bool,
    bytes,
    datetime,
    date,
    uuid.UUID,
    Color,
    Level,
    Literal["a", "b"],
    set[str],
    set[int],
    set[bytes],
    set[Decimal],
    frozenset[str],
    list[int],
    list[str | None],
    tuple[int, ...],
    tuple[int, str],
    dict[str, int],
    dict[str, list[int]],
    Line,
    list[Line],
    Line | None,
    int | None,
    str | int,
    Annotated[int, msgspec.Meta(ge=0, le=10)],
    Annotated[str, msgspec.Meta(max_length=3, pattern="^[a-z]*$")],
    list[Annotated[int, msgspec.Meta(ge=0)]],
    Node,
    set[str] | None,
    dict[str, Line],
]

_models: dict[tuple[str, str], type[Model]] = {}


def model_for(annotation: Any, default: str) -> type[Model]:
    """``One(pk, value)`` with ``value: annotation``: required, or with a default."""
    key = (repr(annotation), default)
    if key not in _models:

        def body(ns: dict[str, Any]) -> None:
            ns["__annotations__"] = {"pk": Annotated[str, HashKey()], "value": annotation}
            if default == "none":
                ns["value"] = None
            elif default == "factory":
                ns["value"] = msgspec.field(default_factory=set)

        _models[key] = types.new_class("One", (Model,), {"table": "one"}, body)
    return _models[key]


_aware = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
) | st.datetimes(timezones=st.sampled_from([timezone(timedelta(hours=5)), UTC]))
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.datetimes(),
    _aware,
    st.dates(),
    st.uuids(),
    st.sampled_from([*Color, *Level, "RED", "red", "a", "PAID", 1, 2]),
)
_hashables = st.one_of(st.text(max_size=3), st.integers(-5, 5), st.binary(max_size=3))


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=3), children, max_size=3),
        st.sets(_hashables, max_size=3),
        st.frozensets(st.text(max_size=3), max_size=3),
        st.builds(Line, sku=st.text(max_size=3), qty=children),
        st.builds(Node, name=st.text(max_size=3), children=st.lists(children, max_size=2)),
    )


anything = st.recursive(_scalars, _containers, max_leaves=8)


def _nested(depth: int) -> Node:
    node = Node("leaf")
    for _ in range(depth):
        node = Node("n", [node])
    return node


def check_round_trip(annotation: Any, default: str, value: Any) -> None:
    model = model_for(annotation, default)
    obj = model(pk="p", value=value)  # type: ignore[call-arg]
    try:
        item = obj.to_dynamodb()
        model.__dynamorm__.encode_checked(obj)  # type: ignore[attr-defined]
    except ValidationError as exc:
        assert exc.message.startswith("One.value") or "key" in exc.message, exc.message
        return
    wire = msgspec.json.decode(msgspec.json.encode(item))
    assert model.from_dynamodb(wire) == obj


@settings(max_examples=60, deadline=None)
@given(value=anything, default=st.sampled_from(["required", "none", "factory"]))
@pytest.mark.parametrize("annotation", ANNOTATIONS, ids=repr)
def test_any_value_reads_back_equal_or_is_refused(
    annotation: Any, default: str, value: Any
) -> None:
    if default == "none":
        annotation = annotation | None
    check_round_trip(annotation, default, value)


def valid(annotation: Any) -> st.SearchStrategy[Any]:
    """Values of ``annotation`` as a user would build them (some still refused: naive
    datetimes, NaN, out-of-range numbers, empty sets, constraint violations)."""
    tp = annotation
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        return st.one_of(*(valid(a) for a in args))
    if origin is Literal or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        return st.sampled_from(args or list(tp))
    if origin in (set, frozenset):
        # A signalling NaN cannot even be put in a set.
        elements = st.decimals(allow_nan=False) if args[0] is Decimal else valid(args[0])
        return st.sets(elements, max_size=3).map(origin)
    if origin is list:
        return st.lists(valid(args[0]), max_size=3)
    if origin is tuple:
        if args[-1] is Ellipsis:
            return st.lists(valid(args[0]), max_size=3).map(tuple)
        return st.tuples(*(valid(a) for a in args))
    if origin is dict:
        return st.dictionaries(st.text(max_size=3), valid(args[1]), max_size=3)
    if tp is Node:
        leaf = st.builds(Node, name=st.text(max_size=2))
        return st.recursive(
            leaf,
            lambda kids: st.builds(
                Node, name=st.text(max_size=2), children=st.lists(kids, max_size=2)
            ),
            max_leaves=6,
        )
    if tp is Line:
        return st.builds(Line, sku=st.text(max_size=3), qty=st.integers())
    return _SCALARS_BY_TYPE[tp]


_SCALARS_BY_TYPE: dict[Any, st.SearchStrategy[Any]] = {
    str: st.text(max_size=5),
    int: st.integers(min_value=-(10**40), max_value=10**40),
    float: st.floats(),
    Decimal: st.decimals(),
    bool: st.booleans(),
    bytes: st.binary(max_size=5),
    datetime: _aware | st.datetimes(),
    date: st.dates(),
    uuid.UUID: st.uuids(),
    type(None): st.none(),
}


@settings(max_examples=60, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("annotation", ANNOTATIONS, ids=repr)
def test_valid_values_read_back_equal(annotation: Any, data: st.DataObject) -> None:
    check_round_trip(annotation, "required", data.draw(valid(annotation)))


def test_recursive_structs_are_refused_past_dynamodbs_nesting_limit() -> None:
    model = model_for(Node, "required")
    ok = model(pk="p", value=_nested(14))  # type: ignore[call-arg]
    assert model.from_dynamodb(ok.to_dynamodb()) == ok
    too_deep = model(pk="p", value=_nested(15))  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match=r"One\.value: value nests maps/lists more than 32"):
        model.__dynamorm__.encode_checked(too_deep)  # type: ignore[attr-defined]


def test_an_empty_set_is_refused_unless_the_default_is_one() -> None:
    required = model_for(set[str], "required")
    with pytest.raises(ValidationError, match=r"One\.value: an empty set cannot be stored"):
        required(pk="p", value=set()).to_dynamodb()  # type: ignore[call-arg]
    defaulted = model_for(set[str], "factory")
    assert "value" not in defaulted(pk="p", value=set()).to_dynamodb()  # type: ignore[call-arg]


def test_errors_shorten_long_values() -> None:
    model = model_for(int, "required")
    with pytest.raises(ValidationError) as caught:
        model(pk="p", value="x" * 500).to_dynamodb()  # type: ignore[call-arg]
    assert len(caught.value.message) < 120 and caught.value.message.endswith("...")


def test_a_lone_surrogate_is_refused_before_any_request() -> None:
    model = model_for(str, "required")
    with pytest.raises(ValidationError, match="not valid UTF-8"):
        model.__dynamorm__.encode_checked(model(pk="p", value="\ud800"))  # type: ignore[attr-defined, call-arg]
