"""Typed wire shapes: items parsed by msgspec straight into a model's wire form.

Every property here compares the typed path with the dict path, which stays the reference:
both must build the same instance from the same bytes, and an item the typed path does not
handle must reach the dict path exactly as it was sent (same result, same error).
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings

from dynamorm_async import ItemDecodeError
from dynamorm_async._model.model import model_info
from dynamorm_async._read.builders import Scan
from dynamorm_async._wire.shapes import WireShape, wire_shape
from tests.unit.test_marshal import (
    INFO,
    Cat,
    Everything,
    Exotic,
    IntTTL,
    Sparse,
    Tree,
    everything,
)
from tests.unit.test_read_source import Scripted, Thing

EVERYTHING = INFO.wire_shape


def typed_page(*items: dict[str, Any], shape: WireShape | None = EVERYTHING) -> list[Any]:
    """The items of a Query or Scan answer body, as the read path parses them."""
    assert shape is not None
    return shape.items(msgspec.json.encode(list(items)))


def test_common_models_have_a_shape_and_keep_its_source() -> None:
    assert EVERYTHING is not None
    assert "def decode(w):" in EVERYTHING.source
    assert model_info(IntTTL).wire_shape is not None
    assert wire_shape(Tree) is not None, "a recursive struct has a shape (recursion stays dicts)"


@pytest.mark.parametrize("struct", [Sparse, Cat])
def test_structs_whose_fields_are_not_one_attribute_each_have_no_shape(struct: type) -> None:
    assert wire_shape(struct) is None


@settings(max_examples=200, deadline=None)
@given(everything)
def test_property_typed_path_agrees_with_dict_path(obj: Everything) -> None:
    item = obj.to_dynamodb()
    (typed,) = typed_page(item)
    assert isinstance(typed, msgspec.Struct), "a valid item parses as a typed item"
    assert msgspec.to_builtins(typed) == msgspec.json.decode(msgspec.json.encode(item)), (
        "the typed item gives back the wire item exactly"
    )
    assert INFO.decode(typed) == INFO.decode(item) == obj


def test_less_common_shapes_decode_alike_on_both_paths() -> None:
    obj = Exotic(
        pk="p",
        tree=Tree("root", [Tree("a", [Tree("b")])]),
        sparse=Sparse(size=3),
        pet=Cat(lives=3),
        anything={"k": [1, "two", None]},
        either=5,
        bounded=7,
        bounded_list=["abc"],
    )
    item = obj.to_dynamodb()
    shape = model_info(Exotic).wire_shape
    (typed,) = typed_page(item, shape=shape)
    assert isinstance(typed, msgspec.Struct)
    assert model_info(Exotic).decode(typed) == Exotic.from_dynamodb(item) == obj


def test_other_valid_spellings_reach_the_dict_path_through_the_typed_one() -> None:
    item = {
        "pk": {"S": "p"},
        "count": {"N": "1E+2"},
        "ratio": {"N": "1"},
        "when": {"S": "2025-01-02T03:04:05+01:00"},
    }
    (typed,) = typed_page(item)
    assert isinstance(typed, msgspec.Struct)
    assert INFO.decode(typed) == Everything.from_dynamodb(item)


@pytest.mark.parametrize(
    "item",
    [
        {"sk": {"N": "1"}},  # no hash key: parses, fails in the generated decoder
        {"pk": {"S": "p"}, "count": {"N": "1.5"}},
        {"pk": {"S": "p"}, "color": {"S": "green"}},
        {"pk": {"S": "p"}, "maybe": {}},  # an Optional value with no type tag
    ],
)
def test_typed_items_that_do_not_fit_fail_as_on_the_dict_path(item: dict[str, Any]) -> None:
    (typed,) = typed_page(item)
    assert isinstance(typed, msgspec.Struct)
    with pytest.raises(ItemDecodeError) as typed_error:
        INFO.decode(typed)
    with pytest.raises(ItemDecodeError) as dict_error:
        INFO.decode(item)
    assert str(typed_error.value) == str(dict_error.value)
    assert typed_error.value.item == item


def test_a_page_with_a_wrong_type_tag_is_read_as_dicts() -> None:
    good = Everything(pk="a").to_dynamodb()
    bad = {"pk": {"S": "b"}, "text": {"N": "1"}}
    page = typed_page(good, bad)
    assert page == [good, bad], "one item that does not parse leaves the page to the dict path"
    assert INFO.decode(page[0]) == Everything(pk="a")
    with pytest.raises(ItemDecodeError, match="text"):
        INFO.decode(page[1])


class Deferring(Scripted):
    """The scripted context, its Scan answers keeping Items as JSON when asked to."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.raw_items: list[bool] = []

    async def call(self, operation: str, payload: dict[str, Any], **where: Any) -> dict[str, Any]:
        raw_items = where.pop("raw_items", False)
        self.raw_items.append(raw_items)
        response = await super().call(operation, payload, **where)
        if raw_items:
            response["Items"] = msgspec.Raw(msgspec.json.encode(response["Items"]))
        return response


async def test_whole_model_reads_ask_for_raw_items_and_projections_do_not() -> None:
    db = Deferring(3)
    expected = [Thing(id=f"t{n:03d}", size=n) for n in range(3)]
    assert await Scan(db, Thing).all() == expected
    assert [thing async for thing in Scan(db, Thing)] == expected
    assert db.raw_items and all(db.raw_items), "whole models are read from typed wire items"
    db.raw_items.clear()
    assert await Scan(db, Thing).select(Thing.size).all() == [{"size": n} for n in range(3)]
    assert db.raw_items and not any(db.raw_items), "projections read wire dicts"
