"""Model definitions: validation at class creation, attribute paths, renames, inheritance."""

from __future__ import annotations

import types
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import pytest

from dynamorm_async._errors import ModelError, ValidationError
from dynamorm_async._expressions.core import AttributePath, Placeholders
from dynamorm_async._model.model import (
    TTL,
    CreatedAt,
    GlobalIndex,
    HashKey,
    LocalIndex,
    Model,
    RangeKey,
    UpdatedAt,
    Version,
    model_info,
)
from dynamorm_async._session import Session
from dynamorm_async._wire.taggers import TypeKind


class NamedAddress(msgspec.Struct):
    city: str
    zip: str | None = None
    postcode: str | None = msgspec.field(default=None, name="pc")
    name: str | None = None


class ModelOrder(Model, table="orders"):
    """Renamed attributes, a tuple and a map, two indexes and every managed field."""

    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    status: str = "new"
    total: Decimal = Decimal(0)
    qty: int = 0
    lines: list[str] = msgspec.field(default_factory=list)
    meta: dict[str, int] = msgspec.field(default_factory=dict)
    pair: tuple[int, str] | None = None
    ship_to: NamedAddress | None = None
    note: str | None = msgspec.field(default=None, name="n")
    version: Annotated[int, Version()] = 0
    expires_at: Annotated[datetime | None, TTL()] = None
    created_at: Annotated[datetime | None, CreatedAt()] = None
    updated_at: Annotated[datetime | None, UpdatedAt()] = None

    __indexes__ = (
        GlobalIndex("by_status", hash_key="status", range_key="total"),
        LocalIndex("by_qty", range_key="qty"),
    )


def define(name: str, fields: dict[str, Any], table: str | None = "things", **ns: Any) -> type:
    """Create a Model subclass from annotations (and class attributes) at run time."""

    def body(namespace: dict[str, Any]) -> None:
        namespace["__annotations__"] = dict(fields)
        namespace.update(ns)

    kwds = {"table": table} if table is not None else {}
    return types.new_class(name, (Model,), kwds, body)


KEY = Annotated[str, HashKey()]


def assert_model_error(name: str, fields: dict[str, Any], *mentions: str, **ns: Any) -> None:
    with pytest.raises(ModelError) as caught:
        define(name, fields, **ns)
    message = str(caught.value)
    assert name in message
    for mention in mentions:
        assert mention in message, message


# --- validation at class creation -------------------------------------------------------


def test_table_model_without_hash_key() -> None:
    assert_model_error("NoHash", {"a": str}, "hash key", "HashKey()")


def test_two_hash_keys() -> None:
    assert_model_error("TwoHash", {"a": KEY, "b": KEY}, "TwoHash.b", "'a'", "HashKey")


def test_two_range_keys() -> None:
    rk = Annotated[str, RangeKey()]
    assert_model_error("TwoRange", {"a": KEY, "b": rk, "c": rk}, "TwoRange.c", "RangeKey")


@pytest.mark.parametrize("bad", [list[str], dict[str, str], bool, set[str], frozenset[int]])
def test_hash_key_of_a_type_dynamodb_cannot_key_on(bad: Any) -> None:
    assert_model_error("BadKey", {"k": Annotated[bad, HashKey()]}, "BadKey.k", "hash key")


@pytest.mark.parametrize("bad", [list[int], bool, dict[str, int]])
def test_range_key_of_a_type_dynamodb_cannot_key_on(bad: Any) -> None:
    fields = {"k": KEY, "r": Annotated[bad, RangeKey()]}
    assert_model_error("BadRange", fields, "BadRange.r", "range key")


@pytest.mark.parametrize("good", [str, int, float, Decimal, bytes, datetime])
def test_scalar_keys_are_accepted(good: Any) -> None:
    cls = define("GoodKey", {"k": Annotated[good, HashKey()], "r": Annotated[good, RangeKey()]})
    info = model_info(cls)
    assert info.key_attributes == ("k", "r")
    assert info.fields["k"].kind in (TypeKind.STRING, TypeKind.NUMBER, TypeKind.BINARY)


def test_index_on_an_unknown_field() -> None:
    indexes = (GlobalIndex("by_nope", hash_key="nope"),)
    assert_model_error(
        "UnknownIdx",
        {"k": KEY},
        "UnknownIdx.__indexes__",
        "by_nope",
        "'nope'",
        __indexes__=indexes,
    )
    indexes = (GlobalIndex("by_a", hash_key="k", range_key="missing"),)
    assert_model_error("UnknownRange", {"k": KEY}, "'missing'", __indexes__=indexes)


def test_index_key_of_an_unkeyable_type() -> None:
    indexes = (GlobalIndex("by_tags", hash_key="tags"),)
    fields = {"k": KEY, "tags": list[str]}
    assert_model_error("ListIdx", fields, "ListIdx.tags", "by_tags", __indexes__=indexes)


def test_local_index_needs_a_table_range_key() -> None:
    indexes = (LocalIndex("by_qty", range_key="qty"),)
    assert_model_error(
        "NoRangeLsi", {"k": KEY, "qty": int}, "by_qty", "range key", __indexes__=indexes
    )


def test_local_index_on_an_abstract_model_without_hash_key() -> None:
    indexes = (LocalIndex("by_qty", range_key="qty"),)
    fields = {"r": Annotated[str, RangeKey()], "qty": int}
    with pytest.raises(ModelError, match="by_qty"):
        define("AbstractLsi", fields, table=None, __indexes__=indexes)


def test_duplicate_index_names() -> None:
    indexes = (
        GlobalIndex("twice", hash_key="a"),
        GlobalIndex("twice", hash_key="b"),
    )
    fields = {"k": KEY, "a": str, "b": str}
    assert_model_error("DupIdx", fields, "DupIdx.__indexes__", "'twice'", __indexes__=indexes)


def test_index_projection_must_name_fields() -> None:
    fields = {"k": KEY, "a": str}
    indexes = (GlobalIndex("by_a", hash_key="a", projection=["ghost"]),)
    assert_model_error("BadProj", fields, "ghost", __indexes__=indexes)
    indexes = (GlobalIndex("by_a", hash_key="a", projection="SOME"),)
    assert_model_error("BadProjKind", fields, "SOME", __indexes__=indexes)
    assert_model_error("NotIdx", fields, "__indexes__", __indexes__=("by_a",))


class NotStorable:
    """Not a type the library can store."""


class ComplexValue(msgspec.Struct):
    value: complex


class ArrayRow(msgspec.Struct, array_like=True):
    a: int


@pytest.mark.parametrize(
    ("bad", "mention"),
    [
        (complex, "complex"),
        (object, "object"),
        (NotStorable, "NotStorable"),
        (list[NotStorable], "NotStorable"),
        (dict[int, str], "map keys must be str"),
        (str | list[str], "union"),
        (ComplexValue, "ComplexValue.value"),
        (list[ComplexValue] | None, "ComplexValue.value"),
        (ArrayRow, "array_like"),
    ],
)
def test_unsupported_field_types(bad: Any, mention: str) -> None:
    assert_model_error("Unsupported", {"k": KEY, "field": bad}, "Unsupported.field", mention)


@pytest.mark.parametrize(
    "bad", [set[bool], set[list[int]], set[ComplexValue], frozenset[dict[str, int]]]
)
def test_sets_of_unsupported_elements(bad: Any) -> None:
    assert_model_error("BadSet", {"k": KEY, "s": bad}, "BadSet.s", "sets hold only")


def test_union_of_structs_msgspec_cannot_tell_apart() -> None:
    class A(msgspec.Struct, tag=True):
        x: int

    class B(msgspec.Struct, tag=True, tag_field="kind"):
        y: int

    with pytest.raises(ModelError, match="tag_field"):
        define("Tagged", {"k": KEY, "u": A | B})


@pytest.mark.parametrize(
    ("marker", "annotation", "mention"),
    [
        (TTL(), str, "TTL()"),
        (TTL(), bool, "TTL()"),
        (Version(), str, "Version()"),
        (Version(), Decimal, "Version()"),
        (CreatedAt(), int, "CreatedAt()"),
        (UpdatedAt(), str, "UpdatedAt()"),
    ],
)
def test_special_fields_need_the_right_type(marker: Any, annotation: Any, mention: str) -> None:
    fields = {"k": KEY, "special": Annotated[annotation, marker]}
    assert_model_error("Special", fields, "Special.special", mention)


def test_only_one_of_each_special_field() -> None:
    fields = {"k": KEY, "v1": Annotated[int, Version()], "v2": Annotated[int, Version()]}
    assert_model_error("TwoVersions", fields, "TwoVersions.v2", "Version()")


def test_table_name_length() -> None:
    with pytest.raises(ModelError, match="3 to 255"):
        define("Short", {"k": KEY}, table="ab")


def test_model_info_of_something_else() -> None:
    with pytest.raises(ModelError, match="not a Model"):
        model_info(NamedAddress)
    with pytest.raises(ModelError):
        model_info(ModelOrder(customer="c", order_id="o"))  # type: ignore[arg-type]


def test_model_info_records_keys_indexes_and_special_fields() -> None:
    info = model_info(ModelOrder)
    assert info.table == "orders"
    assert (info.hash_key, info.range_key) == ("customer", "order_id")
    assert info.key_attributes == ("customer", "order_id")
    assert (info.version, info.ttl, info.created_at, info.updated_at) == (
        "version",
        "expires_at",
        "created_at",
        "updated_at",
    )
    assert set(info.indexes) == {"by_status", "by_qty"}
    assert info.indexes["by_status"].is_global
    assert info.indexes["by_qty"].hash_key == "customer"
    assert not info.indexes["by_qty"].is_global
    # TTL datetimes are numbers on the wire.
    assert info.fields["expires_at"].kind is TypeKind.NUMBER
    assert info.epoch_attributes == frozenset({"expires_at"})


# --- class attributes are paths, instances are structs ---------------------------------


def test_class_attributes_are_paths() -> None:
    assert isinstance(ModelOrder.total, AttributePath)
    assert ModelOrder.total._elements == ("total",)
    assert ModelOrder.ship_to.city._elements == ("ship_to", "city")
    assert ModelOrder.lines[0]._elements == ("lines", 0)
    assert ModelOrder.meta["k"]._elements == ("meta", "k")
    assert ModelOrder.pair[1]._elements == ("pair", 1)
    assert ModelOrder.total._annotation is Decimal
    assert ModelOrder.lines[0]._annotation is str
    assert ModelOrder.meta["k"]._annotation is int
    assert ModelOrder.pair[1]._annotation is str
    assert ModelOrder.ship_to.city._dotted == "ship_to.city"
    assert ModelOrder.lines[3]._dotted == "lines[3]"
    assert ModelOrder.total._names == ("total",)
    assert ModelOrder.total._model is ModelOrder


def test_nested_fields_that_share_a_name_with_path_methods() -> None:
    # A struct field wins over the path's own attributes; indexing reaches it too.
    assert ModelOrder.ship_to.name._elements == ("ship_to", "name")
    assert ModelOrder.ship_to["name"]._elements == ("ship_to", "name")
    assert ModelOrder.ship_to["city"]._elements == ("ship_to", "city")
    with pytest.raises(AttributeError, match="no field 'nope'"):
        _ = ModelOrder.ship_to.nope
    with pytest.raises(AttributeError, match="not a struct"):
        _ = ModelOrder.total.nope
    with pytest.raises(ValidationError):
        _ = ModelOrder.lines[-1]


def test_instances_behave_as_plain_structs() -> None:
    order = ModelOrder(customer="c1", order_id="o1", total=Decimal("9.5"), lines=["a"])
    assert order.total == Decimal("9.5")
    assert order.lines == ["a"]
    assert isinstance(order, msgspec.Struct)
    assert order == ModelOrder(customer="c1", order_id="o1", total=Decimal("9.5"), lines=["a"])
    order.status = "paid"
    assert msgspec.structs.replace(order, qty=3).qty == 3
    assert msgspec.json.decode(msgspec.json.encode(order), type=ModelOrder) == order
    with pytest.raises(TypeError):
        ModelOrder("c1", "o1")


def test_private_and_dunder_class_attributes_are_untouched() -> None:
    assert ModelOrder.__struct_fields__[0] == "customer"
    assert isinstance(ModelOrder.__indexes__, tuple)
    assert ModelOrder.from_dynamodb is not None


# --- renamed attributes -----------------------------------------------------------------


def test_renamed_attributes_use_the_wire_name_in_paths_and_items() -> None:
    assert ModelOrder.note._elements == ("n",)
    assert ModelOrder.note._names == ("note",)
    assert ModelOrder.ship_to.postcode._elements == ("ship_to", "pc")
    assert ModelOrder.ship_to.postcode._dotted == "ship_to.postcode"
    ph = Placeholders()
    assert (ModelOrder.note == "x").encode(ph) == "#n0 = :v0"
    assert ph.names == {"#n0": "n"}
    order = ModelOrder(
        customer="c", order_id="o", note="hi", ship_to=NamedAddress(city="x", postcode="1")
    )
    item = order.to_dynamodb()
    assert item["n"] == {"S": "hi"}
    assert "note" not in item
    assert item["ship_to"] == {"M": {"city": {"S": "x"}, "pc": {"S": "1"}}}
    assert ModelOrder.from_dynamodb(item) == order


def test_renamed_keys_and_index_keys_use_wire_names() -> None:
    fields = {
        "k": Annotated[str, HashKey(), msgspec.Meta()],
        "r": Annotated[int, RangeKey()],
        "g": str,
    }
    cls = define(
        "Renamed",
        fields,
        k=msgspec.field(name="PK"),
        r=msgspec.field(name="SK"),
        g=msgspec.field(name="GSI1PK"),
        __indexes__=(GlobalIndex("gsi1", hash_key="g", range_key="r", projection=["g"]),),
    )
    info = model_info(cls)
    assert info.key_attributes == ("PK", "SK")
    assert info.key_from({"k": "a", "r": 1}) == {"PK": {"S": "a"}, "SK": {"N": "1"}}
    index = info.indexes["gsi1"]
    assert (index.hash_key, index.range_key, index.projection) == ("GSI1PK", "SK", ("GSI1PK",))


# --- tables, prefixes and inheritance ---------------------------------------------------


class SpecialOrder(ModelOrder):
    gift_note: str = ""


class ArchivedOrder(ModelOrder, table="orders_archive"):
    pass


class Audited(Model):
    """Abstract: shared fields, no table."""

    owner: Annotated[str, HashKey()]
    created_at: Annotated[datetime | None, CreatedAt()] = None


class Document(Audited, table="documents"):
    title: str = ""


def test_subclass_inherits_table_keys_and_indexes() -> None:
    info = model_info(SpecialOrder)
    assert info.table == "orders"
    assert info.key_attributes == ("customer", "order_id")
    assert set(info.indexes) == {"by_status", "by_qty"}
    assert SpecialOrder.gift_note._elements == ("gift_note",)
    assert SpecialOrder.total._model is SpecialOrder
    item = SpecialOrder(customer="c", order_id="o", gift_note="hi").to_dynamodb()
    assert item["gift_note"] == {"S": "hi"}
    assert model_info(ArchivedOrder).table == "orders_archive"
    assert model_info(ModelOrder).table == "orders"


def test_abstract_models_raise_when_used_as_tables() -> None:
    info = model_info(Audited)
    assert info.table is None
    with pytest.raises(ModelError, match="Audited has no table"):
        info.require_table()
    with pytest.raises(ModelError, match="no table"):
        Session(table_prefix="x_").table_name(Audited)
    abstract_without_key = define("Mixin", {"note": str}, table=None)
    assert model_info(abstract_without_key).hash_key is None
    # A concrete subclass of the abstract model gets its fields and markers.
    document = model_info(Document)
    assert document.require_table() == "documents"
    assert document.hash_key == "owner"
    assert document.created_at == "created_at"


def test_session_table_prefix_is_prepended() -> None:
    session = Session(table_prefix="test_")
    assert session.table_name(ModelOrder) == "test_orders"
    assert session.table_name(SpecialOrder) == "test_orders"
    assert session.table_name(ArchivedOrder) == "test_orders_archive"
    assert Session().table_name(ModelOrder) == "orders"
