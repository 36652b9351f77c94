"""Aggregate specs (Count, Sum, Avg, Min, Max) and HAVING conditions (pure, no I/O).

An aggregate folds DynamoDB wire items (``{"total": {"N": "12.50"}}``), never model instances,
into a small mergeable state, so partial results (one per parallel-scan segment) merge exactly
into what one pass would have produced. Comparing an aggregate builds a HAVING condition
(``Sum(Order.total) > 100``); :mod:`.accumulator` keeps one state per group and applies it.

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
- A path whose model type cannot be added (``Sum``/``Avg`` need numbers) or ordered (``Min``/
  ``Max`` need numbers, strings or binary) is a ``ValidationError`` when the aggregate is built.
- A stored value the aggregate cannot use (a string under ``Sum``, a number then a string under
  ``Max``) raises ``ItemDecodeError`` naming the aggregate and the offending item's key.
- HAVING uses SQL's three-valued logic: a comparison involving a ``None`` result is unknown,
  ``~unknown`` stays unknown, and only groups whose condition is true are kept.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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

from .._errors import ItemDecodeError, ValidationError
from .._expressions.core import AttributePath, as_path
from .._wire.decode_errors import value_decode_error
from .._wire.lookup import WireItem, decode_value, item_key, kind_or_none, resolve
from .._wire.taggers import TypeKind, to_wire_value
from .._wire.values import MAX_DIGITS, TYPE_NAMES, tag_of
from .._wire.values import decode_binary as wire_binary
from .._wire.values import parse_decimal as wire_decimal
from .having import AggregateKey, HavingCompare, HavingCondition, as_having

__all__ = [
    "Aggregate",
    "AggregateKey",
    "Avg",
    "Count",
    "HavingCondition",
    "Max",
    "Min",
    "Sum",
    "as_having",
]

S = TypeVar("S")
R = TypeVar("R")

# DynamoDB numbers have at most 38 digits between 1E-130 and 1E+126, so 400 digits hold any sum
# of them exactly; Inexact is trapped so a sum can never round silently.
_SUM_CONTEXT = Context(prec=400, traps=[Inexact, Overflow, InvalidOperation])
_AVG_CONTEXT = Context(
    prec=MAX_DIGITS, rounding=ROUND_HALF_EVEN, traps=[Overflow, InvalidOperation]
)


# --- aggregates ---------------------------------------------------------------------------


def _rebuild(
    kind: type[Aggregate[Any, Any]],
    model: type | None,
    names: tuple[str | int, ...],
    elements: tuple[str | int, ...],
    annotation: Any,
) -> Aggregate[Any, Any]:
    """An aggregate from its pickled form: its path walked again from the model, as written
    (``Order.lines[0].qty``), or rebuilt from its elements when it named no model."""
    if model is None:
        return kind(AttributePath(elements, annotation))
    path: Any = model
    for name in names:
        path = path[name] if isinstance(name, int) else getattr(path, name)
    return kind(path)


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
        object.__setattr__(self, "_elements", checked._elements)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Immutability leaves pickle no attribute to restore, so the aggregate is rebuilt the
        # way it was written: aggregate states travel to and from worker processes.
        path = self.path
        if path is None:
            return type(self), ()
        return _rebuild, (type(self), path._model, path._names, path._elements, path._annotation)

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
        return f"{type(self).__name__}({self.path._dotted if self.path is not None else ''})"

    def _where(self) -> str:
        return self.path._dotted if self.path is not None else ""

    def _check_kind(self, allowed: frozenset[TypeKind], needs: str) -> None:
        """ValidationError now when the path's model type is not one this aggregate reads."""
        path = self.path
        if path is None or path._annotation is None:
            return
        kind = kind_or_none(path._annotation)
        if kind is None or kind is TypeKind.ANY or kind in allowed:
            return
        owner = path._model.__name__ + "." if isinstance(path._model, type) else ""
        raise ValidationError(
            f"{self!r} {needs}, but {owner}{path._dotted} is typed {path._annotation!r}"
        )

    def _bad_value(
        self, reason: str, item: WireItem, key_attributes: tuple[str, ...]
    ) -> ItemDecodeError:
        model = self.path._model if self.path is not None else None
        return value_decode_error(
            model if isinstance(model, type) else None,
            self._elements,
            item,
            reason,
            key_attributes=key_attributes,
        )

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
        operand = self._operand(value)
        return HavingCompare(self, op, operand, isinstance(operand, Aggregate))

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
        if not self._elements or resolve(item, self._elements) is not None:
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

    def __init__(self, path: object) -> None:
        super().__init__(path)
        self._check_kind(frozenset({TypeKind.NUMBER}), "adds numbers")

    def _number(self, item: WireItem, key_attributes: tuple[str, ...]) -> Decimal | None:
        av = resolve(item, self._elements)
        if av is None:
            return None
        text = av.get("N")
        if text is None:
            raise self._bad_value(
                f"{self!r} adds numbers, but an item holds a "
                f"{TYPE_NAMES.get(tag_of(av), tag_of(av))} at {self._where()}",
                item,
                key_attributes,
            )
        return wire_decimal(text)

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

    def __init__(self, path: object) -> None:
        super().__init__(path)
        self._check_kind(
            frozenset({TypeKind.NUMBER, TypeKind.STRING, TypeKind.BINARY}),
            "compares numbers, strings or binary",
        )

    def new_state(self) -> _Extreme | None:
        return None

    def add(
        self, state: _Extreme | None, item: WireItem, *, key_attributes: tuple[str, ...] = ()
    ) -> _Extreme | None:
        av = resolve(item, self._elements)
        if av is None:
            return state
        tag = tag_of(av)
        value: Any
        if tag == "N":
            value = wire_decimal(av["N"])
        elif tag == "S":
            value = str(av["S"])
        elif tag == "B":
            value = wire_binary(av["B"])
        else:
            raise self._bad_value(
                f"{self!r} compares numbers, strings or binary, but an item holds a "
                f"{TYPE_NAMES.get(tag, tag)} at {self._where()}",
                item,
                key_attributes,
            )
        # Most items do not replace the current extreme: skip building their key (the hot path).
        if state is not None and state.kind == tag and not type(self)._better(value, state.value):
            return state
        candidate = _Extreme(tag, value, av, item_key(item, key_attributes))
        return self._pick(state, candidate, item, key_attributes)

    def _pick(
        self,
        current: _Extreme | None,
        candidate: _Extreme,
        item: WireItem | None = None,
        key_attributes: tuple[str, ...] = (),
    ) -> _Extreme:
        if current is None:
            return candidate
        if current.kind != candidate.kind:
            error = self._bad_value(
                f"{self!r} mixes value types: an item holds a {TYPE_NAMES[candidate.kind]} "
                f"at {self._where()} where item {current.key} holds a "
                f"{TYPE_NAMES[current.kind]}; an aggregate compares values of one type",
                item or {},
                key_attributes,
            )
            error.key, error.item = candidate.key, dict(item) if item is not None else None
            raise error
        # Ties keep the earlier value, so merging partial states equals one pass.
        return candidate if type(self)._better(candidate.value, current.value) else current

    def merge(self, a: _Extreme | None, b: _Extreme | None) -> _Extreme | None:
        return a if b is None else self._pick(a, b)

    def result(self, state: _Extreme | None) -> Any:
        if state is None:
            return None
        annotation = self.path._annotation if self.path is not None else None
        return decode_value(annotation, state.av)

    def sort_value(self, state: _Extreme | None) -> tuple[Any, ...] | None:
        return None if state is None else (_EXTREME_RANK[state.kind], state.value)

    def _operand(self, value: object) -> object:
        if isinstance(value, Aggregate | HavingCondition) or value is None:
            return super()._operand(value)
        annotation = self.path._annotation if self.path is not None else None
        is_number = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
        if annotation is None:
            return _number_operand(self, value) if is_number else value
        if kind_or_none(annotation) is TypeKind.NUMBER:
            return _number_operand(self, value)
        # Round-trip through the wire form: checks the type now (not at evaluation) and
        # normalises e.g. datetimes to the stored UTC precision.
        return decode_value(annotation, to_wire_value(annotation, value))


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
