"""The mypy plugin (``dynamorm_async.mypy``), run in-process on small programs: with it, model
class attributes are typed paths and wrong update values are errors; without it, code written
against value-typed class attributes and ``path()`` still type-checks. ``tests/typing`` holds
the full checks (run by ``make typecheck`` with the plugin of pyproject.toml)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

pytestmark = pytest.mark.timeout(120)

MODELS = """
from datetime import datetime
from decimal import Decimal
from typing import Annotated, assert_type

import msgspec

from dynamorm_async import AttributePath, Condition, HashKey, Model, Session, path


class Address(msgspec.Struct):
    city: str


class Order(Model, table="orders"):
    customer: Annotated[str, HashKey()]
    total: Decimal = Decimal(0)
    placed_at: datetime | None = None
    ship_to: Address | None = None
"""


Check = Callable[..., list[str]]


@pytest.fixture(scope="module")
def caches(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mypy caches shared by this module's runs (a cold run reads the whole library)."""
    return tmp_path_factory.mktemp("mypy-caches")


@pytest.fixture
def check(tmp_path: Path, caches: Path) -> Check:
    return partial(_check, tmp_path, caches)


def _check(tmp_path: Path, caches: Path, body: str, *, plugin: bool) -> list[str]:
    """mypy --strict's error lines for ``MODELS`` + ``body``, with or without the plugin."""
    program = tmp_path / "program.py"
    program.write_text(MODELS + textwrap.dedent(body), encoding="utf-8")
    config = tmp_path / "mypy.ini"
    plugins = "plugins = dynamorm_async.mypy\n" if plugin else ""
    config.write_text(f"[mypy]\nstrict = True\n{plugins}", encoding="utf-8")
    out, err, _ = api.run(
        [
            "--config-file",
            str(config),
            "--cache-dir",
            str(caches / f"plugin-{plugin}"),
            "--no-error-summary",
            "--hide-error-context",
            str(program),
        ]
    )
    assert err == ""
    return [line.split(": ", 1)[1] for line in out.splitlines() if ": " in line]


OPTIONAL_FIELDS = """
def recent(since: datetime) -> Condition:
    condition = (Order.placed_at > since) & (Order.ship_to.city == "Lyon")
    assert_type(Order.ship_to.city, AttributePath[str])
    assert_type(~condition, Condition)
    return condition


def wrong_value(db: Session) -> None:
    db.update(Order, customer="c").set(Order.total, "x")
"""


def test_with_the_plugin_optional_fields_compare_and_a_wrong_value_is_named(check: Check) -> None:
    errors = check(OPTIONAL_FIELDS, plugin=True)
    assert errors == [
        'error: No overload variant of "set" of "_UpdateChain" matches argument types '
        '"AttributePath[Decimal]", "str"  [call-overload]',
        "note: Possible overload variants:",
        "note:     def set(self, path: AttributePath[Decimal], value: Decimal | int) -> "
        "UpdateBuilder[Order]",
    ]


def test_without_the_plugin_class_attributes_are_values(check: Check) -> None:
    errors = check(OPTIONAL_FIELDS, plugin=False)
    # The very problems the plugin removes: comparing an Optional, reaching into an Optional
    # struct, a condition typed as a bool (so ~ gives an int). The wrong value goes unnoticed.
    assert 'error: Unsupported operand types for < ("datetime" and "None")  [operator]' in errors
    assert 'error: Item "None" of "Address | None" has no attribute "city"  [union-attr]' in errors
    assert 'error: Expression is of type "int | Any", not "Condition"  [assert-type]' in errors
    assert not any('"set"' in e for e in errors)


def test_without_the_plugin_path_types_the_attribute_and_values_still_work(check: Check) -> None:
    body = """
    def typed(db: Session, since: datetime) -> None:
        placed = path(Order.placed_at)
        assert_type(placed, AttributePath[datetime | None])
        condition: Condition = (placed > since) & path(Order.ship_to).exists()
        assert_type((Order.total > 1) & path(Order.ship_to).exists(), Condition)
        assert_type((Order.total > 1) | path(Order.ship_to).exists(), Condition)
        db.scan(Order).filter(condition).filter(Order.total > 1)
        db.update(Order, customer="c").set(Order.total, Decimal(1)).set(path(Order.total), 2)
        db.update(Order, customer="c").set(path(Order.total), "x")  # type: ignore[misc]
    """
    assert check(body, plugin=False) == []


def test_with_the_plugin_paths_step_into_structs_lists_tuples_and_maps(check: Check) -> None:
    body = """
    class Line(msgspec.Struct):
        qty: int


    class Cart(Model, table="carts"):
        owner: Annotated[str, HashKey()]
        lines: list[Line] = msgspec.field(default_factory=list)
        by_name: dict[str, Line] = msgspec.field(default_factory=dict)
        pair: tuple[int, str] = (0, "")


    def steps(cart: Cart) -> None:
        assert_type(Cart.lines[0].qty, AttributePath[int])
        assert_type(Cart.lines[0]["qty"], AttributePath[int])
        assert_type(Cart.by_name["x"], AttributePath[Line])
        assert_type(Cart.pair[1], AttributePath[str])
        assert_type(cart.lines, list[Line])
        Cart.lines[0].weight
    """
    assert check(body, plugin=True) == [
        'error: "Line" has no field "weight": a path reaches the fields of a struct; use '
        'path["key"] for map keys and path[0] for list elements  [attr-defined]'
    ]
