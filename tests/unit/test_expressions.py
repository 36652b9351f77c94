"""Condition expressions: exact rendering, placeholders, and value marshalling by field type."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import pytest

import dynamorm_async as dm
from dynamorm_async._errors import ValidationError
from dynamorm_async._expressions.core import (
    And,
    AttributePath,
    Condition,
    Not,
    Or,
    Placeholders,
    as_condition,
    as_path,
    both,
    optional_condition,
    projection_expression,
)
from dynamorm_async._model.model import TTL, HashKey, Model, RangeKey, model_info
from dynamorm_async._read.projection import DictDecoder, check_paths
from dynamorm_async._write.update_expr import make_action, render_update
from tests.shared_types import Address, Color


class ExprOrder(Model, table="orders"):
    """One field of every kind an expression can name, and names that need placeholders."""

    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    status: str = "new"
    total: Decimal = Decimal(0)
    qty: int = 0
    ratio: float = 0.0
    paid: bool = False
    data: bytes = b""
    tags: set[str] = msgspec.field(default_factory=set)
    amounts: set[Decimal] = msgspec.field(default_factory=set)
    blobs: set[bytes] = msgspec.field(default_factory=set)
    lines: list[str] = msgspec.field(default_factory=list)
    scores: list[int] = msgspec.field(default_factory=list)
    gaps: list[int | None] = msgspec.field(default_factory=list)
    meta: dict[str, int] = msgspec.field(default_factory=dict)
    ship_to: Address | None = None
    placed_at: datetime | None = None
    day: date | None = None
    color: Color = Color.RED
    ident: uuid.UUID | None = None
    note: str | None = None
    expires_at: Annotated[datetime | None, TTL()] = None
    dotted: str = msgspec.field(default="", name="a.b")
    dashed: str = msgspec.field(default="", name="with-dash")
    size: int = 0  # a reserved word as an attribute name


def render(condition: Condition) -> tuple[str, dict[str, str], dict[str, Any]]:
    ph = Placeholders()
    text = condition.encode(ph)
    return text, ph.names, ph.values


# --- every operator ----------------------------------------------------------------------

OPERATORS = [
    ("eq", lambda: ExprOrder.status == "paid", "#n0 = :v0"),
    ("ne", lambda: ExprOrder.status != "paid", "#n0 <> :v0"),
    ("lt", lambda: ExprOrder.status < "paid", "#n0 < :v0"),
    ("le", lambda: ExprOrder.status <= "paid", "#n0 <= :v0"),
    ("gt", lambda: ExprOrder.status > "paid", "#n0 > :v0"),
    ("ge", lambda: ExprOrder.status >= "paid", "#n0 >= :v0"),
    ("between", lambda: ExprOrder.status.between("paid", "zzz"), "#n0 BETWEEN :v0 AND :v1"),
    ("in", lambda: ExprOrder.status.is_in(["paid", "zzz"]), "#n0 IN (:v0, :v1)"),
    ("exists", lambda: ExprOrder.status.exists(), "attribute_exists(#n0)"),
    ("not_exists", lambda: ExprOrder.status.not_exists(), "attribute_not_exists(#n0)"),
    ("begins_with", lambda: ExprOrder.status.begins_with("paid"), "begins_with(#n0, :v0)"),
    ("contains", lambda: ExprOrder.status.contains("paid"), "contains(#n0, :v0)"),
    ("is_type", lambda: ExprOrder.status.is_type("S"), "attribute_type(#n0, :v0)"),
    ("size", lambda: ExprOrder.status.size() > 3, "size(#n0) > :v0"),
    (
        "size_between",
        lambda: ExprOrder.status.size().between(1, 2),
        "size(#n0) BETWEEN :v0 AND :v1",
    ),
    ("size_in", lambda: ExprOrder.status.size().is_in([1, 2]), "size(#n0) IN (:v0, :v1)"),
    ("not", lambda: ~(ExprOrder.status == "paid"), "NOT (#n0 = :v0)"),
]


@pytest.mark.parametrize(
    ("build", "expected"), [o[1:] for o in OPERATORS], ids=[o[0] for o in OPERATORS]
)
def test_each_operator_renders_exactly(build: Any, expected: str) -> None:
    text, names, _ = render(build())
    assert text == expected
    assert names == {"#n0": "status"}


def test_operator_values() -> None:
    assert render(ExprOrder.status == "paid")[2] == {":v0": {"S": "paid"}}
    assert render(ExprOrder.status.between("a", "b"))[2] == {":v0": {"S": "a"}, ":v1": {"S": "b"}}
    assert render(ExprOrder.status.is_type("NS"))[2] == {":v0": {"S": "NS"}}
    assert render(ExprOrder.status.size() > 3)[2] == {":v0": {"N": "3"}}
    assert render(ExprOrder.status.size() <= 3)[0] == "size(#n0) <= :v0"


def test_and_or_not_combine_with_parentheses() -> None:
    condition = ((ExprOrder.qty == 1) & (ExprOrder.status == "a")) | ~(ExprOrder.qty > 2)
    text, names, values = render(condition)
    assert text == "((#n0 = :v0) AND (#n1 = :v1)) OR (NOT (#n0 > :v2))"
    assert names == {"#n0": "qty", "#n1": "status"}
    assert values == {":v0": {"N": "1"}, ":v1": {"S": "a"}, ":v2": {"N": "2"}}


def test_chains_flatten_and_double_negation_cancels() -> None:
    chain = (ExprOrder.qty == 1) & (ExprOrder.qty == 2) & (ExprOrder.qty == 3)
    assert isinstance(chain, And)
    assert len(chain.parts) == 3
    assert render(chain)[0] == "(#n0 = :v0) AND (#n0 = :v1) AND (#n0 = :v2)"
    either = (ExprOrder.qty == 1) | (ExprOrder.qty == 2) | (ExprOrder.qty == 3)
    assert isinstance(either, Or)
    assert len(either.parts) == 3
    negated = ~(ExprOrder.qty == 1)
    assert isinstance(negated, Not)
    assert render(~negated)[0] == "#n0 = :v0"


def test_both_treats_a_missing_condition_as_none() -> None:
    first, second = ExprOrder.qty == 1, ExprOrder.status == "a"
    assert both(None, None) is None
    assert both(first, None) is first
    assert both(None, second) is second
    combined = both(first, second)
    assert combined is not None
    assert render(combined)[0] == "(#n0 = :v0) AND (#n1 = :v1)"


def test_optional_condition_passes_none_and_checks_the_rest() -> None:
    condition = ExprOrder.qty == 1
    assert optional_condition(None) is None
    assert optional_condition(condition) is condition
    with pytest.raises(ValidationError, match="expected a condition"):
        optional_condition(True)


def test_path_compared_with_path() -> None:
    text, names, values = render(ExprOrder.qty < ExprOrder.total)
    assert text == "#n0 < #n1"
    assert names == {"#n0": "qty", "#n1": "total"}
    assert values == {}
    assert render(ExprOrder.lines.size() > ExprOrder.qty)[0] == "size(#n0) > #n1"
    assert render(ExprOrder.qty.between(ExprOrder.total, 10))[0] == "#n0 BETWEEN #n1 AND :v0"


# --- paths and names ----------------------------------------------------------------------


def test_nested_paths_and_list_indexes() -> None:
    assert render(ExprOrder.ship_to.city == "Rome")[:2] == (
        "#n0.#n1 = :v0",
        {"#n0": "ship_to", "#n1": "city"},
    )
    assert render(ExprOrder.lines[0] == "x")[:2] == ("#n0[0] = :v0", {"#n0": "lines"})
    assert render(ExprOrder.meta["k"] > 1)[:2] == ("#n0.#n1 > :v0", {"#n0": "meta", "#n1": "k"})
    assert render(ExprOrder.scores[2] >= 5)[0] == "#n0[2] >= :v0"
    assert render(ExprOrder.ship_to.zip.not_exists())[0] == "attribute_not_exists(#n0.#n1)"


def test_reserved_words_dots_and_dashes_go_through_name_placeholders() -> None:
    condition = (ExprOrder.size == 1) & (ExprOrder.dotted == "x") & (ExprOrder.dashed == "y")
    text, names, _ = render(condition)
    assert text == "(#n0 = :v0) AND (#n1 = :v1) AND (#n2 = :v2)"
    assert names == {"#n0": "size", "#n1": "a.b", "#n2": "with-dash"}
    # A map key with dots is one path element, not a nested path.
    assert render(ExprOrder.meta["x.y-z"] == 1)[1] == {"#n0": "meta", "#n1": "x.y-z"}


def test_equal_values_and_names_share_placeholders() -> None:
    condition = (ExprOrder.qty == 1) | (ExprOrder.scores[0] == 1) | (ExprOrder.qty == 2)
    text, names, values = render(condition)
    assert text == "(#n0 = :v0) OR (#n1[0] = :v0) OR (#n0 = :v1)"
    assert names == {"#n0": "qty", "#n1": "scores"}
    assert values == {":v0": {"N": "1"}, ":v1": {"N": "2"}}
    # Equal text of different types stays distinct.
    text, _, values = render((ExprOrder.status == "1") & (ExprOrder.qty == 1))
    assert values == {":v0": {"S": "1"}, ":v1": {"N": "1"}}


def test_placeholders_shared_across_expressions_of_one_request() -> None:
    ph = Placeholders()
    key = (ExprOrder.customer == "c").encode(ph)
    filt = (ExprOrder.status == "c").encode(ph)
    assert (key, filt) == ("#n0 = :v0", "#n1 = :v0")
    request = ph.apply({"TableName": "t"})
    assert request == {
        "TableName": "t",
        "ExpressionAttributeNames": {"#n0": "customer", "#n1": "status"},
        "ExpressionAttributeValues": {":v0": {"S": "c"}},
    }
    assert Placeholders().apply({}) == {}


def test_projection_expression() -> None:
    ph = Placeholders()
    text = projection_expression([ExprOrder.status, ExprOrder.ship_to.city, ExprOrder.lines[1]], ph)
    assert text == "#n0, #n1.#n2, #n3[1]"
    assert ph.names == {"#n0": "status", "#n1": "ship_to", "#n2": "city", "#n3": "lines"}


# --- values are marshalled with the field's type -----------------------------------------

PLUS_FIVE = timezone(timedelta(hours=5))

VALUES = [
    ("decimal field, int value", lambda: ExprOrder.total == 5, {"N": "5"}),
    ("decimal field, float value", lambda: ExprOrder.total > 0.5, {"N": "0.5"}),
    ("decimal field, decimal", lambda: ExprOrder.total < Decimal("1E+100"), {"N": "1E+100"}),
    ("float field", lambda: ExprOrder.ratio == 2.5e-7, {"N": "2.5E-7"}),
    ("int field, big", lambda: ExprOrder.qty == 2**70, {"N": str(2**70)}),
    ("bool field", lambda: ExprOrder.paid == True, {"BOOL": True}),  # noqa: E712
    ("bytes field", lambda: ExprOrder.data == b"\x01\x02", {"B": "AQI="}),
    ("bytes begins_with", lambda: ExprOrder.data.begins_with(b"\xff"), {"B": "/w=="}),
    ("set[str] contains", lambda: ExprOrder.tags.contains("gift"), {"S": "gift"}),
    ("set[Decimal] contains", lambda: ExprOrder.amounts.contains(1.5), {"N": "1.5"}),
    ("set[bytes] contains", lambda: ExprOrder.blobs.contains(b"\x00"), {"B": "AA=="}),
    ("list[int] contains", lambda: ExprOrder.scores.contains(3), {"N": "3"}),
    ("str contains", lambda: ExprOrder.status.contains("ai"), {"S": "ai"}),
    ("list element", lambda: ExprOrder.scores[0] == 7, {"N": "7"}),
    ("map value", lambda: ExprOrder.meta["k"] == 7, {"N": "7"}),
    (
        "datetime utc",
        lambda: ExprOrder.placed_at >= datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        {"S": "2025-01-02T03:04:05.000000Z"},
    ),
    (
        "datetime offset",
        lambda: ExprOrder.placed_at < datetime(2025, 1, 2, 3, 0, tzinfo=PLUS_FIVE),
        {"S": "2025-01-01T22:00:00.000000Z"},
    ),
    ("date", lambda: ExprOrder.day == date(2025, 1, 2), {"S": "2025-01-02"}),
    ("enum", lambda: ExprOrder.color == Color.BLUE, {"S": "blue"}),
    (
        "uuid",
        lambda: ExprOrder.ident == uuid.UUID(int=1),
        {"S": "00000000-0000-0000-0000-000000000001"},
    ),
    ("list element none", lambda: ExprOrder.gaps[0] == None, {"NULL": True}),  # noqa: E711
    ("nested struct", lambda: ExprOrder.ship_to == Address(city="x"), {"M": {"city": {"S": "x"}}}),
    ("nested field", lambda: ExprOrder.ship_to.city == "x", {"S": "x"}),
    (
        "ttl datetime as epoch seconds",
        lambda: ExprOrder.expires_at < datetime(2030, 1, 1, tzinfo=UTC),
        {"N": str(int(datetime(2030, 1, 1, tzinfo=UTC).timestamp()))},
    ),
    ("whole set", lambda: ExprOrder.tags == {"b", "a"}, {"SS": ["a", "b"]}),
    ("whole list", lambda: ExprOrder.lines == ["a"], {"L": [{"S": "a"}]}),
]


@pytest.mark.parametrize(("build", "expected"), [v[1:] for v in VALUES], ids=[v[0] for v in VALUES])
def test_values_are_marshalled_with_the_field_type(build: Any, expected: dict[str, Any]) -> None:
    _, _, values = render(build())
    assert values == {":v0": expected}


def test_is_in_marshals_every_option() -> None:
    _, _, values = render(ExprOrder.total.is_in([1, Decimal("2.5"), 1]))
    assert values == {":v0": {"N": "1"}, ":v1": {"N": "2.5"}}


# --- misuse -------------------------------------------------------------------------------


def test_a_condition_has_no_truth_value() -> None:
    condition = ExprOrder.qty == 1
    with pytest.raises(ValidationError, match=re.escape("& | ~")):
        bool(condition)
    with pytest.raises(ValidationError):
        _ = (ExprOrder.qty == 1) and (ExprOrder.status == "x")
    with pytest.raises(ValidationError):
        _ = not (ExprOrder.qty == 1)  # noqa: SIM201
    with pytest.raises(ValidationError):
        if ExprOrder.qty > 1:
            pass


@pytest.mark.parametrize("count", [0, 101, 150])
def test_is_in_takes_1_to_100_values(count: int) -> None:
    with pytest.raises(ValidationError, match="1 to 100"):
        ExprOrder.qty.is_in(range(count))


def test_is_in_with_100_values_is_fine() -> None:
    text, _, values = render(ExprOrder.qty.is_in(range(100)))
    assert text.count(":v") == 100
    assert len(values) == 100


def test_as_condition_and_as_path_reject_plain_values() -> None:
    condition = ExprOrder.qty == 1
    assert as_condition(condition) is condition
    assert as_path(ExprOrder.qty) is ExprOrder.qty
    for value in (True, None, "status = 'x'", 1):
        with pytest.raises(ValidationError, match="expected a condition"):
            as_condition(value)
    order = ExprOrder(customer="c", order_id="o")
    for value in ("status", order.qty, condition):
        with pytest.raises(ValidationError, match="expected an attribute path"):
            as_path(value)
    with pytest.raises(ValidationError):
        _ = condition & True
    with pytest.raises(ValidationError):
        _ = condition | "x"  # type: ignore[operator]


def test_instance_values_compare_as_plain_python() -> None:
    order = ExprOrder(customer="c", order_id="o", qty=3)
    assert (order.qty == 3) is True
    with pytest.raises(ValidationError, match="expected a condition"):
        as_condition(order.qty == 3)


def test_conditions_cannot_be_values() -> None:
    with pytest.raises(ValidationError, match="cannot be compared"):
        _ = ExprOrder.qty == (ExprOrder.qty == 1)


def test_invalid_values_fail_when_encoded() -> None:
    for condition in (
        ExprOrder.total == float("nan"),
        ExprOrder.qty == "many",
        ExprOrder.qty == 10**40 + 1,
        ExprOrder.placed_at > datetime(2025, 1, 1),
        ExprOrder.tags == set(),
        ExprOrder.paid == "yes",
    ):
        with pytest.raises(ValidationError):
            render(condition)


def test_comparing_a_top_level_field_with_none_points_to_not_exists() -> None:
    # None fields are left out of items, so ``== None`` could never match.
    with pytest.raises(ValidationError, match="not_exists"):
        render(ExprOrder.note == None)  # noqa: E711
    assert render(ExprOrder.note.not_exists())[0] == "attribute_not_exists(#n0)"


def test_is_type_takes_dynamodb_type_names() -> None:
    for name in ("S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"):
        assert render(ExprOrder.status.is_type(name))[2] == {":v0": {"S": name}}
    with pytest.raises(ValidationError, match="is_type"):
        ExprOrder.status.is_type("STRING")


def test_paths_are_immutable_values() -> None:
    path = ExprOrder.ship_to.city
    with pytest.raises(AttributeError):
        path._elements = ("x",)  # type: ignore[misc]
    assert path._same_as(AttributePath(("ship_to", "city")))
    assert hash(path) == hash(AttributePath(("ship_to", "city")))
    assert path._overlaps(ExprOrder.ship_to)
    assert not path._overlaps(ExprOrder.ship_to.zip)
    assert path._attribute == "ship_to"
    assert not path._is_top_level
    assert ExprOrder.qty._is_top_level
    assert repr(path) == "AttributePath('ship_to.city')"


def test_condition_paths_lists_every_path_read() -> None:
    condition = (
        (ExprOrder.qty > ExprOrder.total) & ExprOrder.lines.size().between(1, 2)
    ) | ~ExprOrder.note.exists()
    assert [p._dotted for p in condition.paths()] == ["qty", "total", "lines", "note"]


# --- struct fields win over the path's own attributes -------------------------------------

# Every public name a path has (methods and properties), plus the names of its internals.
PATH_NAMES = sorted(
    {n for n in dir(AttributePath) if not n.startswith("_")}
    | {"name", "dotted", "model", "elements", "annotation", "field_name", "is_top_level"}
    | {"same_as", "overlaps", "size", "contains", "exists", "not_exists", "begins_with"}
    | {"is_type", "between", "is_in", "attribute_type", "encode", "paths", "value"}
)
Shadow = msgspec.defstruct("Shadow", [(n, int, 0) for n in PATH_NAMES])


class Product(msgspec.Struct):
    name: str
    size: int = 0
    contains: list[str] = msgspec.field(default_factory=list)
    label: str = msgspec.field(default="", name="m.a.p")
    _secret: str = ""
    _elements: int = 0


class Holder(msgspec.Struct):
    product: Product | None = None


class Priced(msgspec.Struct, rename="camel"):
    unit_price: int = 0


class Link(msgspec.Struct):
    value: int = 0
    child: Link | None = None


class Shop(Model, table="shop"):
    pk: Annotated[str, HashKey()]
    shadow: Shadow | None = None
    product: Product | None = None
    holder: Holder | None = None
    products: list[Product] = msgspec.field(default_factory=list)
    by_sku: dict[str, Product] = msgspec.field(default_factory=dict)
    priced: Priced = msgspec.field(default_factory=Priced, name="pr")
    root: Link | None = None


@pytest.mark.parametrize("name", PATH_NAMES)
def test_a_nested_field_wins_over_every_path_attribute(name: str) -> None:
    field_path = getattr(Shop.shadow, name)
    assert isinstance(field_path, AttributePath)
    assert field_path._elements == ("shadow", name)
    text, names, values = render(field_path == 1)
    assert text == "#n0.#n1 = :v0"
    assert names == {"#n0": "shadow", "#n1": name}
    assert values == {":v0": {"N": "1"}}


def test_common_field_names_are_paths_with_their_own_type() -> None:
    assert Shop.product.name._elements == ("product", "name")
    assert render(Shop.product.name == "x")[2] == {":v0": {"S": "x"}}
    assert render(Shop.product.size > 2)[:2] == ("#n0.#n1 > :v0", {"#n0": "product", "#n1": "size"})
    assert render(Shop.product.contains[0] == "c")[0] == "#n0.#n1[0] = :v0"
    # Fields of list elements and map values win too.
    assert Shop.products[2].size._elements == ("products", 2, "size")
    assert Shop.by_sku["a"].name._elements == ("by_sku", "a", "name")


def test_paths_to_scalars_keep_their_methods() -> None:
    # The path methods stay where no field shadows them, on nested paths as well.
    assert render(Shop.product.name.size() > 1)[0] == "size(#n0.#n1) > :v0"
    assert render(Shop.product.name.begins_with("a"))[0] == "begins_with(#n0.#n1, :v0)"
    assert render(Shop.product.exists())[0] == "attribute_exists(#n0)"


FREE_FUNCTIONS = [
    ("size", "size", lambda p: dm.size(p) > 2, "size(#n0.#n1) > :v0"),
    (
        "size between",
        "size",
        lambda p: dm.between(dm.size(p), 1, 2),
        "size(#n0.#n1) BETWEEN :v0 AND :v1",
    ),
    ("size is_in", "size", lambda p: dm.is_in(dm.size(p), [1, 2]), "size(#n0.#n1) IN (:v0, :v1)"),
    ("exists", "exists", dm.exists, "attribute_exists(#n0.#n1)"),
    ("not_exists", "not_exists", dm.not_exists, "attribute_not_exists(#n0.#n1)"),
    ("begins_with", "begins_with", lambda p: dm.begins_with(p, "x"), "begins_with(#n0.#n1, :v0)"),
    ("contains", "contains", lambda p: dm.contains(p, 1), "contains(#n0.#n1, :v0)"),
    (
        "attribute_type",
        "is_type",
        lambda p: dm.attribute_type(p, "N"),
        "attribute_type(#n0.#n1, :v0)",
    ),
    ("between", "between", lambda p: dm.between(p, 1, 2), "#n0.#n1 BETWEEN :v0 AND :v1"),
    ("is_in", "is_in", lambda p: dm.is_in(p, [1, 2]), "#n0.#n1 IN (:v0, :v1)"),
]


@pytest.mark.parametrize(
    ("name", "build", "expected"),
    [f[1:] for f in FREE_FUNCTIONS],
    ids=[f[0] for f in FREE_FUNCTIONS],
)
def test_free_functions_reach_shadowed_path_functions(name: str, build: Any, expected: str) -> None:
    # ``Shop.shadow.<name>`` is a field named like the path method; the free function still
    # applies that path function to it.
    shadowed = getattr(Shop.shadow, name)
    assert isinstance(shadowed, AttributePath)
    text, names, _ = render(build(shadowed))
    assert text == expected
    assert names == {"#n0": "shadow", "#n1": name}


def test_free_functions_match_the_methods() -> None:
    assert render(dm.contains(ExprOrder.tags, "gift")) == render(ExprOrder.tags.contains("gift"))
    assert render(dm.contains(Shop.product.contains, "c"))[2] == {":v0": {"S": "c"}}
    assert render(dm.begins_with(ExprOrder.data, b"\xff")) == render(
        ExprOrder.data.begins_with(b"\xff")
    )
    assert render(dm.size(ExprOrder.lines) >= 1) == render(ExprOrder.lines.size() >= 1)
    assert render(dm.is_in(ExprOrder.total, [1, 2])) == render(ExprOrder.total.is_in([1, 2]))
    with pytest.raises(ValidationError, match="is_type"):
        dm.attribute_type(ExprOrder.status, "STRING")
    with pytest.raises(ValidationError, match="1 to 100"):
        dm.is_in(ExprOrder.qty, [])
    for function in (dm.size, dm.exists, dm.not_exists):
        with pytest.raises(ValidationError, match="expected an attribute path"):
            function("status")
    with pytest.raises(ValidationError, match="expected an attribute path"):
        dm.between(3, 1, 2)


def test_private_names_stay_internal_and_underscored_fields_are_reachable() -> None:
    assert Shop.product._secret._elements == ("product", "_secret")
    assert Shop.product["_secret"]._elements == ("product", "_secret")
    # Internals win over underscored fields of the same name, which indexing still reaches.
    assert Shop.product._elements == ("product",)
    assert Shop.product["_elements"]._elements == ("product", "_elements")
    # One path class per struct, shared by every path that reaches it.
    assert type(Shop.product) is type(Shop.holder.product) is type(Shop.products[0])
    assert type(Shop.product.name) is AttributePath


def test_paths_through_optional_structs() -> None:
    text, names, values = render(Shop.holder.product.name == "x")
    assert text == "#n0.#n1.#n2 = :v0"
    assert names == {"#n0": "holder", "#n1": "product", "#n2": "name"}
    assert values == {":v0": {"S": "x"}}
    assert render(Shop.root.child.child.value > 1)[0] == "#n0.#n1.#n1.#n2 > :v0"
    assert render(dm.exists(Shop.holder.product.size))[0] == "attribute_exists(#n0.#n1.#n2)"


def test_renamed_nested_fields_render_their_stored_name_through_placeholders() -> None:
    label = Shop.holder.product.label
    assert label._elements == ("holder", "product", "m.a.p")
    assert repr(label) == "AttributePath('holder.product.label')"
    text, names, _ = render(label == "v")
    assert text == "#n0.#n1.#n2 = :v0"
    assert names == {"#n0": "holder", "#n1": "product", "#n2": "m.a.p"}
    # ``rename=`` on the struct and a renamed top-level field.
    assert Shop.priced.unit_price._elements == ("pr", "unitPrice")
    assert Shop.priced.unit_price._dotted == "priced.unit_price"
    ph = Placeholders()
    assert projection_expression([label, Shop.priced.unit_price], ph) == "#n0.#n1.#n2, #n3.#n4"
    assert ph.names == {
        "#n0": "holder",
        "#n1": "product",
        "#n2": "m.a.p",
        "#n3": "pr",
        "#n4": "unitPrice",
    }


def test_projected_results_are_keyed_by_field_names() -> None:
    paths = [Shop.holder.product.label, Shop.priced.unit_price, Shop.product.size]
    decode = DictDecoder(model_info(Shop), check_paths(model_info(Shop), paths))
    item = {
        "holder": {"M": {"product": {"M": {"m.a.p": {"S": "hi"}, "name": {"S": "n"}}}}},
        "pr": {"M": {"unitPrice": {"N": "7"}}},
        "product": {"M": {"size": {"N": "3"}, "name": {"S": "p"}}},
    }
    assert decode(item) == {
        "holder.product.label": "hi",
        "priced.unit_price": 7,
        "product.size": 3,
    }


def test_update_actions_on_shadowing_optional_and_renamed_fields() -> None:
    info = model_info(Shop)
    actions = (
        make_action(info, "set", Shop.holder.product.label, "new"),
        make_action(info, "increment", Shop.product.size, 2),
        make_action(info, "append", Shop.product.contains, ["c"]),
        make_action(info, "set", Shop.priced.unit_price, 5),
    )
    ph = Placeholders()
    text = render_update(actions, ph)
    assert text == (
        "SET #n0.#n1.#n2 = :v0, #n1.#n3 = if_not_exists(#n1.#n3, :v1) + :v2, "
        "#n1.#n4 = list_append(if_not_exists(#n1.#n4, :v3), :v4), #n5.#n6 = :v5"
    )
    assert ph.names == {
        "#n0": "holder",
        "#n1": "product",
        "#n2": "m.a.p",
        "#n3": "size",
        "#n4": "contains",
        "#n5": "pr",
        "#n6": "unitPrice",
    }
    assert ph.values[":v0"] == {"S": "new"}
    with pytest.raises(ValidationError, match=r"Shop\.product\.size"):
        make_action(info, "set", Shop.product.size, "many")
