"""Cursor pagination: the Page type and the cursor state pages hand out (pure, no I/O).

A cursor marks a boundary between two results of one query and says on which side the page it
opens lies. Its state is the wire key of the result next to the boundary (the last item of a
page for ``next_cursor``, the first item for ``prev_cursor``), used as ``ExclusiveStartKey``,
so a page cut short by its size loses nothing that DynamoDB had already evaluated::

    {"k": {"customer": {"S": "c1"}, "order_id": {"S": "o7"}},   # resume key (exclusive)
     "b": false,                                                 # page lies before "k"?
     "o": 20}                                                    # results before the boundary

``o`` counts the results in front of the boundary, so ``.limit(n)`` can end a walk through
pages at exactly ``n`` results. States are signed by :class:`~dynamorm_async._cursor.CursorCodec`
and bound to the query that made them; :class:`CursorSigner` adds the structural checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .._errors import InvalidCursor, ItemDecodeError
from .cursor import CursorCodec

__all__ = [
    "CursorSigner",
    "CursorState",
    "Page",
    "PageWindow",
    "cut_page",
    "page_reads_needed",
    "resume_key",
]

T = TypeVar("T")

_KEY_TAGS = frozenset({"S", "N", "B"})


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results, in the query's order, and the cursors to its neighbours.

    ``next_cursor`` is None on the last page and ``prev_cursor`` on the first; pass either to
    ``page(size=..., cursor=...)`` of the same query. Cursors are opaque URL-safe strings.
    ``invalid`` lists the stored items of this page that did not fit the model, left out of
    ``items`` by ``on_invalid("skip")``; they still take their place in the page's ``size``,
    so the cursors step over them exactly.
    """

    items: list[T]
    next_cursor: str | None = None
    prev_cursor: str | None = None
    invalid: list[ItemDecodeError] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CursorState:
    """What a cursor carries: the boundary key, the side the page lies on, the result count
    in front of the boundary."""

    key: dict[str, dict[str, str]]
    backward: bool
    offset: int

    def to_json(self) -> dict[str, Any]:
        return {"k": self.key, "b": self.backward, "o": self.offset}


class CursorSigner:
    """Encodes and verifies the cursors of one query (one binding, one set of key attributes)."""

    __slots__ = ("_binding", "_codec", "_key_attributes")

    def __init__(
        self, codec: CursorCodec, binding: bytes, key_attributes: Sequence[str]
    ) -> None:
        self._codec = codec
        self._binding = binding
        self._key_attributes = frozenset(key_attributes)

    def encode(self, state: CursorState) -> str:
        return self._codec.encode(self._binding, state.to_json())

    def decode(self, token: str) -> CursorState:
        """Verify a token (InvalidCursor on any failure) and return its state."""
        data = self._codec.decode(self._binding, token)
        key, backward, offset = data.get("k"), data.get("b"), data.get("o")
        if (
            not isinstance(key, dict)
            or set(key) != self._key_attributes
            or not all(_is_key_value(v) for v in key.values())
            or not isinstance(backward, bool)
            or not isinstance(offset, int)
            or isinstance(offset, bool)
            or offset < 0
        ):
            # Only a codec with the same secret can sign a state, so this means a bug or a
            # cursor made by a different version of the library for the same query.
            raise InvalidCursor("cursor state is malformed; request the first page again")
        return CursorState(key, backward, offset)


def _is_key_value(value: object) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((tag, text),) = value.items()
    return tag in _KEY_TAGS and isinstance(text, str)


def resume_key(item: Mapping[str, Any], attributes: Sequence[str]) -> dict[str, dict[str, str]]:
    """The ExclusiveStartKey that resumes right after (or before) ``item``."""
    return {attribute: item[attribute] for attribute in attributes}


@dataclass(frozen=True, slots=True)
class PageWindow:
    """The raw items of one page in the query's order, and which neighbours exist."""

    items: list[dict[str, Any]]
    has_next: bool
    has_prev: bool
    offset: int
    """Results in front of the page's first item."""


def cut_page(
    collected: list[dict[str, Any]],
    *,
    size: int,
    state: CursorState | None,
    limit: int | None,
) -> PageWindow:
    """Cut one page out of the raw items read from the cursor's boundary outward.

    ``collected`` runs away from the boundary: forward for a first or next page, backward
    (reverse of the query's order) for a previous page. The reader stops once it holds one item
    beyond the page, or the results ran out, so a longer list proves a neighbour exists.
    """
    if state is None or not state.backward:
        offset = state.offset if state is not None else 0
        want = size if limit is None else max(0, min(size, limit - offset))
        items = collected[:want]
        beyond_limit = limit is not None and offset + len(items) >= limit
        return PageWindow(
            items=items,
            has_next=bool(items) and len(collected) > want and not beyond_limit,
            has_prev=bool(items) and state is not None,
            offset=offset,
        )
    items = collected[:size]
    items.reverse()
    return PageWindow(
        items=items,
        has_next=bool(items),
        has_prev=bool(items) and len(collected) > size,
        offset=max(0, state.offset - len(items)),
    )


def page_reads_needed(size: int, state: CursorState | None, limit: int | None) -> int:
    """How many results a page must read: one beyond the page, unless ``limit`` ends it."""
    if state is None or not state.backward:
        offset = state.offset if state is not None else 0
        if limit is not None and limit - offset <= size:
            return max(0, limit - offset)
    return size + 1
