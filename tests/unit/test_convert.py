"""Safe conversions: every lossless input converts exactly, every lossy one raises."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import pytest

from dynamorm_async import HashKey, Model, ValidationError
from dynamorm_async._migrate.converters import (
    ConversionError,
    Reshape,
    from_epoch,
    parse_datetime,
    to_decimal,
    to_epoch,
    to_int,
    to_set,
    to_str,
)

pytestmark = pytest.mark.timeout(30)

CET = timezone(timedelta(hours=1))


def test_conversion_error_is_a_validation_error_with_the_field() -> None:
    err = ConversionError("bad", field="qty")
    assert isinstance(err, ValidationError)
    assert err.field == "qty"
    assert str(err) == "qty: bad"


# --- to_int -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (7, 7),
        (-3, -3),
        ("42", 42),
        (" -7 ", -7),
        ("+5", 5),
        ("12.0", 12),
        ("1e3", 1000),
        (12.0, 12),
        (Decimal("12"), 12),
        (Decimal("12.000"), 12),
        (Decimal("1E+2"), 100),
        (10**37, 10**37),
    ],
)
def test_to_int_accepts_integral_values(value: Any, expected: int) -> None:
    result = to_int(value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("12.5", "fractional part"),
        (Decimal("0.1"), "fractional part"),
        (1.5, "fractional part"),
        ("abc", "not a number"),
        ("", "not a number"),
        ("1_000", "not a number"),
        ("0x10", "not a number"),
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
        (Decimal("NaN"), "not a finite number"),
        (True, "is a bool"),
        (None, "cannot convert a NoneType"),
        ([1], "cannot convert a list"),
        (10**40 + 1, "41 significant digits"),
        ("1e200", "outside DynamoDB's number range"),
    ],
)
def test_to_int_refuses_lossy_or_unparsable_values(value: Any, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        to_int(value)


def test_to_int_bounds() -> None:
    assert to_int("5", min_value=0, max_value=5) == 5
    with pytest.raises(ConversionError, match="below the minimum 0"):
        to_int("-1", min_value=0)
    with pytest.raises(ConversionError, match="above the maximum 255"):
        to_int(256, max_value=255)


# --- to_decimal -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("19.99", "19.99"),
        (" 1.50 ", "1.50"),
        ("-0.001", "-0.001"),
        ("1e-5", "0.00001"),
        (3, "3"),
        (0.1, "0.1"),
        (Decimal("2.5"), "2.5"),
        ("0", "0"),
    ],
)
def test_to_decimal_is_exact(value: Any, expected: str) -> None:
    result = to_decimal(value)
    assert isinstance(result, Decimal)
    assert result == Decimal(expected)
    if isinstance(value, str):
        assert str(result) == str(Decimal(value.strip()))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1.2.3", "not a number"),
        ("NaN", "not a number"),
        ("Infinity", "not a number"),
        (Decimal("Infinity"), "not a finite number"),
        (float("nan"), "not a finite number"),
        (False, "is a bool"),
        (b"1", "cannot convert a bytes"),
        ("1." + "1" * 40, "significant digits"),
        ("1e-200", "outside DynamoDB's number range"),
    ],
)
def test_to_decimal_refuses(value: Any, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        to_decimal(value)


# --- to_str -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("x", "x"),
        (12, "12"),
        (Decimal("1.50"), "1.50"),
        (0.1, "0.1"),
        (datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "2025-01-02T03:04:05+00:00"),
        (date(2025, 1, 2), "2025-01-02"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ],
)
def test_to_str_round_trips(value: Any, expected: str) -> None:
    assert to_str(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "is a bool"),
        (b"x", "decode bytes explicitly"),
        (datetime(2025, 1, 2), "naive datetime"),
        ([1], "format it explicitly"),
    ],
)
def test_to_str_refuses(value: Any, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        to_str(value)


def test_to_str_and_back_is_identity() -> None:
    for number in (Decimal("-12.340"), Decimal("1E+5"), Decimal("0.000001")):
        assert to_decimal(to_str(number)) == number
    moment = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=CET)
    assert parse_datetime(to_str(moment)) == moment
    assert to_int(to_str(-99)) == -99


# --- datetimes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-31T12:00:00Z", datetime(2025, 1, 31, 12, tzinfo=UTC)),
        ("2025-01-31T12:00:00+02:00", datetime(2025, 1, 31, 10, tzinfo=UTC)),
        ("2025-01-31T12:00:00.123456Z", datetime(2025, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2025-01-31 12:00:00+00:00", datetime(2025, 1, 31, 12, tzinfo=UTC)),
    ],
)
def test_parse_datetime_with_offset(text: str, expected: datetime) -> None:
    result = parse_datetime(text)
    assert result == expected
    assert result.tzinfo is not None


def test_parse_datetime_without_offset_needs_a_default_tz() -> None:
    with pytest.raises(ConversionError, match="no timezone; pass default_tz="):
        parse_datetime("2025-01-31T12:00:00")
    assert parse_datetime("2025-01-31T12:00:00", default_tz=CET) == datetime(
        2025, 1, 31, 11, tzinfo=UTC
    )
    assert parse_datetime("2025-01-31", default_tz=UTC) == datetime(2025, 1, 31, tzinfo=UTC)
    with pytest.raises(ConversionError, match="no timezone"):
        parse_datetime(datetime(2025, 1, 1))
    aware = datetime(2025, 1, 1, tzinfo=CET)
    assert parse_datetime(aware) is aware
    # An explicit offset wins over the default.
    assert parse_datetime("2025-01-31T12:00:00Z", default_tz=CET).utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", "not an ISO-8601 date-time"),
        ("2025-13-01T00:00:00Z", "not an ISO-8601 date-time"),
        ("2025-01-31T12:00:00.1234567Z", "sub-microsecond"),
        (1700000000, "use from_epoch"),
        (None, "cannot parse a NoneType"),
    ],
)
def test_parse_datetime_refuses(value: Any, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        parse_datetime(value)


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (0, "s", datetime(1970, 1, 1, tzinfo=UTC)),
        (1_700_000_000, "s", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("1700000000", "s", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (Decimal("1.5"), "s", datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)),
        (1_700_000_000_123, "ms", datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)),
        (1_000_001, "us", datetime(1970, 1, 1, 0, 0, 1, 1, tzinfo=UTC)),
        (-86400, "s", datetime(1969, 12, 31, tzinfo=UTC)),
        (0.25, "s", datetime(1970, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_from_epoch(value: Any, unit: Any, expected: datetime) -> None:
    assert from_epoch(value, unit=unit) == expected


@pytest.mark.parametrize(
    ("value", "unit", "message"),
    [
        (Decimal("1.0000001"), "s", "finer than a microsecond"),
        (Decimal("1.5"), "us", "finer than a microsecond"),
        (10**15, "s", "outside the years"),
        (True, "s", "is a bool"),
        ("soon", "s", "not a number"),
        (1, "h", "unknown epoch unit"),
    ],
)
def test_from_epoch_refuses(value: Any, unit: Any, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        from_epoch(value, unit=unit)


def test_to_epoch() -> None:
    moment = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert to_epoch(moment) == 1_700_000_000
    assert to_epoch(moment.astimezone(CET)) == 1_700_000_000
    assert to_epoch("2023-11-14T22:13:20Z") == 1_700_000_000
    precise = moment + timedelta(microseconds=123000)
    assert to_epoch(precise, unit="ms") == 1_700_000_000_123
    assert to_epoch(precise, unit="us") == 1_700_000_000_123_000
    with pytest.raises(ConversionError, match="finer than one s; pass truncate=True"):
        to_epoch(precise)
    assert to_epoch(precise, truncate=True) == 1_700_000_000
    before_epoch = datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)
    assert to_epoch(before_epoch, truncate=True) == -1  # rounds toward the past
    with pytest.raises(ConversionError, match="naive datetime"):
        to_epoch(datetime(2025, 1, 1))
    with pytest.raises(ConversionError, match="unknown epoch unit"):
        to_epoch(moment, unit="m")  # type: ignore[arg-type]
    with pytest.raises(ConversionError, match="cannot convert a int"):
        to_epoch(5)  # type: ignore[arg-type]


def test_epoch_round_trip() -> None:
    for seconds in (0, 1, 1_700_000_000, -5):
        assert to_epoch(from_epoch(seconds)) == seconds
    assert to_epoch(from_epoch(1_700_000_000_123, unit="ms"), unit="ms") == 1_700_000_000_123


# --- to_set -----------------------------------------------------------------------------------


def test_to_set() -> None:
    assert to_set(["a", "b"]) == {"a", "b"}
    assert to_set((1, 2, 3)) == {1, 2, 3}
    assert to_set([]) == set()
    assert to_set(x for x in "ab") == {"a", "b"}
    with pytest.raises(ConversionError, match="duplicate elements 'a' would collapse"):
        to_set(["a", "b", "a"])
    assert to_set(["a", "b", "a"], allow_duplicates=True) == {"a", "b"}
    with pytest.raises(ConversionError, match="and 1 more"):
        to_set([1, 1, 2, 2, 3, 3, 4, 4])
    with pytest.raises(ConversionError, match="cannot convert a str to a set"):
        to_set("abc")
    with pytest.raises(ConversionError, match="cannot convert a dict"):
        to_set({"a": 1})
    with pytest.raises(ConversionError, match="unhashable"):
        to_set([[1], [2]])  # type: ignore[type-var]


# --- Reshape ----------------------------------------------------------------------------------


class MemberAddress(msgspec.Struct):
    city: str


class MemberV1(Model, table="users"):
    id: Annotated[str, HashKey()]
    name: str
    joined: str
    age: str | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    legacy: str = ""


class MemberV2(Model, table="users"):
    id: Annotated[str, HashKey()]
    full_name: str
    joined: datetime
    age: int | None = None
    tags: set[str] = msgspec.field(default_factory=set)
    plan: str = "free"
    address: MemberAddress | None = None
    notes: list[str] = msgspec.field(default_factory=list)


def v1(**kw: Any) -> MemberV1:
    fields: dict[str, Any] = {
        "id": "u1",
        "name": "Ada",
        "age": "36",
        "joined": "2024-05-01T10:00:00Z",
        "tags": ["x", "y"],
        "legacy": "old",
    }
    fields.update(kw)
    return MemberV1(**fields)


UPGRADE = Reshape(
    MemberV2,
    rename={"name": "full_name"},
    drop=["legacy"],
    defaults={"plan": "pro", "notes": ["migrated"]},
    convert={"age": to_int, "joined": parse_datetime, "tags": to_set},
    source=MemberV1,
)


def test_reshape_copies_renames_converts_and_defaults() -> None:
    result = UPGRADE(v1())
    assert result == MemberV2(
        id="u1",
        full_name="Ada",
        age=36,
        joined=datetime(2024, 5, 1, 10, tzinfo=UTC),
        tags={"x", "y"},
        plan="pro",
        notes=["migrated"],
    )
    assert "Reshape(MemberV2" in repr(UPGRADE)


def test_reshape_defaults_are_copied_per_item() -> None:
    first = UPGRADE(v1())
    first.notes.append("changed")
    assert UPGRADE(v1()).notes == ["migrated"]


def test_reshape_passes_none_through_converters() -> None:
    assert UPGRADE(v1(age=None)).age is None


def test_reshape_conversion_errors_name_the_field() -> None:
    with pytest.raises(ConversionError, match=r"^age: '3\.5' has a fractional part") as info:
        UPGRADE(v1(age="3.5"))
    assert info.value.field == "age"
    with pytest.raises(ConversionError, match="tags: duplicate elements"):
        UPGRADE(v1(tags=["a", "a"]))


def test_reshape_wraps_plain_exceptions_of_converters() -> None:
    shape = Reshape(MemberV2, rename={"name": "full_name"}, drop=["legacy"],
                    convert={"age": int, "joined": parse_datetime})
    with pytest.raises(ConversionError, match="age: ValueError: invalid literal"):
        shape(v1(age="x"))


def test_reshape_leaves_validation_to_the_writer() -> None:
    shape = Reshape(MemberV2, rename={"name": "full_name"}, drop=["legacy"],
                    convert={"joined": parse_datetime})
    # age stays a str; migrate() (or put()) rejects such a result before writing it.
    result = shape(v1())
    assert result.age == "36"  # type: ignore[comparison-overlap]
    with pytest.raises(ValidationError, match=r"MemberV2\.age: expected an int, got str .36."):
        MemberV2.__dynamorm__.encode_checked(result)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rename": {"name": "full_name"}}, "source field 'legacy' has no place in MemberV2"),
        ({"rename": {"name": "nom"}, "drop": ["legacy"]}, "maps 'name' to 'nom'"),
        ({"drop": ["legacy", "nope"], "rename": {"name": "full_name"}}, "drop= names fields"),
        ({"rename": {"nope": "x"}, "drop": ["legacy"]}, "rename= names fields"),
        ({"rename": {"name": "full_name"}, "drop": ["legacy", "name"]}, "renamed and dropped"),
        ({"drop": ["legacy", "name"]}, r"target fields \['full_name'\] get no value"),
        (
            {"rename": {"name": "full_name", "legacy": "full_name"}},
            "both map to 'full_name'",
        ),
        (
            {"rename": {"name": "full_name"}, "drop": ["legacy"], "convert": {"plan": str}},
            "convert= names",
        ),
        (
            {"rename": {"name": "full_name"}, "drop": ["legacy"], "defaults": {"age": 1}},
            "also given defaults=",
        ),
        (
            {"rename": {"name": "full_name"}, "drop": ["legacy"], "defaults": {"zzz": 1}},
            "defaults= names fields",
        ),
    ],
)
def test_reshape_configuration_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        Reshape(MemberV2, source=MemberV1, **kwargs)
    assert not isinstance(info.value, ConversionError)


def test_reshape_without_source_checks_on_first_call() -> None:
    shape = Reshape(MemberV2, rename={"name": "full_name"})
    with pytest.raises(ValidationError, match="'legacy' has no place"):
        shape(v1())
