"""Write-side ValidationErrors name the field path down to the bad value, as read-side decode
errors do, and every error message shortens long keys and values (no server)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

from dynamorm_async import (
    ConditionFailed,
    HashKey,
    ItemDecodeError,
    Model,
    RangeKey,
    ValidationError,
)
from dynamorm_async._errors import SHOWN, short_repr, shorten
from dynamorm_async._expressions.core import Placeholders
from dynamorm_async._model.model import model_info
from dynamorm_async._write.update_expr import make_action

pytestmark = pytest.mark.timeout(30)


class Line(msgspec.Struct):
    sku: str
    qty: int


class Address(msgspec.Struct):
    city: str
    zip: str | None = None


class Parcel(Model, table="parcels"):
    sender: Annotated[str, HashKey()]
    number: Annotated[int, RangeKey()]
    ship_to: Address | None = None
    lines: list[Line] = msgspec.field(default_factory=list)
    by_sku: dict[str, Line] = msgspec.field(default_factory=dict)
    note: str = ""


INFO = model_info(Parcel)
LINES = [Line("a", 1), Line("b", 2)]


def refused(call: Any) -> ValidationError:
    with pytest.raises(ValidationError) as raised:
        call()
    return raised.value


@pytest.mark.parametrize(
    ("parcel", "path", "reason"),
    [
        (Parcel(sender="s", number=1, ship_to=Address(city=3)), "Parcel.ship_to.city", "str"),  # type: ignore[arg-type]
        (
            Parcel(sender="s", number=1, lines=[*LINES, Line("c", "x")]),  # type: ignore[arg-type]
            "Parcel.lines[2].qty",
            "int",
        ),
        (Parcel(sender="s", number=1, by_sku={"k": Line(5, 1)}), "Parcel.by_sku['k'].sku", "str"),  # type: ignore[arg-type]
        (Parcel(sender="s", number=1, note=5), "Parcel.note", "str"),  # type: ignore[arg-type]
    ],
)
def test_a_put_names_the_path_down_to_the_bad_value(parcel: Parcel, path: str, reason: str) -> None:
    error = refused(lambda: INFO.encode_checked(parcel))
    assert error.message.startswith(f"{path}: expected a{'n' if reason == 'int' else ''} {reason}")
    assert (error.path, error.model, error.table) == (path, Parcel, "parcels")


@pytest.mark.parametrize(
    ("op", "target", "value", "path"),
    [
        ("set", Parcel.ship_to.city, 3, "Parcel.ship_to.city"),
        ("set", Parcel.lines[2].qty, "x", "Parcel.lines[2].qty"),
        ("set", Parcel.lines, [Line("a", 1), Line("b", "x")], "Parcel.lines[1].qty"),
        ("set", Parcel.by_sku["k"], Line(5, 1), "Parcel.by_sku.k.sku"),
        ("set", Parcel.ship_to, Address(city="c", zip=9), "Parcel.ship_to.zip"),
        ("append", Parcel.lines, [Line("a", "x")], "Parcel.lines[0].qty"),
        ("set_if_not_exists", Parcel.note, 1, "Parcel.note"),
    ],
)
def test_an_update_names_the_path_down_to_the_bad_value(
    op: Any, target: object, value: object, path: str
) -> None:
    error = refused(lambda: make_action(INFO, op, target, value))
    assert error.message.startswith(f"{path}: expected ")
    assert error.message.endswith(")")
    assert f"(in {op}(Parcel." in error.message
    assert (error.path, error.model) == (path, Parcel)


def test_a_key_value_names_its_field() -> None:
    error = refused(lambda: INFO.key_from({"sender": "s", "number": "one"}))
    assert error.message.startswith("Parcel.number: expected int")
    assert (error.path, error.model) == ("Parcel.number", Parcel)


@pytest.mark.parametrize(
    ("condition", "path"),
    [
        (lambda: Parcel.ship_to.city == 3, "Parcel.ship_to.city"),
        (lambda: Parcel.lines[0].qty > "x", "Parcel.lines[0].qty"),
        (lambda: Parcel.number.between(1, "z"), "Parcel.number"),
        (lambda: Parcel.note.is_in(["a", 2]), "Parcel.note"),
        (lambda: Parcel.lines.contains(7), "Parcel.lines"),
    ],
)
def test_a_condition_operand_names_the_path_it_is_compared_with(
    condition: Any, path: str
) -> None:
    built = condition()
    error = refused(lambda: built.encode(Placeholders()))
    assert error.message.startswith(f"{path}: expected ")
    assert (error.path, error.model) == (path, Parcel)


def test_a_size_operand_names_the_size() -> None:
    error = refused(lambda: (Parcel.lines.size() > "two").encode(Placeholders()))
    assert error.message.startswith("size(Parcel.lines): expected ")


# --- shortening ------------------------------------------------------------------------------


def test_shorten_keeps_short_text_and_cuts_long_text_to_the_limit() -> None:
    assert shorten("abc") == "abc"
    assert shorten("x" * SHOWN) == "x" * SHOWN
    cut = shorten("x" * 500)
    assert len(cut) == SHOWN and cut.endswith("...")
    assert short_repr("y" * 100, 10) == "'yyyyyy..."


def test_long_values_and_map_keys_are_shortened_in_write_errors() -> None:
    long_key = "k" * 300
    parcel = Parcel(sender="s", number=1, by_sku={long_key: Line("a", "q" * 500)})  # type: ignore[arg-type]
    error = refused(lambda: INFO.encode_checked(parcel))
    assert long_key not in str(error) and "q" * 100 not in str(error)
    assert str(error).startswith("Parcel.by_sku['kkkk")
    update = refused(lambda: make_action(INFO, "set", Parcel.by_sku[long_key].qty, "q" * 500))
    assert long_key not in str(update) and "q" * 100 not in str(update)
    assert len(str(update)) < 300


def test_long_keys_are_shortened_in_any_errors_context() -> None:
    key = {"sender": "s" * 2000, "number": 1}
    error = ConditionFailed("condition not met", table="parcels", key=key)
    text = str(error)
    assert "s" * 100 not in text
    assert text.startswith("condition not met (table=parcels, key={'sender': 'sssss")
    assert "'number': 1}" in text
    assert error.key == key  # the attribute keeps the whole key


def test_long_values_are_shortened_in_read_side_errors() -> None:
    stored = {"sender": {"S": "s"}, "number": {"N": "1" + "x" * 500}}
    with pytest.raises(ItemDecodeError) as raised:
        Parcel.from_dynamodb(stored)
    text = str(raised.value)
    assert "x" * 100 not in text
    assert "malformed number '1xxx" in text and "key={'sender': 's', 'number': {'N': '1xx" in text
