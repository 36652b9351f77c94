"""The algebra every family of conditions shares: ``&``, ``|``, ``~``, and no truth value (pure).

DynamoDB conditions (:mod:`.core`) and HAVING conditions (:mod:`.._aggregate.having`) build
different nodes but combine the same way. ``bool()`` is refused for both: ``a and b`` would
silently keep only one of the two conditions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Generic, Self, TypeVar

from .._errors import ValidationError

__all__ = ["Connectives"]

C = TypeVar("C")
O_contra = TypeVar("O_contra", contravariant=True)


class Connectives(ABC, Generic[C, O_contra]):
    """``&``/``|``/``~`` for conditions of type ``C`` combined with operands ``O_contra``."""

    __slots__ = ()

    #: How error messages name the family: "a condition", "a HAVING condition".
    _family: ClassVar[str]

    @abstractmethod
    def _all_of(self, other: O_contra) -> C:
        """Both this and ``other`` hold."""

    @abstractmethod
    def _any_of(self, other: O_contra) -> C:
        """This or ``other`` holds."""

    @abstractmethod
    def _negated(self) -> C:
        """This does not hold."""

    @classmethod
    def require(cls, value: object, expected: str, advice: str = "") -> Self:
        """``value`` when it is one of this family; else a ValidationError saying what was
        ``expected`` (and ``advice`` on how to build one)."""
        if isinstance(value, cls):
            return value
        got = f"got {type(value).__name__} {value!r}"
        raise ValidationError(f"expected {expected}, {got}" + (f"; {advice}" if advice else ""))

    def __and__(self, other: O_contra) -> C:
        return self._all_of(other)

    def __or__(self, other: O_contra) -> C:
        return self._any_of(other)

    # A type checker reads ``Order.total > 1`` as a bool (without the mypy plugin), so
    # ``(Order.total > 1) & path(Order.tags).contains("x")`` must type-check from the right too.
    # At runtime that left operand is a condition and these are never reached, except for a
    # real bool, which ``_all_of``/``_any_of`` reject.
    def __rand__(self, other: O_contra) -> C:
        return self._all_of(other)

    def __ror__(self, other: O_contra) -> C:
        return self._any_of(other)

    def __invert__(self) -> C:
        return self._negated()

    def __bool__(self) -> bool:
        raise ValidationError(
            f"{self._family} has no truth value: combine conditions with & | ~, not and/or/not"
        )

