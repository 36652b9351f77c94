"""Field paths of decode errors, rendered as the user writes them (pure)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

from dynamorm_async import ItemDecodeError, ValidationError
from dynamorm_async._read.invalid import check_on_invalid, decode_page
from dynamorm_async._wire.decode_errors import field_path, item_decode_error, wire_path


class CartLine(msgspec.Struct):
    sku: str
    qty: int = msgspec.field(name="q")


class Cart(msgspec.Struct):
    """Wire names that differ from field names, in lists, maps and Optionals."""

    lines: list[CartLine] = []
    by_sku: dict[str, CartLine] = {}
    maybe: Annotated[CartLine | None, msgspec.Meta(title="x")] = None
    dotted: int = msgspec.field(name="m.a.p", default=0)


def message_for(data: dict[str, Any]) -> str:
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.convert(data, Cart)
    return str(caught.value)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"lines": [{"sku": "a", "q": 1}, {"sku": "b", "q": "x"}]}, "Cart.lines[1].qty"),
        ({"lines": [{"q": 1}]}, "Cart.lines[0].sku"),
        ({"by_sku": {"k": {"sku": 1}}}, "Cart.by_sku[...].sku"),
        ({"maybe": {"sku": "a", "q": "x"}}, "Cart.maybe.qty"),
        ({"m.a.p": "x"}, "Cart.dotted"),
        ({"lines": "x"}, "Cart.lines"),
    ],
)
def test_msgspec_paths_render_with_field_names(data: dict[str, Any], path: str) -> None:
    assert field_path(Cart, message_for(data)) == path


def test_paths_without_a_place_and_under_a_value() -> None:
    assert field_path(Cart, "") == "Cart"
    assert field_path(Cart, "Expected `int`, got `str` - at `$[2].q`", under=".lines") == (
        "Cart.lines[2].qty"
    )
    assert field_path(Cart, "", under=wire_path(["lines", 0, "q"])) == "Cart.lines[0].qty"
    assert field_path(Cart, "Expected `str` - at `$.nope.x`") == "Cart.nope.x"


def test_item_decode_error_carries_item_key_model_and_path() -> None:
    item = {"pk": {"S": "a"}, "lines": {"L": [{"M": {"sku": {"N": "1"}}}]}}
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.convert({"lines": [{"sku": 1}]}, Cart)
    error = item_decode_error(Cart, item, caught.value, table="t", key_attributes=("pk",))
    assert isinstance(error, ItemDecodeError) and not isinstance(error, ValidationError)
    assert (error.key, error.item, error.model, error.path) == (
        {"pk": "a"},
        item,
        Cart,
        "Cart.lines[0].sku",
    )
    assert str(error).startswith("stored item does not fit Cart: Expected `str`, got `int`")


def test_decode_page_raises_or_collects() -> None:
    def decode(item: int) -> int:
        if item < 0:
            raise ItemDecodeError(f"bad {item}")
        return item

    assert decode_page([1, 2], decode, "raise") == ([1, 2], [])
    with pytest.raises(ItemDecodeError):
        decode_page([1, -1], decode, "raise")
    results, invalid = decode_page([1, -1, 2, -2], decode, "skip")
    assert results == [1, 2] and [e.message for e in invalid] == ["bad -1", "bad -2"]
    assert check_on_invalid("skip") == "skip"
    with pytest.raises(ValidationError, match="'raise' or 'skip'"):
        check_on_invalid("ignore")
