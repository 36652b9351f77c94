"""DynamoDB's wire-format rules (``_wire``): numbers, base64, datetimes, epoch seconds, type tags
and the canonical form of values and keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynamorm_async import ItemDecodeError, ValidationError
from dynamorm_async._wire.values import (
    EPOCH,
    KEY_KINDS,
    SET_TAGS,
    TYPE_NAMES,
    TypeKind,
    canonical,
    canonical_order,
    decode_binary,
    decode_datetime,
    encode_binary,
    epoch_datetime,
    epoch_seconds,
    format_datetime,
    format_number,
    key_fingerprint,
    number_problem,
    number_size,
    parse_decimal,
    parse_number,
    tag_of,
)

# --- number limits ----------------------------------------------------------------------------

NINES_38 = "9" * 38


@pytest.mark.parametrize(
    "value",
    [
        10**37,  # 38 digits
        int(NINES_38),
        -int(NINES_38),
        10**125,  # one digit, the largest exponent
        Decimal("1E-130"),
        Decimal("-1E-130"),
        Decimal("9.9E+125"),
        Decimal(f"9.{'9' * 37}E+125"),
        Decimal(f"1.{'0' * 36}1"),  # 38 significant digits
        Decimal("1.5000000000000000000000000000000000000000000"),  # trailing zeros are free
        Decimal(0),
        Decimal("0E-500"),
        0.1,
        1e-130,
        1.7976931348623157e100,
    ],
)
def test_numbers_within_dynamodbs_limits_are_stored(value: Any) -> None:
    text = format_number(value)
    assert Decimal(text) == Decimal(repr(value) if isinstance(value, float) else value)
    assert number_problem(Decimal(text)) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (10**38 + 1, "39 significant digits"),
        (int(NINES_38 + "9"), "39 significant digits"),
        (10**126, "outside DynamoDB's number range"),
        (-(10**126), "outside DynamoDB's number range"),
        (Decimal("1E+126"), "outside DynamoDB's number range"),
        (Decimal("1E-131"), "outside DynamoDB's number range"),
        (Decimal(f"1.{'0' * 37}1"), "39 significant digits"),
        (1e-131, "outside DynamoDB's number range"),
        (1e200, "outside DynamoDB's number range"),
    ],
)
def test_numbers_beyond_dynamodbs_limits_are_rejected(value: Any, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        format_number(value)


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), -float("inf"), Decimal("NaN"), Decimal("-Infinity")]
)
def test_nan_and_infinity_are_rejected(value: Any) -> None:
    with pytest.raises(ValidationError, match="no NaN or Infinity"):
        format_number(value)


@pytest.mark.parametrize("value", [True, "1", None, [1]])
def test_non_numbers_are_rejected(value: Any) -> None:
    with pytest.raises(ValidationError):
        format_number(value)


def test_numbers_keep_their_spelling_and_floats_use_the_canonical_exponent() -> None:
    assert format_number(Decimal("1.50")) == "1.50"
    assert format_number(1e-7) == "1E-7"
    assert format_number(0.5) == "0.5"
    assert format_number(-12) == "-12"


def test_parse_number_is_exact_and_rejects_what_is_not_a_finite_number() -> None:
    assert parse_number(NINES_38) == int(NINES_38)
    assert parse_number("1.50") == Decimal("1.5")
    assert parse_number("1E+2") == 100 and isinstance(parse_number("1E+2"), int)
    assert parse_decimal("-0.001") == Decimal("-0.001")
    for bad in ("twelve", "NaN", "Infinity", ""):
        with pytest.raises(ItemDecodeError, match="malformed number"):
            parse_number(bad)


def test_number_size_counts_significant_digits() -> None:
    assert number_size("1") == 2
    assert number_size("-123.4500") == 4  # 12345: five digits
    assert number_size("1E+100") == 2
    assert number_size(NINES_38) == 20


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_every_decimal_is_stored_exactly_or_rejected(value: Decimal) -> None:
    try:
        text = format_number(value)
    except ValidationError:
        assert number_problem(value) is not None
    else:
        assert Decimal(text) == value
        assert parse_number(text) == value


# --- canonical form and key fingerprints -------------------------------------------------------


def test_one_number_in_every_spelling_has_one_canonical_form() -> None:
    spellings = [Decimal("1.0"), Decimal("1"), 1, 1.0, Decimal("1.000"), Decimal("0.1E+1")]
    forms = {canonical({"N": format_number(v)}) for v in spellings}
    assert forms == {("N", Decimal(1))}
    fingerprints = {
        key_fingerprint("t", ("k",), {"k": {"N": format_number(v)}}) for v in spellings
    }
    assert len(fingerprints) == 1
    assert canonical({"N": "-0"}) == canonical({"N": "0.00"})
    assert key_fingerprint("t", ("k",), {"k": {"N": "-0"}}) == key_fingerprint(
        "t", ("k",), {"k": {"N": "0"}}
    )


def test_numbers_differing_in_the_38th_digit_stay_different() -> None:
    low, high = f"1.{'0' * 36}1", f"1.{'0' * 36}2"
    assert canonical({"N": low}) != canonical({"N": high})
    assert key_fingerprint("t", ("k",), {"k": {"N": low}}) != key_fingerprint(
        "t", ("k",), {"k": {"N": high}}
    )


def test_canonical_form_ignores_order_and_binary_spelling() -> None:
    raw = b"\x00\xffkey"
    assert canonical({"B": encode_binary(raw)}) == canonical({"B": raw}) == ("B", raw)
    assert canonical({"NS": ["1", "2.0"]}) == canonical({"NS": ["2", "1.00"]})
    assert canonical({"SS": ["a", "b"]}) == canonical({"SS": ["b", "a"]})
    left = {"M": {"a": {"N": "1"}, "b": {"L": [{"S": "x"}, {"NULL": True}]}}}
    right = {"M": {"b": {"L": [{"S": "x"}, {"NULL": True}]}, "a": {"N": "1.0"}}}
    assert canonical(left) == canonical(right)
    assert canonical({"L": [{"N": "1"}, {"N": "2"}]}) != canonical({"L": [{"N": "2"}, {"N": "1"}]})
    assert canonical({"NULL": True}) is None and canonical(None) is None
    assert canonical({"S": "1"}) != canonical({"N": "1"})


def test_canonical_order_sorts_mixed_types_by_type_then_value() -> None:
    values = [{"S": "b"}, {"N": "10"}, None, {"S": "a"}, {"N": "9.5"}, {"BOOL": False}]
    ordered = sorted((canonical(v) for v in values), key=canonical_order)
    assert ordered == [
        None,
        ("BOOL", False),
        ("N", Decimal("9.5")),
        ("N", Decimal(10)),
        ("S", "a"),
        ("S", "b"),
    ]


def test_malformed_values_have_no_canonical_form() -> None:
    with pytest.raises(ItemDecodeError, match="malformed"):
        canonical({"X": 1})
    with pytest.raises(ItemDecodeError, match="malformed"):
        canonical({})
    with pytest.raises(ValidationError, match="'k' is missing"):
        key_fingerprint("t", ("k",), {"other": {"S": "x"}})


# --- base64 -----------------------------------------------------------------------------------


@given(st.binary(max_size=200))
def test_binary_round_trips_through_base64(raw: bytes) -> None:
    text = encode_binary(raw)
    assert "\n" not in text
    assert decode_binary(text) == raw
    assert encode_binary(bytearray(raw)) == encode_binary(memoryview(raw)) == text
    assert decode_binary(raw) == raw  # boto3 shapes carry raw bytes


def test_malformed_base64_is_rejected() -> None:
    for bad in ("abc", "a===", "not base64!", 12):
        with pytest.raises(ItemDecodeError, match="malformed binary"):
            decode_binary(bad)
    with pytest.raises(ValidationError, match="expected bytes"):
        encode_binary(12)


# --- datetimes and epoch seconds --------------------------------------------------------------


def test_datetime_text_is_fixed_width_utc_and_round_trips() -> None:
    plus2 = timezone(timedelta(hours=2))
    value = datetime(2025, 1, 31, 14, 0, tzinfo=plus2)
    text = format_datetime(value)
    assert text == "2025-01-31T12:00:00.000000Z"
    assert decode_datetime(text) == value
    with pytest.raises(ValidationError, match="naive datetime"):
        format_datetime(datetime(2025, 1, 1))
    with pytest.raises(ValidationError, match="expected a datetime, got str"):
        format_datetime("2025-01-31T12:00:00Z")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (datetime(1970, 1, 1, tzinfo=UTC), 0),
        (datetime(2025, 1, 31, 12, 0, 0, 999999, tzinfo=UTC), 1738324800),
        (datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC), -1),  # toward the past
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), 253402300799),
        (datetime(1970, 1, 1, 2, 0, 0, tzinfo=timezone(timedelta(hours=2))), 0),
    ],
)
def test_epoch_seconds_drop_the_fraction_toward_the_past(value: datetime, seconds: int) -> None:
    assert epoch_seconds(value) == {"N": str(seconds)}
    assert epoch_datetime(str(seconds)) == value.replace(microsecond=0)


def test_epoch_seconds_take_only_aware_datetimes() -> None:
    with pytest.raises(ValidationError, match="expected a datetime, got int 1700000000"):
        epoch_seconds(1700000000)
    with pytest.raises(ValidationError, match="naive datetime"):
        epoch_seconds(datetime(2025, 1, 1))


def test_epoch_datetime_reads_every_spelling_of_epoch_seconds() -> None:
    expected = EPOCH + timedelta(seconds=1700000000)
    for spelling in ("1700000000", "1.7E+9", "1700000000.9", 1700000000, Decimal("1700000000.5")):
        assert epoch_datetime(spelling) == expected
    assert epoch_datetime("-1.5") == EPOCH - timedelta(seconds=2)
    assert epoch_datetime("0").tzinfo is UTC


@pytest.mark.parametrize("bad", ["1E+20", "-1E+20", "soon", True, None, "NaN"])
def test_epoch_datetime_rejects_what_is_not_a_datetime(bad: Any) -> None:
    with pytest.raises(ItemDecodeError, match="malformed"):
        epoch_datetime(bad)


@given(st.datetimes(timezones=st.just(UTC)))
def test_epoch_seconds_read_back_as_the_datetime_truncated_to_the_second(value: datetime) -> None:
    assert epoch_datetime(epoch_seconds(value)["N"]) == value.replace(microsecond=0)


# --- type tags --------------------------------------------------------------------------------


def test_type_tag_tables_agree() -> None:
    assert set(TYPE_NAMES) == {kind.value for kind in TypeKind if kind is not TypeKind.ANY}
    assert set(SET_TAGS) <= set(TYPE_NAMES)
    assert [kind.value for kind in KEY_KINDS] == ["S", "N", "B"]
    assert tag_of({"SS": ["a"]}) == "SS"
    with pytest.raises(ItemDecodeError, match="malformed attribute value"):
        tag_of({})
