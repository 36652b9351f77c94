"""Pagers: one stream of Query or Scan requests, followed page by page through LastEvaluatedKey.

A pager is one query, one scan or one segment of a parallel scan, and sends one request per
page through the execution context (whose ``call`` bounds the requests in flight). Readers
take its pages as lists (:class:`~.streams.PageSource`); an executor that must know where a
page ended, such as a migration checkpointing after every page, takes them as
:class:`RawPage` pairs ``(items, last_key)`` from :meth:`ItemPager.pages`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from .._wire.shapes import WireShape
from .plan import ReadPlan
from .streams import OnDemand, want_all

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = ["FILTERED_MIN_READ", "CountPager", "ItemPager", "Pager", "RawPage"]

Item = dict[str, Any]

#: A filtered read without ``page_size()`` evaluates at least this many items per request, so a
#: selective filter does not cost one round trip per evaluated item.
FILTERED_MIN_READ = 100


class RawPage(NamedTuple):
    """One page of wire items (typed items of the pager's shape, when it has one) and the key
    the stream resumes after."""

    items: list[Any]
    last_key: Item | None
    """DynamoDB's LastEvaluatedKey: the next page starts after it; None on the last page."""


@dataclass(slots=True, eq=False)
class Pager:
    """What item and count pagers share: the request, its Limit and the resume key."""

    context: ExecutionContext
    plan: ReadPlan
    request: Mapping[str, Any]
    """The request every page starts from (without Limit and ExclusiveStartKey)."""
    start_key: Item | None = None
    """Where the next request starts (ExclusiveStartKey); None at the start."""
    shape: WireShape | None = None
    """Items come as typed wire items of this shape where the transport can (see
    :class:`~.._wire.shapes.WireShape`); None: wire dicts."""
    done: bool = field(default=False, init=False)
    """True once DynamoDB returned the last page."""

    def _request_limit(self, want: int | None) -> int | None:
        page_size = self.plan.page_size
        if want is None:
            return page_size
        if self.plan.filtered:
            # DynamoDB's Limit counts evaluated items, before the filter.
            return page_size or max(want, FILTERED_MIN_READ)
        return min(want, page_size) if page_size else want

    async def _read(self, want: int | None) -> dict[str, Any]:
        request = dict(self.request)
        limit = self._request_limit(want)
        if limit is not None:
            request["Limit"] = limit
        if self.start_key is not None:
            request["ExclusiveStartKey"] = self.start_key
        if self.shape is None:
            response = await self.context.call(self.plan.operation, request, table=self.plan.table)
        else:
            response = await self.context.call(
                self.plan.operation, request, table=self.plan.table, raw_items=True
            )
        self.start_key = response.get("LastEvaluatedKey")
        self.done = self.start_key is None
        return response


class ItemPager(Pager):
    """A pager of wire items."""

    __slots__ = ()

    async def next_page(self, want: int | None) -> list[Any]:
        """Read one page; ``want`` is how many results the consumer still needs, or None."""
        return (await self.next_raw_page(want)).items

    async def next_raw_page(self, want: int | None) -> RawPage:
        """Read one page, with the key the next one starts after."""
        items = (await self._read(want)).get("Items", [])
        if isinstance(items, msgspec.Raw) and self.shape is not None:
            items = self.shape.items(items)
        return RawPage(items, self.start_key)

    def pages(self, want: Callable[[], int | None] = want_all) -> AsyncIterator[RawPage]:
        """``async for items, last_key in pager.pages()``: every page left, one request each.

        ``want()`` says how many results the consumer still needs (None: all); it caps each
        request's Limit, and the pages end once it answers zero. Nothing runs between pages,
        so leaving the loop early needs no cleanup.
        """
        return OnDemand(lambda: self.done, self.next_raw_page, want)


class CountPager(Pager):
    """A pager of ``Select=COUNT`` requests: each page is ``[count]``."""

    __slots__ = ()

    async def next_page(self, want: int | None) -> list[int]:
        """Count one page of matching items."""
        return [int((await self._read(want)).get("Count", 0))]
