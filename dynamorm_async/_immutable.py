"""The base of the library's builders: one immutable state, and methods that return new builders.

Builders come from the Session (``db.query()``, ``db.update()``, ``query.group_by()``...), never
from a constructor, so a builder can be shared, extended and run from any number of tasks.
"""

from __future__ import annotations

from typing import Generic, Self, TypeVar

__all__ = ["ImmutableBuilder"]

S = TypeVar("S")


class ImmutableBuilder(Generic[S]):
    """Holds one immutable state object; assigning any attribute raises AttributeError."""

    __slots__ = ("_state",)

    _state: S

    @classmethod
    def _of(cls, state: S) -> Self:
        builder = object.__new__(cls)
        object.__setattr__(builder, "_state", state)
        return builder

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; its methods return new builders")
