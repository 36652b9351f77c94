"""Marshalling: every supported field type, DynamoDB's limits, and round-trip properties.

The wire format is DynamoDB JSON as the transport sees it: binary values are base64 text and
numbers are strings. Round trips are checked both directly and through real JSON text.
"""

from __future__ import annotations

import base64
import types
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamorm_async._errors import ItemDecodeError, ValidationError
from dynamorm_async._model.model import TTL, HashKey, Model, RangeKey, model_info
from dynamorm_async._wire.taggers import (
    format_number,
    from_wire_value,
    parse_number,
    to_wire_value,
    untag,
)
from dynamorm_async._wire.values import MAX_ITEM_BYTES, check_item_size, item_size
from tests.shared_types import Color, Level

# --- models -------------------------------------------------------------------------------


class Point(msgspec.Struct):
    x: int
    y: int
    label: str | None = None


class GeoAddress(msgspec.Struct):
    city: str
    zip: str | None = None
    tags: set[str] = msgspec.field(default_factory=set)
    geo: Point | None = None


class Everything(Model, table="everything"):
    pk: Annotated[str, HashKey()]
    sk: Annotated[int, RangeKey()] = 0
    text: str = ""
    count: int = 0
    ratio: float = 0.0
    amount: Decimal = Decimal(0)
    flag: bool = False
    blob: bytes = b""
    maybe: str | None = None
    when: datetime | None = None
    day: date | None = None
    ident: uuid.UUID | None = None
    color: Color = Color.RED
    level: Level = Level.LOW
    mode: Literal["fast", "slow"] = "fast"
    names: set[str] = msgspec.field(default_factory=set)
    numbers: set[int] = msgspec.field(default_factory=set)
    amounts: set[Decimal] = msgspec.field(default_factory=set)
    blobs: set[bytes] = msgspec.field(default_factory=set)
    frozen: frozenset[str] = frozenset()
    words: list[str] = msgspec.field(default_factory=list)
    matrix: list[list[int]] = msgspec.field(default_factory=list)
    gaps: list[int | None] = msgspec.field(default_factory=list)
    pair: tuple[int, str] | None = None
    series: tuple[Decimal, ...] = ()
    counts: dict[str, int] = msgspec.field(default_factory=dict)
    groups: dict[str, list[str]] = msgspec.field(default_factory=dict)
    address: GeoAddress | None = None
    history: list[GeoAddress] = msgspec.field(default_factory=list)
    expires: Annotated[datetime | None, TTL()] = None
    renamed: str | None = msgspec.field(default=None, name="re-named")


class IntTTL(Model, table="int_ttl"):
    pk: Annotated[str, HashKey()]
    expires: Annotated[int | None, TTL()] = None


class BinaryKey(Model, table="binary_key"):
    pk: Annotated[bytes, HashKey()]
    sk: Annotated[str, RangeKey()]


INFO = model_info(Everything)


def _model_with(annotation: Any, **extra: Any) -> type[Model]:
    """A one-field model ``One(pk=..., value=...)`` whose ``value`` has ``annotation``."""

    def body(ns: dict[str, Any]) -> None:
        ns["__annotations__"] = {"pk": Annotated[str, HashKey()], "value": annotation}
        ns.update(extra)

    return types.new_class("One", (Model,), {"table": "one"}, body)


def _json_round_trip(item: dict[str, Any]) -> dict[str, Any]:
    """What the item looks like after the transport's JSON encode and decode."""
    decoded: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(item))
    return decoded


PLUS_TWO = timezone(timedelta(hours=2))

# --- every type, exact wire form --------------------------------------------------------

CASES: list[tuple[str, Any, Any, dict[str, Any]]] = [
    ("str", str, "héllo wörld", {"S": "héllo wörld"}),
    ("str empty", str, "", {"S": ""}),
    ("int", int, 42, {"N": "42"}),
    ("int negative", int, -7, {"N": "-7"}),
    ("int beyond float", int, 2**64 + 1, {"N": "18446744073709551617"}),
    ("int 38 digits", int, 10**38 - 1, {"N": "9" * 38}),
    ("int huge, few digits", int, 10**100, {"N": "1" + "0" * 100}),
    ("float", float, 1.5, {"N": "1.5"}),
    ("float tenth", float, 0.1, {"N": "0.1"}),
    ("float small", float, -2.5e-7, {"N": "-2.5E-7"}),
    ("float large", float, 1e20, {"N": "1E+20"}),
    ("decimal", Decimal, Decimal("3.14"), {"N": "3.14"}),
    (
        "decimal 38 digits",
        Decimal,
        Decimal("1.234567890123456789012345678901234567"),
        {"N": "1.234567890123456789012345678901234567"},
    ),
    ("decimal tiny", Decimal, Decimal("1E-130"), {"N": "1E-130"}),
    (
        "decimal max",
        Decimal,
        Decimal("9.9999999999999999999999999999999999999E+125"),
        {"N": "9.9999999999999999999999999999999999999E+125"},
    ),
    ("bool true", bool, True, {"BOOL": True}),
    ("bool false", bool, False, {"BOOL": False}),
    ("bytes", bytes, b"\x00\xffhi", {"B": base64.b64encode(b"\x00\xffhi").decode()}),
    ("bytes empty", bytes, b"", {"B": ""}),
    (
        "datetime utc",
        datetime,
        datetime(2025, 3, 4, 5, 6, 7, 89, tzinfo=UTC),
        {"S": "2025-03-04T05:06:07.000089Z"},
    ),
    (
        "datetime offset",
        datetime,
        datetime(2025, 3, 4, 1, 0, tzinfo=PLUS_TWO),
        {"S": "2025-03-03T23:00:00.000000Z"},
    ),
    (
        "datetime early year",
        datetime,
        datetime(5, 1, 2, tzinfo=UTC),
        {"S": "0005-01-02T00:00:00.000000Z"},
    ),
    ("date", date, date(2024, 2, 29), {"S": "2024-02-29"}),
    (
        "uuid",
        uuid.UUID,
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        {"S": "12345678-1234-5678-1234-567812345678"},
    ),
    ("enum str", Color, Color.BLUE, {"S": "blue"}),
    ("enum int", Level, Level.HIGH, {"N": "2"}),
    ("literal", Literal["fast", "slow"], "slow", {"S": "slow"}),
    ("literal int", Literal[1, 2, 3], 3, {"N": "3"}),
    ("optional set", str | None, "x", {"S": "x"}),
    ("set str", set[str], {"b", "a", "c"}, {"SS": ["a", "b", "c"]}),
    ("set int", set[int], {3, 1, 20}, {"NS": ["1", "20", "3"]}),
    ("set decimal", set[Decimal], {Decimal("1.5"), Decimal("-2")}, {"NS": ["-2", "1.5"]}),
    (
        "set bytes",
        set[bytes],
        {b"\x01", b"\x02"},
        {"BS": [base64.b64encode(b"\x01").decode(), base64.b64encode(b"\x02").decode()]},
    ),
    ("set enum", set[Color], {Color.RED, Color.BLUE}, {"SS": ["blue", "red"]}),
    ("frozenset", frozenset[str], frozenset({"z", "y"}), {"SS": ["y", "z"]}),
    ("list", list[str], ["a", "b", "a"], {"L": [{"S": "a"}, {"S": "b"}, {"S": "a"}]}),
    ("list empty", list[int], [], {"L": []}),
    (
        "list optional",
        list[int | None],
        [1, None],
        {"L": [{"N": "1"}, {"NULL": True}]},
    ),
    (
        "list nested",
        list[list[int]],
        [[1], []],
        {"L": [{"L": [{"N": "1"}]}, {"L": []}]},
    ),
    (
        "tuple fixed",
        tuple[int, str, bool],
        (1, "a", True),
        {"L": [{"N": "1"}, {"S": "a"}, {"BOOL": True}]},
    ),
    (
        "tuple variadic",
        tuple[Decimal, ...],
        (Decimal("1.1"), Decimal("2")),
        {"L": [{"N": "1.1"}, {"N": "2"}]},
    ),
    ("dict", dict[str, int], {"a": 1, "b": 2}, {"M": {"a": {"N": "1"}, "b": {"N": "2"}}}),
    (
        "dict of lists",
        dict[str, list[str]],
        {"k": ["v"]},
        {"M": {"k": {"L": [{"S": "v"}]}}},
    ),
    (
        "dict optional values",
        dict[str, str | None],
        {"k": None},
        {"M": {"k": {"NULL": True}}},
    ),
    (
        "struct",
        GeoAddress,
        GeoAddress(city="Köln", tags={"t"}, geo=Point(1, 2)),
        {
            "M": {
                "city": {"S": "Köln"},
                "tags": {"SS": ["t"]},
                "geo": {"M": {"x": {"N": "1"}, "y": {"N": "2"}}},
            }
        },
    ),
    (
        "list of structs",
        list[Point],
        [Point(1, 2, "a")],
        {"L": [{"M": {"x": {"N": "1"}, "y": {"N": "2"}, "label": {"S": "a"}}}]},
    ),
]


@pytest.mark.parametrize(
    ("annotation", "value", "wire"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_type_has_its_exact_wire_form_and_round_trips(
    annotation: Any, value: Any, wire: dict[str, Any]
) -> None:
    model = _model_with(annotation)
    obj = model(pk="p", value=value)
    item = obj.to_dynamodb()
    assert item == {"pk": {"S": "p"}, "value": wire}
    assert model.from_dynamodb(item) == obj
    assert model.from_dynamodb(_json_round_trip(item)) == obj
    # The standalone helpers used by expressions agree with the model codec.
    assert to_wire_value(annotation, value) == wire
    assert from_wire_value(annotation, wire) == value


def test_full_model_round_trips_exactly() -> None:
    obj = Everything(
        pk="p1",
        sk=2**70,
        text="tëxt",
        count=-(2**63) - 1,
        ratio=-0.000123,
        amount=Decimal("-12345678901234567890.123456789012345678"),
        flag=True,
        blob=bytes(range(256)),
        maybe="m",
        when=datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=PLUS_TWO),
        day=date(1999, 1, 1),
        ident=uuid.uuid4(),
        color=Color.BLUE,
        level=Level.HIGH,
        mode="slow",
        names={"a", "b"},
        numbers={1, -1, 10**37},
        amounts={Decimal("0.5"), Decimal("1E+100")},
        blobs={b"\x00", b"\xff\xfe"},
        frozen=frozenset({"f"}),
        words=["w1", "w2"],
        matrix=[[1, 2], [], [3]],
        gaps=[None, 1, None],
        pair=(7, "seven"),
        series=(Decimal("1.10"), Decimal("-3")),
        counts={"a": 1, " ": 0},
        groups={"g": ["x", "y"], "empty": []},
        address=GeoAddress(city="Berlin", zip="10115", tags={"home"}, geo=Point(-1, 1, "x")),
        history=[GeoAddress(city="A"), GeoAddress(city="B", zip=None)],
        expires=datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC),
        renamed="r",
    )
    item = obj.to_dynamodb()
    assert item["sk"] == {"N": str(2**70)}
    assert item["amount"] == {"N": "-12345678901234567890.123456789012345678"}
    assert item["expires"] == {"N": str(int(datetime(2030, 1, 1, 12, tzinfo=UTC).timestamp()))}
    assert item["re-named"] == {"S": "r"}
    assert "renamed" not in item
    assert item["when"] == {"S": "2024-12-31T21:59:59.999999Z"}
    assert Everything.from_dynamodb(item) == obj
    assert Everything.from_dynamodb(_json_round_trip(item)) == obj


def test_ints_beyond_float_precision_stay_exact() -> None:
    for value in (2**53 + 1, -(2**63) - 1, 10**37 + 1, 123456789012345678901234567890123456):
        obj = Everything(pk="p", count=value)
        back = Everything.from_dynamodb(_json_round_trip(obj.to_dynamodb()))
        assert back.count == value
        assert type(back.count) is int


def test_decimals_with_38_significant_digits_stay_exact() -> None:
    for text in (
        "12345678901234567890123456789012345678",
        "0.12345678901234567890123456789012345678",
        "-9.9999999999999999999999999999999999999E+125",
        "1.0000000000000000000000000000000000001E-100",
    ):
        obj = Everything(pk="p", amount=Decimal(text))
        assert obj.to_dynamodb()["amount"] == {"N": text}
        back = Everything.from_dynamodb(_json_round_trip(obj.to_dynamodb()))
        assert back.amount == Decimal(text)
        assert back.amount.as_tuple().digits == Decimal(text).as_tuple().digits


def test_ttl_fields_are_epoch_seconds() -> None:
    moment = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    item = Everything(pk="p", expires=moment).to_dynamodb()
    assert item["expires"] == {"N": str(int(moment.timestamp()))}
    assert Everything.from_dynamodb(item).expires == moment
    # Sub-second precision is dropped: DynamoDB's TTL works in whole seconds.
    item = Everything(pk="p", expires=moment + timedelta(microseconds=5)).to_dynamodb()
    assert Everything.from_dynamodb(item).expires == moment

    int_item = IntTTL(pk="p", expires=1_900_000_000).to_dynamodb()
    assert int_item["expires"] == {"N": "1900000000"}
    assert IntTTL.from_dynamodb(int_item) == IntTTL(pk="p", expires=1_900_000_000)


def test_none_fields_and_empty_sets_are_omitted() -> None:
    item = Everything(pk="p").to_dynamodb()
    for absent in (
        "maybe",
        "when",
        "day",
        "ident",
        "pair",
        "address",
        "expires",
        "re-named",
        "names",
        "numbers",
        "amounts",
        "blobs",
        "frozen",
    ):
        assert absent not in item
    # Empty lists and maps are legal values and are stored.
    assert item["words"] == {"L": []}
    assert item["counts"] == {"M": {}}
    assert Everything.from_dynamodb(item) == Everything(pk="p")


def test_nested_none_fields_are_omitted() -> None:
    item = Everything(pk="p", address=GeoAddress(city="c")).to_dynamodb()
    assert item["address"] == {"M": {"city": {"S": "c"}}}


def test_empty_sets_inside_maps_and_lists_are_rejected_with_their_path() -> None:
    # Left out of a map or stored as NULL in a list, they would not read back as empty sets.
    in_map = _model_with(dict[str, set[str]])
    with pytest.raises(ValidationError, match=r"One\.value\['empty'\]: an empty set"):
        in_map(pk="p", value={"full": {"x"}, "empty": set()}).to_dynamodb()
    in_list = _model_with(list[set[str]])
    with pytest.raises(ValidationError, match=r"One\.value\[0\]: an empty set"):
        in_list(pk="p", value=[set(), {"a"}]).to_dynamodb()


def test_encoding_is_deterministic_for_equal_sets() -> None:
    a = Everything(pk="p", names={"x", "y", "z"}, numbers={3, 2, 1})
    b = Everything(pk="p", names={"z", "y", "x"}, numbers={1, 2, 3})
    assert msgspec.json.encode(a.to_dynamodb()) == msgspec.json.encode(b.to_dynamodb())


# --- limits -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ratio", float("nan")),
        ("ratio", float("inf")),
        ("ratio", float("-inf")),
        ("ratio", 1e300),
        ("ratio", 5e-324),
        ("amount", Decimal("NaN")),
        ("amount", Decimal("sNaN")),
        ("amount", Decimal("Infinity")),
        ("amount", Decimal("-Infinity")),
        ("amount", Decimal("1E+126")),
        ("amount", Decimal("-1E+126")),
        ("amount", Decimal("1E-131")),
        ("amount", Decimal("-9.9E-131")),
        ("amount", Decimal("1.23456789012345678901234567890123456789")),
        ("count", 10**38 + 1),
        ("count", 10**126),
        ("count", True),
        ("numbers", {1, 10**38 + 1}),
        ("amounts", {Decimal("NaN")}),
        ("when", datetime(2024, 1, 1)),
        ("expires", datetime(2024, 1, 1)),
        ("series", (Decimal("Infinity"),)),
        ("counts", {"k": float("nan")}),
        ("text", 5),
        ("flag", "yes"),
        ("names", "not-a-set"),
        ("words", "not-a-list"),
        ("blob", 12),
    ],
)
def test_values_dynamodb_cannot_store_raise_validation_error(field: str, value: Any) -> None:
    obj = msgspec.structs.replace(Everything(pk="p"), **{field: value})
    with pytest.raises(ValidationError):
        obj.to_dynamodb()


def test_number_limits_boundaries() -> None:
    assert format_number(Decimal("9.9999999999999999999999999999999999999E+125")).endswith("E+125")
    assert format_number(Decimal("1E-130")) == "1E-130"
    assert format_number(Decimal("-1E-130")) == "-1E-130"
    assert format_number(10**125) == "1" + "0" * 125
    assert format_number(0) == "0"
    assert format_number(Decimal("0E-200")) == "0E-200"  # zero has no magnitude to check
    with pytest.raises(ValidationError, match="significant digits"):
        format_number(Decimal("1" * 39))
    with pytest.raises(ValidationError, match="range"):
        format_number(Decimal("1E+126"))
    with pytest.raises(ValidationError, match="range"):
        format_number(Decimal("0.99E-130"))
    with pytest.raises(ValidationError, match="NaN or Infinity"):
        format_number(float("nan"))
    with pytest.raises(ValidationError):
        format_number("12")


def test_parse_number_is_exact() -> None:
    assert parse_number("18446744073709551617") == 2**64 + 1
    assert parse_number("1.50") == Decimal("1.50")
    assert parse_number("1E+2") == 100
    assert isinstance(parse_number("1E+2"), int)
    assert parse_number("1E+100") == Decimal("1E+100")
    with pytest.raises(ItemDecodeError, match="malformed"):
        parse_number("twelve")


def test_naive_datetime_is_rejected_with_a_hint() -> None:
    with pytest.raises(ValidationError, match="attach a timezone"):
        Everything(pk="p", when=datetime(2024, 1, 1)).to_dynamodb()


def test_item_over_400kb_is_rejected_before_sending() -> None:
    big = Everything(pk="p", text="x" * (MAX_ITEM_BYTES + 1))
    with pytest.raises(ValidationError, match="400 KB") as caught:
        INFO.encode_checked(big)
    assert caught.value.table == "everything"
    # Just under the limit passes, counting names and values as DynamoDB does.
    fits = Everything(pk="p", text="x" * (MAX_ITEM_BYTES - 200))
    item = INFO.encode_checked(fits)
    assert item_size(item) <= MAX_ITEM_BYTES


def test_item_size_counts_binary_as_raw_bytes_and_numbers_by_digits() -> None:
    raw = b"\x00" * 300_000
    item = {"b": {"B": base64.b64encode(raw).decode()}, "n": {"N": "123456"}}
    assert item_size(item) == 1 + 300_000 + 1 + 4
    # The base64 text is larger than the limit allows, but the stored size is not.
    check_item_size(item)
    with pytest.raises(ValidationError):
        check_item_size({"b": {"B": base64.b64encode(b"\x00" * (MAX_ITEM_BYTES + 1)).decode()}})


@pytest.mark.parametrize(
    "build",
    [
        lambda: INFO.encode_checked(Everything(pk="")),
        lambda: INFO.key_from({"pk": "", "sk": 1}),
        lambda: INFO.key_from({"pk": None, "sk": 1}),
        lambda: model_info(BinaryKey).encode_checked(BinaryKey(pk=b"", sk="s")),
        lambda: model_info(BinaryKey).encode_checked(BinaryKey(pk=b"k", sk="")),
        lambda: model_info(BinaryKey).key_from({"pk": b"", "sk": "s"}),
    ],
    ids=["put-hash", "key-hash", "key-none", "binary-hash", "range", "key-binary"],
)
def test_empty_key_values_are_rejected(build: Any) -> None:
    with pytest.raises(ValidationError, match="empty"):
        build()


def test_keys_are_marshalled_with_their_types() -> None:
    assert INFO.key_from({"pk": "a", "sk": 2**70}) == {"pk": {"S": "a"}, "sk": {"N": str(2**70)}}
    binary = model_info(BinaryKey)
    assert binary.key_from({"pk": b"\x01", "sk": "s"}) == {"pk": {"B": "AQ=="}, "sk": {"S": "s"}}
    assert binary.key_of(BinaryKey(pk=b"\x01", sk="s")) == {"pk": {"B": "AQ=="}, "sk": {"S": "s"}}
    with pytest.raises(ValidationError, match="missing"):
        INFO.key_from({"pk": "a"})


# --- from_dynamodb / to_dynamodb ----------------------------------------------------------


def test_streams_image_with_base64_binary_decodes() -> None:
    # As found in a DynamoDB Streams record (Lambda event JSON): B/BS are base64 strings.
    new_image = {
        "pk": {"S": "order#1"},
        "sk": {"N": "7"},
        "amount": {"N": "19.99"},
        "blob": {"B": "AAEC/w=="},
        "blobs": {"BS": ["AQ==", "Ag=="]},
        "names": {"SS": ["gift", "vip"]},
        "numbers": {"NS": ["1", "2.0", "1E+1"]},
        "when": {"S": "2025-01-02T03:04:05.000006Z"},
        "address": {"M": {"city": {"S": "Rome"}, "zip": {"NULL": True}}},
        "maybe": {"NULL": True},
        "gaps": {"L": [{"NULL": True}, {"N": "4"}]},
        "expires": {"N": "1900000000"},
        "unknown_attribute": {"S": "ignored"},
    }
    obj = Everything.from_dynamodb(new_image)
    assert obj.pk == "order#1"
    assert obj.sk == 7
    assert obj.amount == Decimal("19.99")
    assert obj.blob == b"\x00\x01\x02\xff"
    assert obj.blobs == {b"\x01", b"\x02"}
    assert obj.names == {"gift", "vip"}
    assert obj.numbers == {1, 2, 10}
    assert obj.when == datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert obj.address == GeoAddress(city="Rome")
    assert obj.maybe is None
    assert obj.gaps == [None, 4]
    assert obj.expires == datetime.fromtimestamp(1_900_000_000, tz=UTC)
    again = obj.to_dynamodb()
    assert again["blob"] == {"B": "AAEC/w=="}
    assert again["blobs"] == {"BS": ["AQ==", "Ag=="]}
    assert Everything.from_dynamodb(again) == obj


def test_boto3_shaped_image_with_raw_bytes_decodes() -> None:
    image = {"pk": {"S": "p"}, "blob": {"B": b"\x00\xff"}, "blobs": {"BS": [b"\x01"]}}
    obj = Everything.from_dynamodb(image)
    assert obj.blob == b"\x00\xff"
    assert obj.blobs == {b"\x01"}


def test_other_valid_spellings_decode_through_the_generic_path() -> None:
    item = {
        "pk": {"S": "p"},
        "count": {"N": "1E+2"},
        "ratio": {"N": "1"},
        "when": {"S": "2025-01-02T03:04:05+01:00"},
        "day": {"S": "2025-01-02"},
    }
    obj = Everything.from_dynamodb(item)
    assert obj.count == 100
    assert obj.ratio == 1.0
    assert obj.when == datetime(2025, 1, 2, 2, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ({"pk": {"S": "p"}, "text": {"N": "1"}}, "text"),
        ({"pk": {"S": "p"}, "count": {"N": "1.5"}}, "count"),
        ({"pk": {"S": "p"}, "color": {"S": "green"}}, "color"),
        ({"pk": {"S": "p"}, "mode": {"S": "medium"}}, "mode"),
        ({"pk": {"S": "p"}, "flag": {"NULL": True}}, "flag"),
        ({"sk": {"N": "1"}}, "pk"),
        ({"pk": {"S": "p"}, "text": {"XX": "?"}}, "unknown attribute value"),
    ],
)
def test_items_that_do_not_fit_the_model_raise_item_decode_error(
    item: dict[str, Any], match: str
) -> None:
    with pytest.raises(ItemDecodeError, match=match) as caught:
        Everything.from_dynamodb(item)
    assert caught.value.table == "everything"
    assert caught.value.model is Everything and caught.value.item == item


def test_untag_strips_every_tag() -> None:
    av = {
        "M": {
            "s": {"S": "x"},
            "n": {"N": "1.5"},
            "b": {"B": "AQ=="},
            "t": {"BOOL": False},
            "z": {"NULL": True},
            "ss": {"SS": ["a"]},
            "ns": {"NS": ["1"]},
            "bs": {"BS": ["AQ=="]},
            "l": {"L": [{"N": "2"}]},
        }
    }
    assert untag(av) == {
        "s": "x",
        "n": Decimal("1.5"),
        "b": "AQ==",
        "t": False,
        "z": None,
        "ss": ["a"],
        "ns": [1],
        "bs": ["AQ=="],
        "l": [2],
    }
    with pytest.raises(ValidationError):
        untag({"?": 1})


# --- less common struct shapes --------------------------------------------------------


class Tree(msgspec.Struct):
    label: str
    children: list[Tree] = msgspec.field(default_factory=list)


class Sparse(msgspec.Struct, omit_defaults=True):
    kind: str = "plain"
    size: int = 0


class StrictStruct(msgspec.Struct, forbid_unknown_fields=True):
    a: int


class Cat(msgspec.Struct, tag=True):
    lives: int = 9


class Dog(msgspec.Struct, tag=True):
    good: bool = True


class Exotic(Model, table="exotic"):
    pk: Annotated[str, HashKey()]
    tree: Tree | None = None
    sparse: Sparse | None = None
    strict: StrictStruct | None = None
    pet: Cat | Dog | None = None
    anything: Any = None
    either: int | str | None = None
    bounded: Annotated[int, msgspec.Meta(ge=0, le=10)] = 0
    bounded_list: list[Annotated[str, msgspec.Meta(max_length=3)]] = msgspec.field(
        default_factory=list
    )
    raw: bytearray | None = None
    when_list: list[datetime] = msgspec.field(default_factory=list)
    levels: set[Level] = msgspec.field(default_factory=set)
    floats: set[float] = msgspec.field(default_factory=set)
    fixed: tuple[int, Point] | None = None


def test_less_common_struct_shapes_round_trip() -> None:
    obj = Exotic(
        pk="p",
        tree=Tree("root", [Tree("a"), Tree("b", [Tree("c")])]),
        sparse=Sparse(kind="plain", size=3),
        strict=StrictStruct(a=1),
        pet=Dog(good=False),
        anything={"k": [1, "two", None, {"n": Decimal("1.5")}], "s": {"x"}},
        either="text",
        bounded=7,
        bounded_list=["abc", ""],
        raw=bytearray(b"\x00\x01"),
        when_list=[datetime(2020, 1, 1, tzinfo=UTC)],
        levels={Level.LOW, Level.HIGH},
        floats={0.5, -1e-5},
        fixed=(1, Point(2, 3)),
    )
    item = obj.to_dynamodb()
    assert item["sparse"] == {"M": {"size": {"N": "3"}}}, "omit_defaults leaves defaults out"
    assert item["pet"] == {"M": {"type": {"S": "Dog"}, "good": {"BOOL": False}}}
    assert item["anything"]["M"]["s"] == {"SS": ["x"]}
    assert item["levels"] == {"NS": ["1", "2"]}
    assert item["floats"] == {"NS": ["-0.00001", "0.5"]}
    back = Exotic.from_dynamodb(_json_round_trip(item))
    assert back.tree == obj.tree
    assert back.sparse == obj.sparse
    assert back.strict == obj.strict
    assert back.pet == obj.pet
    assert back.anything == {"k": [1, "two", None, {"n": Decimal("1.5")}], "s": ["x"]}
    assert (back.either, back.bounded, back.bounded_list) == ("text", 7, ["abc", ""])
    assert back.raw == bytearray(b"\x00\x01")
    assert back.when_list == obj.when_list
    assert back.levels == obj.levels
    assert back.floats == obj.floats
    assert back.fixed == obj.fixed
    assert Exotic.from_dynamodb(Exotic(pk="p", either=5).to_dynamodb()).either == 5


@pytest.mark.parametrize(
    ("attribute", "av", "match"),
    [
        ("bounded", {"N": "11"}, "bounded"),
        ("bounded_list", {"L": [{"S": "long"}]}, "bounded_list"),
        ("strict", {"M": {"a": {"N": "1"}, "b": {"N": "2"}}}, "strict"),
        ("pet", {"M": {"type": {"S": "Cow"}}}, "pet"),
    ],
)
def test_constraints_and_strict_structs_are_enforced_on_decode(
    attribute: str, av: dict[str, Any], match: str
) -> None:
    with pytest.raises(ItemDecodeError, match=match) as caught:
        Exotic.from_dynamodb({"pk": {"S": "p"}, attribute: av})
    assert caught.value.key == {"pk": "p"}
    assert caught.value.path is not None and caught.value.path.startswith(f"Exotic.{attribute}")


def test_nested_struct_of_the_wrong_class_is_rejected() -> None:
    obj = Everything(pk="p", address=Point(1, 2))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="expected a GeoAddress"):
        obj.to_dynamodb()


def test_compiled_codec_source_is_kept_for_debugging() -> None:
    source = INFO.codec.source
    assert "def encode(obj):" in source
    assert "def decode(m):" in source
    assert "'re-named'" in source


# --- properties ---------------------------------------------------------------------------

_texts = st.text(max_size=20)
_names = st.text(min_size=1, max_size=20)  # DynamoDB rejects empty attribute names
_ints = st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1)
_floats = st.floats(
    min_value=-1e125, max_value=1e125, allow_nan=False, allow_infinity=False
).filter(lambda f: f == 0 or abs(f) >= 1e-130)
_decimals = st.builds(
    lambda mantissa, exponent: Decimal(f"{mantissa}E{exponent}"),
    _ints,
    st.integers(min_value=-130, max_value=88),
)
_offsets = st.sampled_from([UTC, PLUS_TWO, timezone(timedelta(hours=-9, minutes=-30))])
_datetimes = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=_offsets
)
_points = st.builds(Point, x=_ints, y=_ints, label=st.none() | _texts)
_addresses = st.builds(
    GeoAddress,
    city=_texts,
    zip=st.none() | _texts,
    tags=st.sets(_texts, max_size=4),
    geo=st.none() | _points,
)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


everything = st.builds(
    Everything,
    pk=st.text(min_size=1, max_size=20),
    sk=_ints,
    text=_texts,
    count=_ints,
    ratio=_floats,
    amount=_decimals,
    flag=st.booleans(),
    blob=st.binary(max_size=40),
    maybe=_optional(_texts),
    when=_optional(_datetimes),
    day=_optional(st.dates()),
    ident=_optional(st.uuids()),
    color=st.sampled_from(Color),
    level=st.sampled_from(Level),
    mode=st.sampled_from(["fast", "slow"]),
    names=st.sets(_texts, max_size=5),
    numbers=st.sets(_ints, max_size=5),
    amounts=st.sets(_decimals, max_size=5),
    blobs=st.sets(st.binary(max_size=10), max_size=5),
    frozen=st.frozensets(_texts, max_size=3),
    words=st.lists(_texts, max_size=5),
    matrix=st.lists(st.lists(_ints, max_size=3), max_size=3),
    gaps=st.lists(_optional(_ints), max_size=4),
    pair=_optional(st.tuples(_ints, _texts)),
    series=st.lists(_decimals, max_size=3).map(tuple),
    counts=st.dictionaries(_names, _ints, max_size=4),
    groups=st.dictionaries(_names, st.lists(_texts, max_size=3), max_size=3),
    address=_optional(_addresses),
    history=st.lists(_addresses, max_size=3),
    expires=_optional(
        st.integers(min_value=0, max_value=2**33).map(lambda s: datetime.fromtimestamp(s, UTC))
    ),
    renamed=_optional(_texts),
)


@settings(max_examples=200, deadline=None)
@given(everything)
def test_property_model_to_wire_to_model_is_identity(obj: Everything) -> None:
    item = obj.to_dynamodb()
    assert Everything.from_dynamodb(item) == obj


@settings(max_examples=200, deadline=None)
@given(everything)
def test_property_round_trip_through_json_text(obj: Everything) -> None:
    text = msgspec.json.encode(obj.to_dynamodb())
    assert Everything.from_dynamodb(msgspec.json.decode(text)) == obj
    # Encoding is a function of the value: the same instance always gives the same text.
    assert msgspec.json.encode(obj.to_dynamodb()) == text


@settings(max_examples=200, deadline=None)
@given(everything)
def test_property_compiled_codec_agrees_with_generic_path(obj: Everything) -> None:
    item = _json_round_trip(obj.to_dynamodb())
    generic = INFO.from_builtins({k: untag(v) for k, v in item.items()}, item)
    assert INFO.codec.decode(item) == generic == obj


@settings(max_examples=200, deadline=None)
@given(st.one_of(_ints, _floats, _decimals))
def test_property_numbers_round_trip_exactly(number: int | float | Decimal) -> None:
    parsed = parse_number(format_number(number))
    assert msgspec.convert(parsed, type(number)) == number


def test_empty_map_keys_are_rejected() -> None:
    with pytest.raises(ValidationError, match="empty attribute names"):
        Everything(pk="p", sk=1, counts={"": 1}).to_dynamodb()
