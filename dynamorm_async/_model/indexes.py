"""Secondary indexes as a model declares them, and as the library resolves them (pure).

A model lists its indexes in ``__indexes__`` with field names (:class:`GlobalIndex`,
:class:`LocalIndex`); :class:`~.model.ModelInfo` resolves each into an :class:`IndexSpec` of
attribute names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["GlobalIndex", "Index", "IndexSpec", "LocalIndex", "Projection"]

Projection = Literal["ALL", "KEYS_ONLY"] | Sequence[str]
"""An index's projection: every attribute, the keys only, or the keys and these attributes."""


@dataclass(frozen=True)
class Index:
    """Common shape of secondary indexes (field names, not attribute names)."""

    name: str
    hash_key: str | None = None
    range_key: str | None = None
    projection: Projection = "ALL"

    @property
    def is_global(self) -> bool:
        return isinstance(self, GlobalIndex)


@dataclass(frozen=True)
class GlobalIndex(Index):
    """A global secondary index: its own hash key and optional range key."""

    read_capacity: int | None = None
    write_capacity: int | None = None

    def __init__(
        self,
        name: str,
        hash_key: str,
        range_key: str | None = None,
        projection: Projection = "ALL",
        *,
        read_capacity: int | None = None,
        write_capacity: int | None = None,
    ) -> None:
        for attr, value in (
            ("name", name),
            ("hash_key", hash_key),
            ("range_key", range_key),
            ("projection", projection),
            ("read_capacity", read_capacity),
            ("write_capacity", write_capacity),
        ):
            object.__setattr__(self, attr, value)


@dataclass(frozen=True)
class LocalIndex(Index):
    """A local secondary index: the table's hash key with another range key."""

    def __init__(self, name: str, range_key: str, projection: Projection = "ALL") -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "hash_key", None)
        object.__setattr__(self, "range_key", range_key)
        object.__setattr__(self, "projection", projection)


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """A resolved index: attribute names of its keys and its projection."""

    name: str
    is_global: bool
    hash_key: str
    range_key: str | None
    projection: Projection
    read_capacity: int | None
    write_capacity: int | None
