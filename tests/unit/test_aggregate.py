"""Client-side aggregation over wire items: aggregates, HAVING, grouping, ordering, merging."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal
from typing import Annotated, Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamorm_async._aggregate.accumulator import (
    GroupAccumulator,
    Row,
    count_only,
    needed_attributes,
)
from dynamorm_async._aggregate.functions import (
    Aggregate,
    Avg,
    Count,
    HavingCondition,
    Max,
    Min,
    Sum,
)
from dynamorm_async._errors import ItemDecodeError, ValidationError
from dynamorm_async._expressions.core import AttributePath, as_path
from dynamorm_async._model.model import TTL, HashKey, Model, RangeKey
from tests.shared_types import Address


class AggOrder(Model, table="orders"):
    """One field of every type an aggregate or a group key reads."""

    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    status: str = "new"
    total: Decimal = Decimal(0)
    qty: int = 0
    paid: bool = False
    placed_at: datetime | None = None
    day: date | None = None
    expires_at: Annotated[datetime | None, TTL()] = None
    ship_to: Address | None = None
    lines: list[str] = msgspec.field(default_factory=list)
    tags: set[str] = msgspec.field(default_factory=set)
    blob: bytes | None = None
    note: str | None = msgspec.field(default=None, name="n")


def attr(value: object) -> AttributePath:
    """``AggOrder.x`` as the AttributePath it is at runtime (type checkers see the field type)."""
    return as_path(value)


KEY = ("customer", "order_id")
T0 = datetime(2025, 1, 1, tzinfo=UTC)
_counter = iter(range(10**9))


def order(**fields: Any) -> dict[str, Any]:
    """A wire item for an AggOrder; key fields default to unique values."""
    fields.setdefault("customer", "c1")
    fields.setdefault("order_id", f"o{next(_counter)}")
    return AggOrder(**fields).to_dynamodb()


def raw(order_id: str, **attributes: Any) -> dict[str, Any]:
    """A hand-written wire item (for values a model would refuse)."""
    return {"customer": {"S": "c1"}, "order_id": {"S": order_id}, **attributes}


def fold(accumulator: GroupAccumulator, items: Iterable[dict[str, Any]]) -> None:
    """Fold every item, as the executor does page by page."""
    for item in items:
        accumulator.add(item)


def one_row(aggregates: dict[str, Aggregate[Any, Any]], items: list[dict[str, Any]]) -> Row:
    acc = GroupAccumulator([], aggregates, key_attributes=KEY)
    fold(acc, items)
    (row,) = acc.rows()
    return row


# --- individual aggregates ----------------------------------------------------------------


def test_every_aggregate_over_numbers() -> None:
    items = [order(total=Decimal(v)) for v in ("12.50", "-3", "0", "7.25")]
    row = one_row(
        {
            "n": Count(),
            "s": Sum(AggOrder.total),
            "a": Avg(AggOrder.total),
            "lo": Min(AggOrder.total),
            "hi": Max(AggOrder.total),
        },
        items,
    )
    assert row.values == {
        "n": 4,
        "s": Decimal("16.75"),
        "a": Decimal("4.1875"),
        "lo": Decimal("-3"),
        "hi": Decimal("12.5"),
    }
    assert isinstance(row["s"], Decimal) and isinstance(row["a"], Decimal)


def test_numbers_compare_as_numbers_not_text() -> None:
    items = [order(qty=q) for q in (9, 10, 100, -20)]
    row = one_row({"lo": Min(AggOrder.qty), "hi": Max(AggOrder.qty), "s": Sum(AggOrder.qty)}, items)
    assert (row.lo, row.hi, row.s) == (-20, 100, Decimal(99))
    assert type(row.lo) is int  # decoded with the path's annotation


def test_missing_null_zero_and_false() -> None:
    items = [
        raw("a", total={"N": "0"}, paid={"BOOL": False}),
        raw("b", total={"NULL": True}, paid={"NULL": True}),
        raw("c"),
        raw("d", total={"N": "5"}, paid={"BOOL": True}),
    ]
    row = one_row(
        {
            "items": Count(),
            "with_total": Count(AggOrder.total),
            "with_paid": Count(AggOrder.paid),
            "s": Sum(AggOrder.total),
            "a": Avg(AggOrder.total),
            "lo": Min(AggOrder.total),
        },
        items,
    )
    assert row.values == {
        "items": 4,
        "with_total": 2,
        "with_paid": 2,
        "s": Decimal(5),
        "a": Decimal("2.5"),
        "lo": 0,
    }


def test_no_values_gives_sql_results() -> None:
    aggregates: dict[str, Aggregate[Any, Any]] = {
        "n": Count(),
        "m": Count(AggOrder.total),
        "s": Sum(AggOrder.total),
        "a": Avg(AggOrder.total),
        "lo": Min(AggOrder.total),
        "hi": Max(AggOrder.total),
    }
    expected = {"n": 0, "m": 0, "s": None, "a": None, "lo": None, "hi": None}
    assert one_row(aggregates, []).values == expected
    only_missing = one_row(aggregates, [raw("a"), raw("b", total={"NULL": True})])
    assert only_missing.values == {**expected, "n": 2}


def test_sums_are_exact() -> None:
    items = [raw(str(i), total={"N": "0.1"}) for i in range(10_000)]
    row = one_row({"s": Sum(AggOrder.total), "a": Avg(AggOrder.total)}, items)
    assert row.s == Decimal("1000.0")
    assert str(row.s) == "1000.0"
    assert row.a == Decimal("0.1")


def test_sums_span_dynamodb_number_range_exactly() -> None:
    items = [
        raw("a", total={"N": "9.9999999999999999999999999999999999999E+125"}),
        raw("b", total={"N": "1E-130"}),
        raw("c", total={"N": "-9.9999999999999999999999999999999999999E+125"}),
    ]
    assert one_row({"s": Sum(AggOrder.total)}, items).s == Decimal("1E-130")


def test_avg_rounds_only_the_final_division_to_38_digits() -> None:
    items = [raw(str(v), total={"N": str(v)}) for v in (1, 1, 2)]
    avg = one_row({"a": Avg(AggOrder.total)}, items).a
    assert avg == Decimal("1." + "3" * 37)
    assert len(avg.as_tuple().digits) == 38
    halves = [raw("x", total={"N": "1"}), raw("y", total={"N": "2"})]
    assert one_row({"a": Avg(AggOrder.total)}, halves).a == Decimal("1.5")


def test_min_max_strings_by_code_point() -> None:
    items = [order(status=s) for s in ("paid", "Zed", "apple", "\u00e9t\u00e9", "")]
    row = one_row({"lo": Min(AggOrder.status), "hi": Max(AggOrder.status)}, items)
    assert (row.lo, row.hi) == ("", "\u00e9t\u00e9")


def test_min_max_datetimes_decode_back() -> None:
    stamps = [T0 + timedelta(days=d, microseconds=m) for d, m in ((3, 0), (-400, 5), (10, 1))]
    items = [order(placed_at=s) for s in stamps] + [order()]
    row = one_row({"first": Min(AggOrder.placed_at), "last": Max(AggOrder.placed_at)}, items)
    assert row.first == min(stamps)
    assert row.last == max(stamps)
    assert isinstance(row.first, datetime) and row.first.tzinfo is not None


def test_min_max_dates_and_ttl_epoch_datetimes() -> None:
    items = [
        order(day=date(2024, 5, 1), expires_at=T0 + timedelta(hours=2)),
        order(day=date(2023, 12, 31), expires_at=T0 - timedelta(hours=2)),
    ]
    row = one_row({"d": Min(AggOrder.day), "e": Max(AggOrder.expires_at)}, items)
    assert row.d == date(2023, 12, 31)
    assert row.e == T0 + timedelta(hours=2)


def test_min_max_binary_by_bytes() -> None:
    items = [order(blob=b) for b in (b"\x10", b"\x02\xff", b"\x02")]
    row = one_row({"lo": Min(AggOrder.blob), "hi": Max(AggOrder.blob)}, items)
    assert (row.lo, row.hi) == (b"\x02", b"\x10")


def test_min_max_without_annotation_are_untagged() -> None:
    path = AttributePath(("score",))
    items = [raw("a", score={"N": "2.5"}), raw("b", score={"N": "10"})]
    row = one_row({"lo": Min(path), "hi": Max(path)}, items)
    assert (row.lo, row.hi) == (Decimal("2.5"), 10)


def test_nested_paths() -> None:
    items = [
        order(ship_to=Address(city="Berlin"), lines=["3", "x"]),
        order(ship_to=Address(city="Aachen", zip="52062"), lines=["1"]),
        order(ship_to=Address(city="Zurich")),
        order(),
        raw("odd", ship_to={"L": [{"S": "not a map"}]}, lines={"M": {"0": {"S": "nope"}}}),
    ]
    row = one_row(
        {
            "cities": Count(attr(AggOrder.ship_to).city),
            "zips": Count(attr(AggOrder.ship_to).zip),
            "first": Min(attr(AggOrder.ship_to).city),
            "line0": Max(AggOrder.lines[0]),
            "line1": Count(AggOrder.lines[1]),
            "line9": Count(AggOrder.lines[9]),
        },
        items,
    )
    assert row.values == {
        "cities": 3,
        "zips": 1,
        "first": "Aachen",
        "line0": "3",
        "line1": 1,
        "line9": 0,
    }


def test_map_key_paths() -> None:
    path = AttributePath(("stats",), dict[str, int])["views"]
    items = [raw("a", stats={"M": {"views": {"N": "3"}}}), raw("b", stats={"M": {}})]
    assert one_row({"s": Sum(path), "n": Count(path)}, items).values == {"s": 3, "n": 1}


# --- type errors --------------------------------------------------------------------------


def test_mixed_types_name_the_aggregate_and_item_key() -> None:
    acc = GroupAccumulator([], {"lo": Min(AggOrder.total)}, key_attributes=KEY)
    acc.add(raw("o1", total={"N": "1"}))
    with pytest.raises(ItemDecodeError) as info:
        acc.add(raw("o2", total={"S": "one"}))
    assert "Min(total)" in str(info.value)
    assert "string" in str(info.value) and "number" in str(info.value)
    assert info.value.key == {"customer": "c1", "order_id": "o2"}
    assert "'o1'" in str(info.value)  # the item that set the earlier type


@pytest.mark.parametrize("aggregate", [Sum(AggOrder.total), Avg(AggOrder.total)])
def test_sum_and_avg_need_numbers(aggregate: Aggregate[Any, Any]) -> None:
    acc = GroupAccumulator([], {"x": aggregate}, key_attributes=KEY)
    with pytest.raises(ItemDecodeError, match=r"\(total\) adds numbers.*string") as info:
        acc.add(raw("o7", total={"S": "12"}))
    assert info.value.key == {"customer": "c1", "order_id": "o7"}
    assert info.value.model is AggOrder and info.value.path == "AggOrder.total"
    assert info.value.item == raw("o7", total={"S": "12"})


@pytest.mark.parametrize(
    "value", [{"BOOL": True}, {"L": []}, {"M": {}}, {"SS": ["a"]}, {"NS": ["1"]}]
)
def test_min_max_reject_uncomparable_types(value: dict[str, Any]) -> None:
    acc = GroupAccumulator([], {"hi": Max(AggOrder.total)}, key_attributes=KEY)
    with pytest.raises(ItemDecodeError, match="compares numbers, strings or binary"):
        acc.add(raw("o1", total=value))


def test_errors_without_key_attributes_still_explain() -> None:
    acc = GroupAccumulator([], {"s": Sum(AggOrder.total)})
    with pytest.raises(ItemDecodeError, match="Sum\\(total\\) adds numbers") as info:
        acc.add(raw("o1", total={"BOOL": True}))
    assert info.value.key is None


def test_failed_add_leaves_the_accumulator_unchanged() -> None:
    acc = GroupAccumulator(
        [attr(AggOrder.status)], {"n": Count(), "s": Sum(AggOrder.total)}, key_attributes=KEY
    )
    acc.add(order(status="a", total=Decimal(1)))
    with pytest.raises(ItemDecodeError):
        acc.add(raw("bad", status={"S": "a"}, total={"S": "x"}))
    with pytest.raises(ItemDecodeError):
        acc.add(raw("bad2", status={"S": "new group"}, total={"S": "x"}))
    assert acc.rows() == [Row("a", {"n": 1, "s": Decimal(1)})]
    assert acc.group_count == 1


def test_merging_mixed_types_fails() -> None:
    a = GroupAccumulator([], {"lo": Min(AggOrder.total)}, key_attributes=KEY)
    b = GroupAccumulator([], {"lo": Min(AggOrder.total)}, key_attributes=KEY)
    a.add(raw("o1", total={"N": "1"}))
    b.add(raw("o2", total={"S": "x"}))
    with pytest.raises(ItemDecodeError, match="mixes value types"):
        a.merge(b)
    assert a.rows()[0].lo == 1


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Sum(AggOrder.status), r"Sum\(status\) adds numbers, but AggOrder.status is typed"),
        (lambda: Avg(AggOrder.paid), r"Avg\(paid\) adds numbers"),
        (lambda: Sum(attr(AggOrder.ship_to).city), r"adds numbers"),
        (lambda: Avg(AggOrder.placed_at), r"adds numbers"),
        (lambda: Min(AggOrder.paid), r"Min\(paid\) compares numbers, strings or binary"),
        (lambda: Max(AggOrder.tags), r"compares numbers, strings or binary"),
        (lambda: Max(AggOrder.ship_to), r"compares numbers, strings or binary"),
    ],
)
def test_aggregates_over_unfit_field_types_fail_when_built(
    build: Callable[[], object], match: str
) -> None:
    with pytest.raises(ValidationError, match=match):
        build()


def test_aggregates_over_fit_field_types_build() -> None:
    for aggregate in (
        Sum(AggOrder.qty),
        Avg(AggOrder.total),
        Min(AggOrder.status),
        Max(AggOrder.placed_at),
        Min(AggOrder.blob),
        Max(AggOrder.expires_at),
        Sum(AttributePath(("stats",), dict[str, Any])["x"]),
    ):
        assert aggregate.path is not None


def test_aggregates_need_paths() -> None:
    for kind in (Sum, Avg, Min, Max):
        with pytest.raises(ValidationError, match="needs an attribute path"):
            kind(None)
        with pytest.raises(ValidationError, match="attribute path"):
            kind("total")
    with pytest.raises(ValidationError, match="attribute path"):
        Count(3)


def test_aggregates_are_immutable_values() -> None:
    total = Sum(AggOrder.total)
    with pytest.raises(AttributeError):
        total.path = None
    assert total.key == ("sum", ("total",))
    assert Count().key == ("count", ())
    assert Count(AggOrder.total).key == ("count", ("total",))
    assert hash(Sum(AggOrder.total)) == hash(total)
    assert total.same_as(Sum(AggOrder.total))
    assert not total.same_as(Avg(AggOrder.total))
    assert {a.key for a in (Sum(AggOrder.total), Sum(AggOrder.total), Sum(AggOrder.qty))} == {
        ("sum", ("total",)),
        ("sum", ("qty",)),
    }
    assert repr(Max(attr(AggOrder.ship_to).city)) == "Max(ship_to.city)"
    assert repr(Count()) == "Count()"


# --- HAVING -------------------------------------------------------------------------------


def having_rows(having: HavingCondition, **extra: Aggregate[Any, Any]) -> list[Any]:
    acc = GroupAccumulator(
        [attr(AggOrder.status)], {"n": Count(), **extra}, having=having, key_attributes=KEY
    )
    fold(
        acc,
        [
            order(status="a", total=Decimal(60)),
            order(status="a", total=Decimal(50)),
            order(status="b", total=Decimal(100)),
            order(status="c", total=Decimal(5)),
            order(status="c", total=Decimal(5)),
            order(status="c", total=Decimal(5)),
            raw("d1", status={"S": "d"}),
        ]
    )
    return [row.key for row in acc.rows()]


@pytest.mark.parametrize(
    ("having", "keys"),
    [
        (Sum(AggOrder.total) > 100, ["a"]),
        (Sum(AggOrder.total) >= 100, ["a", "b"]),
        (Sum(AggOrder.total) == 100, ["b"]),
        (Sum(AggOrder.total) != 100, ["a", "c"]),
        (Sum(AggOrder.total) < 100, ["c"]),
        (Sum(AggOrder.total) <= 100, ["b", "c"]),
        (Count() >= 2, ["a", "c"]),
        (Count() == 1, ["b", "d"]),
        ((Count() >= 2) & (Sum(AggOrder.total) > 50), ["a"]),
        ((Count() >= 3) | (Sum(AggOrder.total) == 100), ["b", "c"]),
        (~(Count() >= 2), ["b", "d"]),
        (~~(Count() >= 2), ["a", "c"]),
        ((Count() > 0) & (Count() < 3) & (Max(AggOrder.total) >= 60), ["a", "b"]),
        ((Count() == 3) | (Count() == 1) | (Min(AggOrder.total) == 50), ["a", "b", "c", "d"]),
        (100 < Sum(AggOrder.total), ["a"]),  # noqa: SIM300 - the reflected operator
        (Max(AggOrder.total) > Avg(AggOrder.total), ["a"]),
        (Sum(AggOrder.total) > 99.5, ["a", "b"]),
        (Avg(AggOrder.total) == Decimal("55"), ["a"]),
    ],
)
def test_having(having: HavingCondition, keys: list[str]) -> None:
    assert having_rows(having) == keys


def test_having_with_none_results_uses_three_valued_logic() -> None:
    # Group "d" has no totals: Sum is None, so comparisons are unknown, and so is their NOT.
    assert having_rows(Sum(AggOrder.total) > 0) == ["a", "b", "c"]
    assert having_rows(~(Sum(AggOrder.total) > 0)) == []
    assert having_rows(~(Sum(AggOrder.total) != 0)) == []
    assert having_rows((Sum(AggOrder.total) > 0) | (Count() == 1)) == ["a", "b", "c", "d"]
    # unknown AND false is false; unknown AND true stays unknown.
    assert having_rows(~((Sum(AggOrder.total) > 0) & (Count() == 5))) == ["a", "b", "c", "d"]
    assert having_rows(~((Sum(AggOrder.total) > 1000) & (Count() == 1))) == ["a", "b", "c"]


def test_having_only_aggregates_are_computed_not_shown() -> None:
    acc = GroupAccumulator(
        [attr(AggOrder.status)],
        {"total": Sum(AggOrder.total)},
        having=(Count() >= 2) & (Sum(AggOrder.total) > 1),
    )
    fold(acc, [order(status="a", total=Decimal(1)), order(status="a", total=Decimal(2))])
    acc.add(order(status="b", total=Decimal(7)))
    assert acc.rows() == [Row("a", {"total": Decimal(3)})]


def test_same_aggregate_under_two_names_shares_one_result() -> None:
    acc = GroupAccumulator([], {"x": Sum(AggOrder.total), "y": Sum(AggOrder.total)})
    acc.add(order(total=Decimal(4)))
    assert acc.rows()[0].values == {"x": Decimal(4), "y": Decimal(4)}


def test_having_over_datetimes_and_strings() -> None:
    acc = GroupAccumulator(
        [attr(AggOrder.status)],
        {"first": Min(AggOrder.placed_at)},
        having=(Min(AggOrder.placed_at) >= T0) & (Max(AggOrder.customer) == "c1"),
    )
    fold(
        acc,
        [
            order(status="early", placed_at=T0 - timedelta(seconds=1)),
            order(status="late", placed_at=T0),
            order(status="late", placed_at=T0 + timedelta(days=1)),
        ]
    )
    assert acc.rows() == [Row("late", {"first": T0})]


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Sum(AggOrder.total) > None, "None"),
        (lambda: Count() == None, "None"),  # noqa: E711
        (lambda: Sum(AggOrder.total) > "100", "compare it with an int, float or Decimal"),
        (lambda: Count() > True, "compare it with an int"),
        (lambda: Avg(AggOrder.total) > float("nan"), "cannot compare"),
        (lambda: Min(AggOrder.placed_at) > datetime(2025, 1, 1), "naive datetime"),
        (lambda: Min(AggOrder.status) > 5, "expected str, got int 5"),
        (lambda: Max(AggOrder.qty) > "5", "compare it with an int, float or Decimal"),
        (lambda: Sum(AggOrder.total) > (Count() > 1), "cannot be compared as a value"),
        (lambda: (Count() > 1) & True, "expected a HAVING condition"),  # type: ignore[operator]
    ],
)
def test_having_rejects_bad_operands(build: Any, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        build()


def test_having_condition_has_no_truth_value() -> None:
    with pytest.raises(ValidationError, match="no truth value"):
        bool(Sum(AggOrder.total) > 1)
    with pytest.raises(ValidationError, match="no truth value"):
        _ = (Count() > 1) and (Count() < 3)


def test_having_comparison_type_error_is_a_validation_error() -> None:
    path = AttributePath(("label",))
    acc = GroupAccumulator([], {"lo": Min(path)}, having=Min(path) > "m")
    acc.add(raw("a", label={"N": "3"}))
    with pytest.raises(ValidationError, match="HAVING cannot compare"):
        acc.rows()


def test_having_evaluate_with_explicit_values() -> None:
    cond = (Sum(AggOrder.total) > 10) & ~(Count() == 0)
    assert cond.evaluate({Sum(AggOrder.total).key: Decimal(11), Count().key: 2})
    assert not cond.evaluate({Sum(AggOrder.total).key: None, Count().key: 2})
    assert {a.key for a in cond.aggregates()} == {("sum", ("total",)), ("count", ())}
    with pytest.raises(ValidationError, match="not computed"):
        cond.evaluate({Count().key: 2})
    assert "Sum(total) > 10" in repr(cond)


# --- grouping, rows and ordering ----------------------------------------------------------


def test_group_by_one_path_keys_are_values() -> None:
    acc = GroupAccumulator([attr(AggOrder.status)], {"n": Count()})
    fold(acc, [order(status="b"), order(status="a"), order(status="b")])
    assert acc.rows() == [Row("a", {"n": 1}), Row("b", {"n": 2})]


def test_group_by_several_paths_keys_are_tuples() -> None:
    acc = GroupAccumulator([attr(AggOrder.status), attr(AggOrder.paid)], {"n": Count()})
    fold(
        acc,
        [order(status="a", paid=True), order(status="a", paid=False), order(status="a", paid=True)]
    )
    assert [(r.key, r.n) for r in acc.rows()] == [(("a", False), 1), (("a", True), 2)]


def test_missing_group_value_is_its_own_group_first() -> None:
    acc = GroupAccumulator([attr(AggOrder.note)], {"n": Count()})
    fold(
        acc,
        [order(note="x"), order(), raw("null", n={"NULL": True}), order(note="a"), order()]
    )
    assert [(r.key, r.n) for r in acc.rows()] == [(None, 3), ("a", 1), ("x", 1)]


def test_group_values_decode_with_annotation() -> None:
    acc = GroupAccumulator([attr(AggOrder.placed_at), attr(AggOrder.ship_to).city], {"n": Count()})
    acc.add(order(placed_at=T0, ship_to=Address(city="Oslo")))
    assert acc.rows()[0].key == (T0, "Oslo")


def test_numbers_group_by_value() -> None:
    path = AttributePath(("score",))
    acc = GroupAccumulator([path], {"n": Count()})
    fold(
        acc,
        [raw("a", score={"N": "1.0"}), raw("b", score={"N": "1"}), raw("c", score={"N": "10"})]
    )
    assert [(r.key, r.n) for r in acc.rows()] == [(Decimal("1.0"), 2), (10, 1)]


def test_mixed_type_group_keys_sort_without_crashing() -> None:
    path = AttributePath(("v",))
    values: list[dict[str, Any] | None] = [
        {"S": "b"},
        {"N": "5"},
        None,
        {"BOOL": True},
        {"B": "AQ=="},
        {"N": "-1"},
        {"S": "a"},
        {"BOOL": False},
        {"SS": ["y", "x"]},
        {"NS": ["2", "1"]},
        {"BS": ["AQ=="]},
        {"L": [{"N": "1"}, {"S": "z"}]},
        {"L": [{"N": "1"}, {"N": "2"}]},
        {"M": {"k": {"S": "v"}}},
        {"M": {"k": {"N": "1"}}},
        {"NULL": True},
    ]
    acc = GroupAccumulator([path], {"n": Count()})
    for i, value in enumerate(values):
        acc.add(raw(str(i), v=value) if value is not None else raw(str(i)))
    keys = [row.key for row in acc.rows()]
    assert keys[:7] == [None, False, True, -1, 5, "a", "b"]
    assert keys[7] == "AQ=="
    assert [sorted(k) for k in keys[8:11]] == [["x", "y"], [1, 2], ["AQ=="]]
    assert keys[11:13] == [[1, 2], [1, "z"]]
    assert keys[13:] == [{"k": 1}, {"k": "v"}]
    assert [r.n for r in acc.rows()] == [2] + [1] * 14


def test_group_by_sets_and_lists() -> None:
    acc = GroupAccumulator([attr(AggOrder.tags)], {"n": Count()})
    fold(
        acc,
        [
            order(tags={"b", "a"}),
            raw("x", tags={"SS": ["a", "b"]}),
            order(tags={"c"}),
            order(),
        ]
    )
    assert [(r.key, r.n) for r in acc.rows()] == [(None, 1), ({"a", "b"}, 2), ({"c"}, 1)]


def test_no_group_by_gives_one_row_even_for_no_items() -> None:
    acc = GroupAccumulator([], {"n": Count(), "s": Sum(AggOrder.total)})
    assert acc.rows() == [Row((), {"n": 0, "s": None})]
    assert acc.group_count == 1


def test_group_by_without_items_gives_no_rows() -> None:
    assert GroupAccumulator([attr(AggOrder.status)], {"n": Count()}).rows() == []


def _ordering_acc() -> GroupAccumulator:
    acc = GroupAccumulator(
        [attr(AggOrder.status)],
        {"n": Count(), "s": Sum(AggOrder.total), "last": Max(AggOrder.placed_at)},
    )
    fold(
        acc,
        [
            order(status="a", total=Decimal(5), placed_at=T0),
            order(status="b", total=Decimal(9)),
            order(status="b", total=Decimal(1)),
            order(status="c", placed_at=T0 + timedelta(1)),
            raw("none1", total={"N": "2"}),
            order(status="d", total=Decimal(5), placed_at=T0 - timedelta(1)),
        ]
    )
    acc.add(raw("e1", status={"S": "e"}))
    return acc


def test_default_order_is_by_key_none_first() -> None:
    assert [r.key for r in _ordering_acc().rows()] == [None, "a", "b", "c", "d", "e"]
    assert [r.key for r in _ordering_acc().rows(order_by="key")] == [None, "a", "b", "c", "d", "e"]
    assert [r.key for r in _ordering_acc().rows(order_by="key", desc=True)] == [
        "e",
        "d",
        "c",
        "b",
        "a",
        None,
    ]


def test_order_by_aggregate_puts_none_last_and_keeps_key_order_on_ties() -> None:
    acc = _ordering_acc()
    assert [r.key for r in acc.rows(order_by="s")] == ["c", None, "a", "d", "b", "e"]
    assert [r.key for r in acc.rows(order_by="s", desc=True)] == ["b", "a", "d", None, "c", "e"]
    assert [r.key for r in acc.rows(order_by="last")] == ["d", "a", "c", None, "b", "e"]
    assert [r.key for r in acc.rows(order_by="n", desc=True)] == ["b", None, "a", "c", "d", "e"]


def test_limit_applies_after_ordering() -> None:
    acc = _ordering_acc()
    assert [r.key for r in acc.rows(order_by="s", desc=True, limit=2)] == ["b", "a"]
    assert acc.rows(limit=0) == []
    assert len(acc.rows(limit=100)) == 6


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"order_by": "nope"}, "not an aggregate"),
        ({"limit": -1}, "limit"),
        ({"limit": True}, "limit"),
    ],
)
def test_rows_arguments_are_validated(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        _ordering_acc().rows(**kwargs)


def test_order_by_sorts_mixed_result_types_safely() -> None:
    path = AttributePath(("v",))
    acc = GroupAccumulator([attr(AggOrder.status)], {"hi": Max(path)})
    fold(
        acc,
        [
            raw("1", status={"S": "a"}, v={"S": "text"}),
            raw("2", status={"S": "b"}, v={"N": "3"}),
            raw("3", status={"S": "c"}, v={"B": "AA=="}),
        ]
    )
    assert [r.key for r in acc.rows(order_by="hi")] == ["b", "a", "c"]


def test_row_api() -> None:
    row = Row("paid", {"n": 2, "total": Decimal("3.5")})
    assert row.key == "paid"
    assert row["n"] == 2 and row.total == Decimal("3.5")
    assert row.values == {"n": 2, "total": Decimal("3.5")}
    assert row.as_dict() == {"key": "paid", "n": 2, "total": Decimal("3.5")}
    assert row == Row("paid", {"n": 2, "total": Decimal("3.50")})
    assert row != Row("paid", {"n": 3, "total": Decimal("3.5")})
    assert row != Row("other", {"n": 2, "total": Decimal("3.5")})
    assert row != ("paid", 2)
    assert repr(row) == "Row(key='paid', n=2, total=Decimal('3.5'))"
    with pytest.raises(KeyError, match="no aggregate named 'x'"):
        row["x"]
    with pytest.raises(AttributeError, match="no aggregate named 'x'"):
        _ = row.x
    with pytest.raises(TypeError):
        hash(row)


@pytest.mark.parametrize("name", ["key", "values", "as_dict", "_private", "not an identifier"])
def test_aggregate_names_are_checked(name: str) -> None:
    with pytest.raises(ValidationError, match="aggregate name"):
        GroupAccumulator([], {name: Count()})


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([AggOrder.status, AggOrder.status], {}), {}, "twice"),
        (([], {"n": "count"}), {}, "must be Count"),
        (([], {}), {"max_groups": 0}, "max_groups"),
        (([], {}), {"having": "Count() > 1"}, "HAVING condition"),
        (([], {}), {"key_attributes": (1,)}, "key_attributes"),
        ((["status"], {}), {}, "attribute path"),
    ],
)
def test_accumulator_arguments_are_validated(
    args: tuple[Any, ...], kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValidationError, match=match):
        GroupAccumulator(*args, **kwargs)


def test_add_rejects_non_items() -> None:
    with pytest.raises(ValidationError, match="wire item"):
        GroupAccumulator([], {"n": Count()}).add(["not", "an", "item"])  # type: ignore[arg-type]


def test_max_groups_is_enforced_with_advice() -> None:
    acc = GroupAccumulator([attr(AggOrder.order_id)], {"n": Count()}, max_groups=3)
    fold(acc, [order(order_id=f"o{i}") for i in range(3)])
    acc.add(order(order_id="o0"))  # an existing group is fine
    with pytest.raises(ValidationError, match=r"more than max_groups=3 groups.*raise max_groups"):
        acc.add(order(order_id="o3"))
    assert acc.group_count == 3


def test_max_groups_is_enforced_on_merge() -> None:
    a = GroupAccumulator([attr(AggOrder.order_id)], {"n": Count()}, max_groups=2)
    b = GroupAccumulator([attr(AggOrder.order_id)], {"n": Count()}, max_groups=2)
    fold(a, [order(order_id="x"), order(order_id="y")])
    fold(b, [order(order_id="y"), order(order_id="z")])
    with pytest.raises(ValidationError, match="max_groups=2"):
        a.merge(b)
    assert [(r.key, r.n) for r in a.rows()] == [("x", 1), ("y", 1)]


def test_merge_requires_the_same_shape() -> None:
    a = GroupAccumulator([attr(AggOrder.status)], {"n": Count()})
    with pytest.raises(ValidationError, match="same group_by and aggregates"):
        a.merge(GroupAccumulator([attr(AggOrder.paid)], {"n": Count()}))
    with pytest.raises(ValidationError, match="same group_by and aggregates"):
        a.merge(GroupAccumulator([attr(AggOrder.status)], {"n": Sum(AggOrder.total)}))
    with pytest.raises(ValidationError, match="GroupAccumulator"):
        a.merge([])  # type: ignore[arg-type]


def test_merge_does_not_share_state_with_the_other_accumulator() -> None:
    a = GroupAccumulator([attr(AggOrder.status)], {"n": Count()})
    b = GroupAccumulator([attr(AggOrder.status)], {"n": Count()})
    b.add(order(status="x"))
    a.merge(b)
    b.add(order(status="x"))
    assert a.rows() == [Row("x", {"n": 1})]
    assert b.rows() == [Row("x", {"n": 2})]


def test_fresh_copies_the_configuration_but_no_items() -> None:
    for group_by in ([attr(AggOrder.status)], []):
        aggregates = {"n": Count(), "s": Sum(AggOrder.total)}
        template = GroupAccumulator(group_by, aggregates, max_groups=2)
        first, second = template.fresh(), template.fresh()
        fold(first, [order(status="a", total=Decimal(2)), order(status="a", total=Decimal(3))])
        empty = [] if group_by else [Row((), {"n": 0, "s": None})]
        assert template.rows() == second.rows() == empty
        key = "a" if group_by else ()
        assert first.rows() == [Row(key, {"n": 2, "s": Decimal(5)})]
        second.merge(first)
        assert second.rows() == first.rows() and first.max_groups == 2
    grouped = GroupAccumulator([attr(AggOrder.status)], {"n": Count()}, max_groups=1).fresh()
    grouped.add(order(status="a"))
    with pytest.raises(ValidationError, match="max_groups=1"):
        grouped.add(order(status="b"))


# --- push-down helpers ----------------------------------------------------------------------


def test_needed_attributes_are_top_level_and_deduplicated() -> None:
    paths = needed_attributes(
        [attr(AggOrder.status), attr(AggOrder.ship_to).city],
        {
            "n": Count(),
            "s": Sum(AggOrder.total),
            "z": Min(attr(AggOrder.ship_to).zip),
            "l": Max(AggOrder.lines[0]),
        },
        having=(Avg(AggOrder.qty) > 1) & (Sum(AggOrder.total) > 0),
    )
    assert [p._attribute for p in paths] == ["status", "ship_to", "total", "lines", "qty"]
    assert all(p._is_top_level for p in paths)
    assert paths[0]._annotation is str
    assert paths[1]._model is AggOrder


def test_needed_attributes_use_wire_names() -> None:
    paths = needed_attributes([attr(AggOrder.note)], {})
    assert [p._elements for p in paths] == [("n",)]


def test_needed_attributes_empty_for_plain_count() -> None:
    assert needed_attributes([], {"n": Count()}) == []


@pytest.mark.parametrize(
    ("aggregates", "group_by", "having", "expected"),
    [
        ({"n": Count()}, [], None, True),
        ({"n": Count(), "m": Count()}, [], Count() > 3, True),
        ({}, [], None, True),
        ({"n": Count()}, [attr(AggOrder.status)], None, False),
        ({"n": Count(AggOrder.total)}, [], None, False),
        ({"n": Count(), "s": Sum(AggOrder.total)}, [], None, False),
        ({"n": Count()}, [], Sum(AggOrder.total) > 3, False),
    ],
)
def test_count_only(
    aggregates: dict[str, Aggregate[Any, Any]],
    group_by: list[AttributePath],
    having: HavingCondition | None,
    expected: bool,
) -> None:
    assert count_only(aggregates, group_by, having) is expected
    acc = GroupAccumulator(group_by, aggregates, having=having)
    assert acc.count_only is expected


def test_add_count_feeds_select_count_pages() -> None:
    acc = GroupAccumulator([], {"n": Count()}, having=Count() >= 5)
    acc.add_count(3)
    assert acc.rows() == []
    acc.add_count(4)
    acc.add(order())
    assert acc.rows() == [Row((), {"n": 8})]
    with pytest.raises(ValidationError, match="count must be an int"):
        acc.add_count(-1)
    with pytest.raises(ValidationError, match="Count\\(\\) only"):
        GroupAccumulator([], {"s": Sum(AggOrder.total)}).add_count(1)


# --- merging equals one pass (property) -----------------------------------------------------

AGGREGATES: dict[str, Aggregate[Any, Any]] = {
    "n": Count(),
    "with_total": Count(AggOrder.total),
    "total": Sum(AggOrder.total),
    "mean": Avg(AggOrder.total),
    "lo": Min(AggOrder.total),
    "hi": Max(AggOrder.total),
    "first_note": Min(AggOrder.note),
    "last_note": Max(AggOrder.note),
    "qty": Sum(AggOrder.qty),
    "city": Max(attr(AggOrder.ship_to).city),
}

numbers = st.decimals(
    min_value=Decimal("-1e6"), max_value=Decimal("1e6"), places=3, allow_nan=False
)
maybe = st.none() | st.just("NULL")


@st.composite
def wire_items(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=0, max_value=40))
    items = []
    for i in range(count):
        item: dict[str, Any] = {"customer": {"S": "c"}, "order_id": {"S": f"o{i}"}}
        for attribute, values in (
            ("status", st.sampled_from(["a", "b", "c"]) | maybe),
            ("paid", st.booleans() | maybe),
            ("total", numbers | maybe),
            ("qty", st.integers(min_value=-5, max_value=5) | maybe),
            ("n", st.text(max_size=3) | maybe),
            ("ship_to", st.sampled_from(["Oslo", "Rome"]) | maybe),
        ):
            value = draw(values)
            if value is None:
                continue
            if value == "NULL" and attribute != "n":
                item[attribute] = {"NULL": True}
            elif isinstance(value, bool):
                item[attribute] = {"BOOL": value}
            elif isinstance(value, int | Decimal):
                item[attribute] = {"N": str(value)}
            elif attribute == "ship_to":
                item[attribute] = {"M": {"city": {"S": value}}}
            else:
                item[attribute] = {"S": value}
        items.append(item)
    return items


@settings(max_examples=200, deadline=None)
@given(
    items=wire_items(),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=5),
    grouping=st.sampled_from([(), ("status",), ("status", "paid")]),
    with_having=st.booleans(),
)
def test_merging_chunks_equals_one_pass(
    items: list[dict[str, Any]], cuts: list[int], grouping: tuple[str, ...], with_having: bool
) -> None:
    group_by = [getattr(AggOrder, name) for name in grouping]
    having = ((Count() >= 2) | (Sum(AggOrder.total) > 0)) if with_having else None

    def accumulator() -> GroupAccumulator:
        return GroupAccumulator(group_by, AGGREGATES, having=having, key_attributes=KEY)

    whole = accumulator()
    fold(whole, items)

    bounds = sorted({0, len(items), *(c for c in cuts if c <= len(items))})
    chunks = [items[a:b] for a, b in itertools.pairwise(bounds)]
    partials = []
    for chunk in chunks:
        part = accumulator()
        fold(part, chunk)
        partials.append(part)
    merged = accumulator()
    for part in partials:
        merged.merge(part)

    assert merged.rows() == whole.rows()
    assert merged.rows(order_by="total", desc=True) == whole.rows(order_by="total", desc=True)
    if not with_having:
        expected_n = len(items)
        assert sum(row.n for row in merged.rows()) == expected_n


@settings(max_examples=100, deadline=None)
@given(values=st.lists(numbers, max_size=60))
def test_sum_and_avg_match_exact_arithmetic(values: list[Decimal]) -> None:
    items = [raw(str(i), total={"N": str(v)}) for i, v in enumerate(values)]
    row = one_row({"s": Sum(AggOrder.total), "a": Avg(AggOrder.total)}, items)
    if not values:
        assert row.s is None and row.a is None
        return
    exact = sum(values, Decimal(0))  # at most 10 digits per value: exact in any context
    assert row.s == exact
    assert row.a == Context(prec=38).divide(exact, Decimal(len(values)))
