"""Client-side aggregation (GROUP BY / HAVING) over wire-format items (pure, no I/O).

The accumulators consume DynamoDB wire items (``{"total": {"N": "12.50"}}``), never model
instances, so the executor can project only the attributes aggregation reads
(:func:`needed_attributes`) and skip decoding whole items. Memory grows with the number of
groups, not items. Every aggregate keeps a small mergeable state, so partial results (one per
parallel-scan segment) merge exactly into what one pass would have produced.

Semantics, SQL-like:

- A missing attribute, or one stored as NULL, is skipped; zero, false and "" are values.
- ``Count()`` counts items and ``Count(path)`` items where ``path`` holds a value; both give 0
  for no items. ``Sum``, ``Avg``, ``Min`` and ``Max`` of no values give ``None``.
- ``Sum`` and ``Avg`` read numbers (N) only and always return ``Decimal``. Sums are exact for any
  numbers DynamoDB can store; ``Avg`` divides the exact sum, rounding the quotient to 38
  significant digits (DynamoDB's number precision, so the result can be stored back).
- ``Min`` and ``Max`` compare numbers as numbers, strings by code point (the order DynamoDB
  uses; datetimes are stored as fixed-width UTC text, so this is time order) and binary by
  bytes. Their result is decoded with the path's annotation (e.g. back to ``datetime``), or
  untagged when the path has none.
- Mixing value types under one aggregate in one group (a number then a string) raises
  ``ValidationError`` naming the aggregate and the offending item's key.
- HAVING uses SQL's three-valued logic: a comparison involving a ``None`` result is unknown,
  ``~unknown`` stays unknown, and only groups whose condition is true are kept.
"""

from __future__ import annotations

import base64
import binascii
import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DecimalException,
    Inexact,
    InvalidOperation,
    Overflow,
)
from typing import Any, ClassVar, Generic, TypeVar

from ._errors import ModelError, ValidationError
from ._expressions import AttributePath, as_path
from ._marshal import (
    TypeKind,
    from_wire_value,
    kind_of,
    parse_number,
    to_wire_value,
    untag,
    unwrap_optional,
)

__all__ = [
    "Aggregate",
    "AggregateKey",
    "Avg",
    "Count",
    "GroupAccumulator",
    "HavingCondition",
    "Max",
    "Min",
    "Row",
    "Sum",
    "WireItem",
    "count_only",
    "needed_attributes",
]

AggregateKey = tuple[str, tuple[str | int, ...]]
"""Structural identity of an aggregate: ``(kind, path elements)``; ``("count", ())`` is Count()."""

WireItem = Mapping[str, Mapping[str, Any]]
"""An item as DynamoDB returns it: attribute name -> tagged AttributeValue."""

S = TypeVar("S")
R = TypeVar("R")

# DynamoDB numbers have at most 38 digits between 1E-130 and 1E+126, so 400 digits hold any sum
# of them exactly; Inexact is trapped so a sum can never round silently.
_SUM_CONTEXT = Context(prec=400, traps=[Inexact, Overflow, InvalidOperation])
_AVG_CONTEXT = Context(prec=38, rounding=ROUND_HALF_EVEN, traps=[Overflow, InvalidOperation])
_RESERVED_NAMES = frozenset({"key", "values", "as_dict"})
_TYPE_NAMES = {
    "S": "string",
    "N": "number",
    "B": "binary",
    "BOOL": "bool",
    "SS": "string set",
    "NS": "number set",
    "BS": "binary set",
    "L": "list",
    "M": "map",
}


# --- reading wire items -------------------------------------------------------------------


def _resolve(item: WireItem, elements: tuple[str | int, ...]) -> Mapping[str, Any] | None:
    """The AttributeValue at ``elements``, or None when missing or NULL."""
    av: Mapping[str, Any] | None = item.get(str(elements[0]))
    for element in elements[1:]:
        if av is None:
            return None
        if isinstance(element, int):
            values = av.get("L")
            av = values[element] if isinstance(values, list) and element < len(values) else None
        else:
            fields = av.get("M")
            av = fields.get(element) if isinstance(fields, Mapping) else None
    if av is None or "NULL" in av:
        return None
    return av


def _tag(av: Mapping[str, Any]) -> str:
    for tag in av:
        return str(tag)
    raise ValidationError("empty attribute value on the wire")


def _item_key(item: WireItem, key_attributes: tuple[str, ...]) -> dict[str, Any] | None:
    key: dict[str, Any] = {}
    for attribute in key_attributes:
        av = item.get(attribute)
        if av is not None:
            try:
                key[attribute] = untag(av)
            except ValidationError:
                key[attribute] = dict(av)
    return key or None


def _decimal(text: object) -> Decimal:
    try:
        number = Decimal(str(text))
    except InvalidOperation as exc:
        raise ValidationError(f"malformed number {text!r} on the wire") from exc
    if not number.is_finite():
        raise ValidationError(f"malformed number {text!r} on the wire")
    return number


def _binary(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(f"malformed binary value {value!r} on the wire") from exc


def _kind(annotation: Any) -> TypeKind | None:
    try:
        return kind_of(annotation)
    except ModelError:
        return None


def _decode(annotation: Any, av: Mapping[str, Any]) -> Any:
    """Decode one AttributeValue with the path's annotation (untag when it has none)."""
    if annotation is None:
        return untag(av)
    target = unwrap_optional(annotation)
    if "N" in av and isinstance(target, type) and issubclass(target, datetime):
        # TTL datetimes travel as epoch seconds.
        return datetime.fromtimestamp(int(parse_number(av["N"])), tz=UTC)
    return from_wire_value(target, av)


# --- aggregates ---------------------------------------------------------------------------


class Aggregate(ABC, Generic[S, R]):
    """Base of the aggregate specs (Count, Sum, Avg, Min, Max).

    Specs are immutable values. Their comparison operators build :class:`HavingCondition`
    nodes (``Sum(Order.total) > 100``), so structural identity is :attr:`key` and
    :meth:`same_as`, and ``hash()`` follows :attr:`key`.
    """

    kind: ClassVar[str]
    __slots__ = ("_elements", "path")

    path: AttributePath | None
    _elements: tuple[str | int, ...]

    def __init__(self, path: object) -> None:
        # Parameters are typed ``object``: class attributes such as ``Order.total`` type-check
        # as their field's value type (dataclass_transform), so the check happens here.
        if path is None:
            raise ValidationError(
                f"{type(self).__name__}() needs an attribute path, e.g. "
                f"{type(self).__name__}(Order.total)"
            )
        checked = as_path(path)
        object.__setattr__(self, "path", checked)
        object.__setattr__(self, "_elements", checked.elements)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    @property
    def key(self) -> AggregateKey:
        """Structural identity: the same aggregate written twice has the same key."""
        return (self.kind, self._elements)

    def same_as(self, other: Aggregate[Any, Any]) -> bool:
        """Structural equality (``==`` builds a HAVING condition instead)."""
        return self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path.dotted if self.path is not None else ''})"

    def _where(self) -> str:
        return self.path.dotted if self.path is not None else ""

    @abstractmethod
    def new_state(self) -> S:
        """The state of an empty group."""

    @abstractmethod
    def add(self, state: S, item: WireItem, *, key_attributes: tuple[str, ...] = ()) -> S:
        """The state after also seeing ``item`` (``key_attributes`` name the item in errors)."""

    @abstractmethod
    def merge(self, a: S, b: S) -> S:
        """The state of the union of the items behind ``a`` and ``b``."""

    @abstractmethod
    def result(self, state: S) -> R:
        """The aggregate's value for ``state``."""

    @abstractmethod
    def sort_value(self, state: S) -> tuple[Any, ...] | None:
        """A type-safe sort key for ``state``'s result, or None when the result is None."""

    # --- HAVING ----------------------------------------------------------------------------

    def _operand(self, value: object) -> object:
        """Check and normalise the value a HAVING comparison compares against."""
        if isinstance(value, Aggregate):
            return value
        if value is None:
            raise ValidationError(
                f"cannot compare {self!r} with None: like SQL, a comparison with NULL is never "
                "true; compare with a value"
            )
        if isinstance(value, HavingCondition):
            raise ValidationError("a HAVING condition cannot be compared as a value")
        return _number_operand(self, value)

    def _compare(self, op: str, value: object) -> HavingCondition:
        return _HavingCompare(self, op, self._operand(value))

    def __eq__(self, other: object) -> HavingCondition:  # type: ignore[override]
        return self._compare("==", other)

    def __ne__(self, other: object) -> HavingCondition:  # type: ignore[override]
        return self._compare("!=", other)

    def __lt__(self, other: object) -> HavingCondition:
        return self._compare("<", other)

    def __le__(self, other: object) -> HavingCondition:
        return self._compare("<=", other)

    def __gt__(self, other: object) -> HavingCondition:
        return self._compare(">", other)

    def __ge__(self, other: object) -> HavingCondition:
        return self._compare(">=", other)


def _number_operand(aggregate: Aggregate[Any, Any], value: object) -> int | Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValidationError(
            f"{aggregate!r} is a number; compare it with an int, float or Decimal, not "
            f"{type(value).__name__} {value!r}"
        )
    if isinstance(value, int):
        return value
    number = Decimal(repr(value)) if isinstance(value, float) else value
    if not number.is_finite():
        raise ValidationError(f"cannot compare {aggregate!r} with {value!r}")
    return number


class Count(Aggregate[int, int]):
    """``Count()`` counts items; ``Count(path)`` counts items where ``path`` holds a value."""

    kind = "count"
    __slots__ = ()

    def __init__(self, path: object = None) -> None:
        if path is None:
            object.__setattr__(self, "path", None)
            object.__setattr__(self, "_elements", ())
        else:
            super().__init__(path)

    def new_state(self) -> int:
        return 0

    def add(self, state: int, item: WireItem, *, key_attributes: tuple[str, ...] = ()) -> int:
        if not self._elements or _resolve(item, self._elements) is not None:
            return state + 1
        return state

    def merge(self, a: int, b: int) -> int:
        return a + b

    def result(self, state: int) -> int:
        return state

    def sort_value(self, state: int) -> tuple[Any, ...]:
        return (state,)


class _NumericAggregate(Aggregate[S, R]):
    __slots__ = ()

    def _number(self, item: WireItem, key_attributes: tuple[str, ...]) -> Decimal | None:
        av = _resolve(item, self._elements)
        if av is None:
            return None
        text = av.get("N")
        if text is None:
            key = _item_key(item, key_attributes)
            raise ValidationError(
                f"{self!r} adds numbers, but an item holds a "
                f"{_TYPE_NAMES.get(_tag(av), _tag(av))} at {self._where()}",
                key=key,
            )
        return _decimal(text)

    def _add_exact(self, a: Decimal, b: Decimal) -> Decimal:
        try:
            return _SUM_CONTEXT.add(a, b)
        except DecimalException as exc:
            raise ValidationError(f"{self!r} cannot be computed exactly: {exc!r}") from exc


class Sum(_NumericAggregate[Decimal | None, Decimal | None]):
    """Exact sum of the numbers at a path, as a ``Decimal`` (None when there are none)."""

    kind = "sum"
    __slots__ = ()

    def new_state(self) -> Decimal | None:
        return None

    def add(
        self, state: Decimal | None, item: WireItem, *, key_attributes: tuple[str, ...] = ()
    ) -> Decimal | None:
        number = self._number(item, key_attributes)
        if number is None:
            return state
        return number if state is None else self._add_exact(state, number)

    def merge(self, a: Decimal | None, b: Decimal | None) -> Decimal | None:
        if a is None:
            return b
        if b is None:
            return a
        return self._add_exact(a, b)

    def result(self, state: Decimal | None) -> Decimal | None:
        return state

    def sort_value(self, state: Decimal | None) -> tuple[Any, ...] | None:
        return None if state is None else (state,)


class Avg(_NumericAggregate[tuple[Decimal, int], Decimal | None]):
    """Mean of the numbers at a path, as a ``Decimal`` (None when there are none).

    The state is the exact (sum, count) pair, so merging partial states is exact; only the
    final division rounds, to 38 significant digits.
    """

    kind = "avg"
    __slots__ = ()

    def new_state(self) -> tuple[Decimal, int]:
        return (Decimal(0), 0)

    def add(
        self,
        state: tuple[Decimal, int],
        item: WireItem,
        *,
        key_attributes: tuple[str, ...] = (),
    ) -> tuple[Decimal, int]:
        number = self._number(item, key_attributes)
        if number is None:
            return state
        return (self._add_exact(state[0], number), state[1] + 1)

    def merge(self, a: tuple[Decimal, int], b: tuple[Decimal, int]) -> tuple[Decimal, int]:
        return (self._add_exact(a[0], b[0]), a[1] + b[1])

    def result(self, state: tuple[Decimal, int]) -> Decimal | None:
        total, count = state
        if count == 0:
            return None
        return _AVG_CONTEXT.divide(total, Decimal(count))

    def sort_value(self, state: tuple[Decimal, int]) -> tuple[Any, ...] | None:
        result = self.result(state)
        return None if result is None else (result,)


@dataclass(frozen=True, slots=True)
class _Extreme:
    """The current minimum/maximum: its comparable form, wire value and the item's key."""

    kind: str
    value: Any
    av: Mapping[str, Any]
    key: dict[str, Any] | None


_EXTREME_RANK = {"N": 0, "S": 1, "B": 2}


class _Extremum(Aggregate[_Extreme | None, Any]):
    __slots__ = ()
    _better: ClassVar[Callable[[Any, Any], bool]]

    def new_state(self) -> _Extreme | None:
        return None

    def add(
        self, state: _Extreme | None, item: WireItem, *, key_attributes: tuple[str, ...] = ()
    ) -> _Extreme | None:
        av = _resolve(item, self._elements)
        if av is None:
            return state
        tag = _tag(av)
        value: Any
        if tag == "N":
            value = _decimal(av["N"])
        elif tag == "S":
            value = str(av["S"])
        elif tag == "B":
            value = _binary(av["B"])
        else:
            raise ValidationError(
                f"{self!r} compares numbers, strings or binary, but an item holds a "
                f"{_TYPE_NAMES.get(tag, tag)} at {self._where()}",
                key=_item_key(item, key_attributes),
            )
        # Most items do not replace the current extreme: skip building their key (the hot path).
        if state is not None and state.kind == tag and not type(self)._better(value, state.value):
            return state
        return self._pick(state, _Extreme(tag, value, av, _item_key(item, key_attributes)))

    def _pick(self, current: _Extreme | None, candidate: _Extreme) -> _Extreme:
        if current is None:
            return candidate
        if current.kind != candidate.kind:
            raise ValidationError(
                f"{self!r} mixes value types: an item holds a {_TYPE_NAMES[candidate.kind]} "
                f"at {self._where()} where item {current.key} holds a "
                f"{_TYPE_NAMES[current.kind]}; an aggregate compares values of one type",
                key=candidate.key,
            )
        # Ties keep the earlier value, so merging partial states equals one pass.
        return candidate if type(self)._better(candidate.value, current.value) else current

    def merge(self, a: _Extreme | None, b: _Extreme | None) -> _Extreme | None:
        return a if b is None else self._pick(a, b)

    def result(self, state: _Extreme | None) -> Any:
        if state is None:
            return None
        annotation = self.path.annotation if self.path is not None else None
        return _decode(annotation, state.av)

    def sort_value(self, state: _Extreme | None) -> tuple[Any, ...] | None:
        return None if state is None else (_EXTREME_RANK[state.kind], state.value)

    def _operand(self, value: object) -> object:
        if isinstance(value, Aggregate | HavingCondition) or value is None:
            return super()._operand(value)
        annotation = self.path.annotation if self.path is not None else None
        is_number = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
        if annotation is None:
            return _number_operand(self, value) if is_number else value
        if _kind(annotation) is TypeKind.NUMBER:
            return _number_operand(self, value)
        # Round-trip through the wire form: checks the type now (not at evaluation) and
        # normalises e.g. datetimes to the stored UTC precision.
        return _decode(annotation, to_wire_value(annotation, value))


class Min(_Extremum):
    """Smallest value at a path (numbers, strings, datetimes, binary); None when none."""

    kind = "min"
    __slots__ = ()
    _better = operator.lt


class Max(_Extremum):
    """Largest value at a path (numbers, strings, datetimes, binary); None when none."""

    kind = "max"
    __slots__ = ()
    _better = operator.gt


# --- HAVING -------------------------------------------------------------------------------

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class HavingCondition(ABC):
    """A condition on a group's aggregate results; combine with ``&``, ``|`` and ``~``."""

    __slots__ = ()

    def evaluate(self, values: Mapping[AggregateKey, Any]) -> bool:
        """True when the condition holds for results keyed by :attr:`Aggregate.key`."""
        return self._truth(values) is True

    @abstractmethod
    def _truth(self, values: Mapping[AggregateKey, Any]) -> bool | None:
        """Three-valued truth: None means unknown (a None result was compared)."""

    @abstractmethod
    def aggregates(self) -> tuple[Aggregate[Any, Any], ...]:
        """Every aggregate this condition reads."""

    def __and__(self, other: HavingCondition) -> HavingCondition:
        return _HavingAnd((self, _as_having(other)))

    def __or__(self, other: HavingCondition) -> HavingCondition:
        return _HavingOr((self, _as_having(other)))

    def __invert__(self) -> HavingCondition:
        return _HavingNot(self)

    def __bool__(self) -> bool:
        raise ValidationError(
            "a HAVING condition has no truth value: combine conditions with & | ~, not and/or/not"
        )


def _as_having(value: object) -> HavingCondition:
    if isinstance(value, HavingCondition):
        return value
    raise ValidationError(
        f"expected a HAVING condition such as Sum(Order.total) > 100, got "
        f"{type(value).__name__} {value!r}"
    )


def _lookup(values: Mapping[AggregateKey, Any], aggregate: Aggregate[Any, Any]) -> Any:
    try:
        return values[aggregate.key]
    except KeyError:
        raise ValidationError(f"HAVING reads {aggregate!r}, which was not computed") from None


@dataclass(frozen=True, slots=True, eq=False)
class _HavingCompare(HavingCondition):
    aggregate: Aggregate[Any, Any]
    op: str
    operand: object

    def _truth(self, values: Mapping[AggregateKey, Any]) -> bool | None:
        left = _lookup(values, self.aggregate)
        right = (
            _lookup(values, self.operand) if isinstance(self.operand, Aggregate) else self.operand
        )
        if left is None or right is None:
            return None
        try:
            return bool(_OPERATORS[self.op](left, right))
        except TypeError as exc:
            raise ValidationError(
                f"HAVING cannot compare {self.aggregate!r} = {left!r} with {right!r}: {exc}"
            ) from exc

    def aggregates(self) -> tuple[Aggregate[Any, Any], ...]:
        if isinstance(self.operand, Aggregate):
            return (self.aggregate, self.operand)
        return (self.aggregate,)

    def __repr__(self) -> str:
        return f"{self.aggregate!r} {self.op} {self.operand!r}"


@dataclass(frozen=True, slots=True, eq=False)
class _HavingAnd(HavingCondition):
    parts: tuple[HavingCondition, ...]

    def _truth(self, values: Mapping[AggregateKey, Any]) -> bool | None:
        truths = [part._truth(values) for part in self.parts]
        if False in truths:
            return False
        return None if None in truths else True

    def aggregates(self) -> tuple[Aggregate[Any, Any], ...]:
        return tuple(a for part in self.parts for a in part.aggregates())

    def __and__(self, other: HavingCondition) -> HavingCondition:
        return _HavingAnd((*self.parts, _as_having(other)))

    def __repr__(self) -> str:
        return " & ".join(f"({p!r})" for p in self.parts)


@dataclass(frozen=True, slots=True, eq=False)
class _HavingOr(HavingCondition):
    parts: tuple[HavingCondition, ...]

    def _truth(self, values: Mapping[AggregateKey, Any]) -> bool | None:
        truths = [part._truth(values) for part in self.parts]
        if True in truths:
            return True
        return None if None in truths else False

    def aggregates(self) -> tuple[Aggregate[Any, Any], ...]:
        return tuple(a for part in self.parts for a in part.aggregates())

    def __or__(self, other: HavingCondition) -> HavingCondition:
        return _HavingOr((*self.parts, _as_having(other)))

    def __repr__(self) -> str:
        return " | ".join(f"({p!r})" for p in self.parts)


@dataclass(frozen=True, slots=True, eq=False)
class _HavingNot(HavingCondition):
    inner: HavingCondition

    def _truth(self, values: Mapping[AggregateKey, Any]) -> bool | None:
        truth = self.inner._truth(values)
        return None if truth is None else not truth

    def aggregates(self) -> tuple[Aggregate[Any, Any], ...]:
        return self.inner.aggregates()

    def __invert__(self) -> HavingCondition:
        return self.inner

    def __repr__(self) -> str:
        return f"~({self.inner!r})"


# --- group keys ---------------------------------------------------------------------------


def _freeze(av: Mapping[str, Any] | None) -> Hashable:
    """A hashable canonical form of a value: equal DynamoDB values freeze equal."""
    if av is None:
        return None
    tag = _tag(av)
    value = av[tag]
    if tag == "S":
        return ("S", value)
    if tag == "N":
        return ("N", _decimal(value))
    if tag == "B":
        return ("B", _binary(value))
    if tag == "BOOL":
        return ("BOOL", bool(value))
    if tag == "NULL":
        return None
    if tag == "SS":
        return ("SS", frozenset(value))
    if tag == "NS":
        return ("NS", frozenset(_decimal(v) for v in value))
    if tag == "BS":
        return ("BS", frozenset(_binary(v) for v in value))
    if tag == "L":
        return ("L", tuple(_freeze(v) for v in value))
    if tag == "M":
        return ("M", frozenset((k, _freeze(v)) for k, v in value.items()))
    raise ValidationError(f"unknown attribute value {dict(av)!r} on the wire")


_KEY_RANK = {"BOOL": 1, "N": 2, "S": 3, "B": 4, "SS": 5, "NS": 6, "BS": 7, "L": 8, "M": 9}


def _key_order(frozen: Any) -> tuple[Any, ...]:
    """Sort key of a frozen value: None first, then by type rank, then by value."""
    if frozen is None:
        return (0,)
    tag, value = frozen
    rank = _KEY_RANK[tag]
    if tag in ("SS", "NS", "BS"):
        return (rank, tuple(sorted(value)))
    if tag == "L":
        return (rank, tuple(_key_order(v) for v in value))
    if tag == "M":
        return (rank, tuple(sorted((k, _key_order(v)) for k, v in value)))
    return (rank, value)


class Row:
    """One result row: the group key and the named aggregate results.

    ``row.key`` is the group's value when grouping by one path, a tuple of values when grouping
    by several, and ``()`` without grouping; a missing attribute's value is ``None``. Results
    are read as ``row["total"]``, ``row.total`` or ``row.values``.
    """

    __slots__ = ("key", "values")

    key: Any
    values: dict[str, Any]

    def __init__(self, key: Any, values: Mapping[str, Any]) -> None:
        self.key = key
        self.values = dict(values)

    def __getitem__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise KeyError(f"no aggregate named {name!r}; rows hold {list(self.values)}") from None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("key", "values"):
            raise AttributeError(name)
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(
                f"no aggregate named {name!r}; rows hold {list(self.values)}"
            ) from None

    def as_dict(self) -> dict[str, Any]:
        """``{"key": key, **values}``."""
        return {"key": self.key, **self.values}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Row):
            return NotImplemented
        return self.key == other.key and self.values == other.values

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [f"key={self.key!r}", *(f"{k}={v!r}" for k, v in self.values.items())]
        return f"Row({', '.join(parts)})"


class _Group:
    __slots__ = ("display", "states")

    def __init__(self, display: tuple[Any, ...], states: list[Any]) -> None:
        self.display = display
        self.states = states


# (sort key of the group key, group, results by aggregate key)
_Entry = tuple[tuple[Any, ...], _Group, dict[AggregateKey, Any]]


class GroupAccumulator:
    """Streams wire items into per-group aggregate states; merge partials; produce rows.

    ``group_by`` paths define the groups (none: exactly one group, so one row even for zero
    items). ``aggregates`` names the results shown in rows; aggregates that only ``having``
    reads are computed but not shown, and an aggregate written twice is computed once.
    ``key_attributes`` name the table's key attributes so errors can say which item was bad.
    More than ``max_groups`` groups raise ``ValidationError``.

    Not safe for concurrent use from several tasks; give each segment its own accumulator and
    :meth:`merge` them. After an error the accumulator is unchanged by the failing call.
    """

    __slots__ = (
        "_annotations",
        "_group_elements",
        "_groups",
        "_having",
        "_initial",
        "_key_attributes",
        "_names",
        "_positions",
        "_specs",
        "max_groups",
    )

    def __init__(
        self,
        group_by: Sequence[AttributePath],
        aggregates: Mapping[str, Aggregate[Any, Any]],
        *,
        having: HavingCondition | None = None,
        key_attributes: tuple[str, ...] = (),
        max_groups: int = 100_000,
    ) -> None:
        paths = [as_path(p) for p in group_by]
        elements = tuple(p.elements for p in paths)
        if len(set(elements)) != len(elements):
            raise ValidationError("group_by names the same attribute path twice")
        if having is not None:
            _as_having(having)
        if isinstance(max_groups, bool) or not isinstance(max_groups, int) or max_groups < 1:
            raise ValidationError(f"max_groups must be an int >= 1, got {max_groups!r}")
        if not all(isinstance(a, str) for a in key_attributes):
            raise ValidationError(f"key_attributes must be attribute names, got {key_attributes!r}")
        specs: dict[AggregateKey, Aggregate[Any, Any]] = {}
        names: dict[str, AggregateKey] = {}
        for name, aggregate in aggregates.items():
            _check_name(name)
            if not isinstance(aggregate, Aggregate):
                raise ValidationError(
                    f"aggregate {name!r} must be Count(), Sum(...), Avg(...), Min(...) or "
                    f"Max(...), got {type(aggregate).__name__} {aggregate!r}"
                )
            specs.setdefault(aggregate.key, aggregate)
            names[name] = aggregate.key
        for aggregate in having.aggregates() if having is not None else ():
            specs.setdefault(aggregate.key, aggregate)
        self._group_elements = elements
        self._annotations = tuple(p.annotation for p in paths)
        self._specs = tuple(specs.values())
        self._positions = {key: i for i, key in enumerate(specs)}
        self._names = names
        self._having = having
        self._key_attributes = tuple(key_attributes)
        self.max_groups = max_groups
        self._initial = [spec.new_state() for spec in self._specs]
        self._groups: dict[tuple[Hashable, ...], _Group] = {}
        if not elements:
            self._groups[()] = _Group((), list(self._initial))

    @property
    def group_count(self) -> int:
        """Number of groups seen so far."""
        return len(self._groups)

    @property
    def count_only(self) -> bool:
        """True when counting items suffices (see :func:`count_only`); enables :meth:`add_count`."""
        return not self._group_elements and all(_is_item_count(s) for s in self._specs)

    def add(self, item: WireItem) -> None:
        """Fold one wire item into its group."""
        if not isinstance(item, Mapping):
            raise ValidationError(f"expected a wire item (dict), got {type(item).__name__}")
        avs = [_resolve(item, elements) for elements in self._group_elements]
        frozen = tuple(_freeze(av) for av in avs)
        group = self._groups.get(frozen)
        states = group.states if group is not None else self._initial
        keys = self._key_attributes
        new_states = [
            spec.add(state, item, key_attributes=keys)
            for spec, state in zip(self._specs, states, strict=True)
        ]
        if group is not None:
            group.states = new_states
            return
        self._check_room(len(self._groups) + 1)
        self._groups[frozen] = _Group(self._display(avs, item), new_states)

    def add_many(self, items: Iterable[WireItem]) -> None:
        """Fold every item of ``items`` (e.g. one page) into its group."""
        for item in items:
            self.add(item)

    def add_count(self, count: int) -> None:
        """Fold ``count`` items known only by number (a ``Select=COUNT`` page).

        Allowed only when :attr:`count_only` is true.
        """
        if not self.count_only:
            raise ValidationError(
                "add_count() needs an aggregation of Count() only, without group_by; feed "
                "items with add() instead"
            )
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValidationError(f"count must be an int >= 0, got {count!r}")
        group = self._groups[()]
        group.states = [state + count for state in group.states]

    def merge(self, other: GroupAccumulator) -> None:
        """Fold another accumulator's partial states (same group_by and aggregates) into this one.

        The result equals one pass over both accumulators' items.
        """
        if not isinstance(other, GroupAccumulator):
            raise ValidationError(f"can only merge a GroupAccumulator, got {type(other).__name__}")
        if other._group_elements != self._group_elements or list(other._positions) != list(
            self._positions
        ):
            raise ValidationError(
                "can only merge accumulators built with the same group_by and aggregates"
            )
        merged = dict(self._groups)
        for frozen, theirs in other._groups.items():
            mine = merged.get(frozen)
            if mine is None:
                merged[frozen] = _Group(theirs.display, list(theirs.states))
            else:
                merged[frozen] = _Group(
                    mine.display,
                    [
                        spec.merge(a, b)
                        for spec, a, b in zip(self._specs, mine.states, theirs.states, strict=True)
                    ],
                )
        self._check_room(len(merged))
        self._groups = merged

    def rows(
        self, order_by: str | None = None, desc: bool = False, limit: int | None = None
    ) -> list[Row]:
        """The groups that pass ``having``, as rows.

        Default order is by group key: a missing value (None) first, then by DynamoDB type
        (bool, number, string, binary, sets, list, map) and value within a type. ``order_by``
        names an aggregate (or ``"key"``); rows whose value is None come last in either
        direction, and ties keep key order. ``limit`` caps the rows returned, after ordering.
        """
        if order_by is not None and order_by != "key" and order_by not in self._names:
            raise ValidationError(
                f"order_by={order_by!r} is not an aggregate; use 'key' or one of "
                f"{sorted(self._names)}"
            )
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise ValidationError(f"limit must be an int >= 0 or None, got {limit!r}")
        entries: list[_Entry] = []
        for frozen, group in self._groups.items():
            results = {
                spec.key: spec.result(state)
                for spec, state in zip(self._specs, group.states, strict=True)
            }
            if self._having is None or self._having.evaluate(results):
                entries.append((tuple(_key_order(v) for v in frozen), group, results))
        entries.sort(key=lambda entry: entry[0])
        if order_by is None or order_by == "key":
            if desc:
                entries.reverse()
        else:
            position = self._positions[self._names[order_by]]
            spec = self._specs[position]
            present: list[tuple[tuple[Any, ...], _Entry]] = []
            missing: list[_Entry] = []
            for entry in entries:
                value = spec.sort_value(entry[1].states[position])
                if value is None:
                    missing.append(entry)
                else:
                    present.append((value, entry))
            present.sort(key=lambda pair: pair[0], reverse=desc)
            entries = [entry for _, entry in present] + missing
        if limit is not None:
            entries = entries[:limit]
        return [self._row(group, results) for _, group, results in entries]

    def _row(self, group: _Group, results: Mapping[AggregateKey, Any]) -> Row:
        display = group.display
        key: Any = display[0] if len(display) == 1 else display
        return Row(key, {name: results[k] for name, k in self._names.items()})

    def _display(self, avs: Sequence[Mapping[str, Any] | None], item: WireItem) -> tuple[Any, ...]:
        out: list[Any] = []
        columns = zip(avs, self._annotations, self._group_elements, strict=True)
        for av, annotation, elements in columns:
            if av is None:
                out.append(None)
                continue
            try:
                out.append(_decode(annotation, av))
            except ValidationError as exc:
                key = _item_key(item, self._key_attributes)
                raise ValidationError(
                    f"group_by {AttributePath(elements).dotted}: {exc.message}",
                    key=key,
                ) from exc
        return tuple(out)

    def _check_room(self, groups: int) -> None:
        if groups > self.max_groups:
            raise ValidationError(
                f"aggregation produced more than max_groups={self.max_groups} groups; group by "
                "fewer or coarser attributes, filter the items, or raise max_groups"
            )


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise ValidationError(
            f"aggregate name {name!r} must be an identifier not starting with '_'"
        )
    if name in _RESERVED_NAMES:
        raise ValidationError(
            f"aggregate name {name!r} is reserved by Row ({', '.join(sorted(_RESERVED_NAMES))}); "
            "choose another"
        )


def _is_item_count(aggregate: Aggregate[Any, Any]) -> bool:
    return isinstance(aggregate, Count) and aggregate.path is None


def needed_attributes(
    group_by: Sequence[AttributePath],
    aggregates: Mapping[str, Aggregate[Any, Any]],
    having: HavingCondition | None = None,
) -> list[AttributePath]:
    """Top-level attributes the aggregation reads, for a ProjectionExpression.

    Nested paths are widened to their top-level attribute, so the list never holds overlapping
    paths (which DynamoDB rejects). Empty when only ``Count()`` is asked for: project the key
    attributes then, or use ``Select=COUNT`` (see :func:`count_only`).
    """
    paths: list[AttributePath | None] = [as_path(p) for p in group_by]
    paths += [a.path for a in aggregates.values()]
    if having is not None:
        paths += [a.path for a in having.aggregates()]
    out: dict[str, AttributePath] = {}
    for path in paths:
        if path is None or path.name in out:
            continue
        out[path.name] = (
            path if path.is_top_level else AttributePath((path.name,), None, model=path.model)
        )
    return list(out.values())


def count_only(
    aggregates: Mapping[str, Aggregate[Any, Any]],
    group_by: Sequence[AttributePath],
    having: HavingCondition | None = None,
) -> bool:
    """True when item counts alone answer the aggregation, so ``Select=COUNT`` suffices.

    That is: no grouping, and every aggregate (those shown and those ``having`` reads) is
    ``Count()`` without a path. Feed the counts with :meth:`GroupAccumulator.add_count`.
    """
    if group_by:
        return False
    used = list(aggregates.values())
    if having is not None:
        used += having.aggregates()
    return all(_is_item_count(a) for a in used)
