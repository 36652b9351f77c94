"""HAVING conditions on a group's aggregate results (pure, no I/O).

Comparing an aggregate (``Sum(Order.total) > 100``, see :mod:`.functions`) builds a
:class:`HavingCondition`; combine them with ``& | ~``. Evaluation uses SQL's three-valued
logic: a comparison involving a ``None`` result is unknown, ``~unknown`` stays unknown, and
only groups whose condition is true are kept.
"""

from __future__ import annotations

import operator
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from .._errors import ValidationError
from .._expressions.logic import Connectives

__all__ = ["AggregateKey", "HavingCompare", "HavingCondition", "HavingOperand", "as_having"]

AggregateKey = tuple[str, tuple[str | int, ...]]
"""Structural identity of an aggregate: ``(kind, path elements)``; ``("count", ())`` is Count()."""


class HavingOperand(Protocol):
    """What a HAVING condition needs of an aggregate: its structural identity."""

    @property
    def key(self) -> AggregateKey: ...


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class HavingCondition(Connectives["HavingCondition", "HavingCondition"]):
    """A condition on a group's aggregate results; combine with ``&``, ``|`` and ``~``."""

    __slots__ = ()
    _family = "a HAVING condition"

    def evaluate(self, values: Mapping[AggregateKey, Any]) -> bool:
        """True when the condition holds for results keyed by :attr:`Aggregate.key`."""
        return self._truth(values) is True

    @abstractmethod
    def _truth(self, values: Mapping[AggregateKey, Any]) -> bool | None:
        """Three-valued truth: None means unknown (a None result was compared)."""

    @abstractmethod
    def aggregates(self) -> tuple[Any, ...]:
        """Every aggregate this condition reads."""

    def _all_of(self, other: HavingCondition) -> HavingCondition:
        return _HavingAnd((self, as_having(other)))

    def _any_of(self, other: HavingCondition) -> HavingCondition:
        return _HavingOr((self, as_having(other)))

    def _negated(self) -> HavingCondition:
        return _HavingNot(self)


def as_having(value: object) -> HavingCondition:
    """``value`` itself when it is a HAVING condition; a ValidationError otherwise."""
    return HavingCondition.require(value, "a HAVING condition such as Sum(Order.total) > 100")


def _lookup(values: Mapping[AggregateKey, Any], aggregate: HavingOperand) -> Any:
    try:
        return values[aggregate.key]
    except KeyError:
        raise ValidationError(f"HAVING reads {aggregate!r}, which was not computed") from None


@dataclass(frozen=True, slots=True, eq=False)
class HavingCompare(HavingCondition):
    """``aggregate op operand``: ``operand`` is a value, or an aggregate when
    ``operand_is_aggregate``."""

    aggregate: HavingOperand
    op: str
    operand: Any
    operand_is_aggregate: bool = False

    def _truth(self, values: Mapping[AggregateKey, Any]) -> bool | None:
        left = _lookup(values, self.aggregate)
        right = (
            _lookup(values, self.operand) if self.operand_is_aggregate else self.operand
        )
        if left is None or right is None:
            return None
        try:
            return bool(_OPERATORS[self.op](left, right))
        except TypeError as exc:
            raise ValidationError(
                f"HAVING cannot compare {self.aggregate!r} = {left!r} with {right!r}: {exc}"
            ) from exc

    def aggregates(self) -> tuple[Any, ...]:
        if self.operand_is_aggregate:
            return (self.aggregate, self.operand)
        return (self.aggregate,)

    def __repr__(self) -> str:
        return f"{self.aggregate!r} {self.op} {self.operand!r}"


@dataclass(frozen=True, slots=True, eq=False)
class _HavingJunction(HavingCondition):
    """AND or OR of several conditions, in three-valued logic."""

    parts: tuple[HavingCondition, ...]
    #: The truth value that settles the junction by itself: False for AND, True for OR.
    _settles: ClassVar[bool]
    _symbol: ClassVar[str]

    def _truth(self, values: Mapping[AggregateKey, Any]) -> bool | None:
        truths = [part._truth(values) for part in self.parts]
        if self._settles in truths:
            return self._settles
        return None if None in truths else not self._settles

    def aggregates(self) -> tuple[Any, ...]:
        return tuple(a for part in self.parts for a in part.aggregates())

    def _extended(self, other: HavingCondition) -> HavingCondition:
        """The junction of the same kind with ``other`` as one more part (kept flat)."""
        return type(self)((*self.parts, as_having(other)))

    def __repr__(self) -> str:
        return f" {self._symbol} ".join(f"({p!r})" for p in self.parts)


class _HavingAnd(_HavingJunction):
    __slots__ = ()
    _settles, _symbol = False, "&"
    _all_of = _HavingJunction._extended


class _HavingOr(_HavingJunction):
    __slots__ = ()
    _settles, _symbol = True, "|"
    _any_of = _HavingJunction._extended


@dataclass(frozen=True, slots=True, eq=False)
class _HavingNot(HavingCondition):
    inner: HavingCondition

    def _truth(self, values: Mapping[AggregateKey, Any]) -> bool | None:
        truth = self.inner._truth(values)
        return None if truth is None else not truth

    def aggregates(self) -> tuple[Any, ...]:
        return self.inner.aggregates()

    def _negated(self) -> HavingCondition:
        return self.inner

    def __repr__(self) -> str:
        return f"~({self.inner!r})"
