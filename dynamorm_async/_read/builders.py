"""Query and scan builders and their terminals.

``db.query(Order)`` and ``db.scan(Order)`` return builders; every method returns a new builder
and nothing is sent until a terminal runs (``async for``, ``all()``, ``first()``, ``count()``,
``page()``, ``pages()``, ``delete()``). Everything that can be checked without DynamoDB is
checked before the first request: the key condition against the table and its indexes, the
choice of index, consistency on a GSI (:mod:`.plan`), projections (:mod:`.projection`) and
cursors. A builder holds one :class:`~.source.ReadSource`, whose pagers
(:mod:`.pager`) every terminal reads; :func:`read_source` hands it to executors that drive
the pagers themselves.

Results stream page by page: ``async for`` holds one DynamoDB page (one per segment of a
parallel scan) at a time, so memory does not grow with the size of the result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar, cast, overload

import msgspec

from .._checks import whole_number
from .._errors import ValidationError
from .._expressions.core import AttributePath, Condition, as_condition
from .._fanout import Tally
from .._model.model import Model, ModelInfo, model_info
from .._wire.shapes import WireShape
from .cursor import CursorCodec
from .invalid import OnInvalid, check_on_invalid, decode_page, skipping
from .pager import ItemPager
from .pages import (
    CursorSigner,
    CursorState,
    Page,
    cut_page,
    page_reads_needed,
    resume_key,
)
from .plan import Operation, ReadSpec, key_terms, pinned_key
from .projection import DictDecoder, StructDecoder, parse_projection
from .source import ReadSource
from .streams import Flatten, PageSource, RoundStream, merged_pages

if TYPE_CHECKING:
    from .._aggregate.builders import Aggregation, GroupBy
    from .._aggregate.functions import Aggregate
    from .._context import ExecutionContext
    from .._runner import Runner
    from .._write.update import UpdateBuilder

__all__ = [
    "ProjectedQuery",
    "ProjectedScan",
    "Query",
    "Scan",
    "read_source",
]

R = TypeVar("R")
K1 = TypeVar("K1")
K2 = TypeVar("K2")
M = TypeVar("M", bound=Model)
S = TypeVar("S", bound=msgspec.Struct)

Item = dict[str, Any]

#: DynamoDB's bound on TotalSegments.
MAX_SEGMENTS = 1_000_000


def _as_is(item: Item) -> Item:
    return item


B = TypeVar("B", bound="_Reader[Any]")


class _Reader(Generic[R]):
    """What queries and scans share: filter, index, limits, consistency and the terminals.

    A builder is immutable and holds no connection state, so one builder may be run any number
    of times, from any number of tasks.
    """

    __slots__ = ("_source",)

    _operation: ClassVar[Operation]
    _source: ReadSource

    def __init__(self, session: ExecutionContext, model: type[Model]) -> None:
        model_info(model)
        object.__setattr__(self, "_source", ReadSource(session, self._operation, ReadSpec(model)))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; its methods return new builders")

    def _as(self, cls: type[B], **changes: Any) -> B:
        clone = object.__new__(cls)
        source = replace(self._source, spec=replace(self._spec, **changes))
        object.__setattr__(clone, "_source", source)
        return clone

    def _with(self, **changes: Any) -> Self:
        return self._as(type(self), **changes)

    @property
    def _spec(self) -> ReadSpec:
        return self._source.spec

    @property
    def _info(self) -> ModelInfo:
        return model_info(self._spec.model)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._spec.model.__name__}, {self._spec!r})"

    # --- builder methods -------------------------------------------------------------------

    def filter(self, condition: Condition | bool) -> Self:
        """Keep only items matching ``condition`` (FilterExpression, applied after the read);
        several calls are combined with AND."""
        condition = as_condition(condition)
        current = self._spec.filter
        return self._with(filter=condition if current is None else current & condition)

    def index(self, name: str) -> Self:
        """Read a global or local secondary index instead of the table."""
        indexes = self._info.indexes
        if name not in indexes:
            known = ", ".join(repr(n) for n in indexes) or "none"
            raise ValidationError(
                f"{self._spec.model.__name__} has no index {name!r} (its indexes: {known})"
            )
        return self._with(index=name)

    def limit(self, n: int) -> Self:
        """Return at most ``n`` items overall, counted after the filter (reads go on until
        ``n`` items matched or the results ran out)."""
        return self._with(limit=whole_number("limit", n))

    def page_size(self, n: int) -> Self:
        """DynamoDB's ``Limit``: at most ``n`` items evaluated per request."""
        return self._with(page_size=whole_number("page_size", n))

    def consistent(self, enabled: bool = True) -> Self:
        """Strongly consistent reads (the table or an LSI; a GSI is a ValidationError)."""
        return self._with(consistent=bool(enabled))

    def on_invalid(self, mode: OnInvalid) -> Self:
        """What to do with a stored item that does not fit the model: ``"raise"``
        ItemDecodeError (the default), or ``"skip"`` it: log it at WARNING and leave it out
        (listed on ``Page.invalid`` for pages; not counted against ``limit()``)."""
        return self._with(on_invalid=check_on_invalid(mode))

    # --- decoding --------------------------------------------------------------------------

    def _decoder(self) -> Callable[[Item], R]:
        projection = self._spec.projection
        if projection is None:
            return cast("Callable[[Item], R]", self._info.decode)
        if isinstance(projection, tuple):
            return cast("Callable[[Item], R]", DictDecoder(self._info, projection))
        return cast("Callable[[Item], R]", StructDecoder(projection, self._spec.model))

    def _shape(self) -> WireShape | None:
        """The typed wire shape whole-model results are read in (None for projections)."""
        return self._info.wire_shape if self._spec.projection is None else None

    # --- terminals -------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[R]:
        """Stream every result, one DynamoDB page (per segment) in memory at a time."""
        sources: list[PageSource[Item]] = list(self._source.pagers(shape=self._shape()))
        decode = skipping(self._decoder(), self._spec.on_invalid)
        return RoundStream(
            sources, decode, limit=self._spec.limit, span=self._source.fan_out_span
        )

    @asynccontextmanager
    async def stream(self) -> AsyncIterator[AsyncIterator[R]]:
        """``async with q.stream() as items``: results, segments read ahead while you consume.

        On a parallel scan every segment keeps reading into a bounded buffer (one page per
        segment) while the block runs; leaving the block, normally or by an exception or
        cancellation, stops and awaits every segment. Plain ``async for`` reads a round of
        pages only when asked, so it needs no block; use this for throughput. A query or a
        sequential scan reads its next page when the consumer reaches it, either way.
        """
        decode = skipping(self._decoder(), self._spec.on_invalid)
        tally = Tally(self._spec.limit)
        pagers = self._source.pagers(shape=self._shape())
        with self._source.fan_out_span() as span:
            async with merged_pages(pagers, want=tally.want, span=span) as pages:
                yield Flatten(pages, decode, tally)

    async def all(self) -> list[R]:
        """Every result in a list (segments read ahead concurrently on a parallel scan)."""
        async with self.stream() as items:
            return [item async for item in items]

    async def first(self) -> R | None:
        """The first result, or None."""
        async for item in self.limit(1):
            return item
        return None

    async def count(self) -> int:
        """How many items match, capped by ``limit``: Select=COUNT, so no item is transferred
        (segments counted concurrently)."""
        return await self._source.count()

    async def page(self, size: int, cursor: str | None = None) -> Page[R]:
        """One page of at most ``size`` results and the cursors to its neighbours.

        ``cursor`` is a ``next_cursor`` or ``prev_cursor`` of an earlier page of this same
        query (InvalidCursor otherwise, before any request). A page holds ``size`` results
        unless the results run out; the last page has no ``next_cursor`` and the first no
        ``prev_cursor``. A query's ``prev_cursor`` reads backward from the page's first item;
        a scan's is always None (DynamoDB has no backward scan). When items are written or
        deleted between two calls a page can come back shorter or empty; an empty page has
        no cursors.
        """
        size = whole_number("size", size)
        self._check_pageable()
        plan = self._source.plan()
        signer = CursorSigner(
            self._source.context.cursor_codec,
            CursorCodec.binding_for(plan.operation, dict(plan.request), self._spec.limit),
            plan.cursor_attributes,
        )
        state = None if cursor is None else signer.decode(cursor)
        request = plan.request
        if state is not None and state.backward:
            # Only query pages hand out backward cursors (see _ScanBase).
            request = {**request, "ScanIndexForward": self._spec.reverse}
        pager = ItemPager(
            self._source.context, plan, request, start_key=None if state is None else state.key
        )
        needed = page_reads_needed(size, state, self._spec.limit)
        collected: list[Item] = []
        while len(collected) < needed and not pager.done:
            collected.extend(await pager.next_page(needed - len(collected)))
        window = cut_page(collected, size=size, state=state, limit=self._spec.limit)
        keys = plan.cursor_attributes
        next_cursor = prev_cursor = None
        if window.has_next:
            next_cursor = signer.encode(
                CursorState(
                    resume_key(window.items[-1], keys), False, window.offset + len(window.items)
                )
            )
        if window.has_prev and plan.operation == "Query":
            prev_cursor = signer.encode(
                CursorState(resume_key(window.items[0], keys), True, window.offset)
            )
        items, invalid = decode_page(window.items, self._decoder(), self._spec.on_invalid)
        return Page(items, next_cursor, prev_cursor, invalid)

    def pages(self, size: int, cursor: str | None = None) -> AsyncIterator[Page[R]]:
        """Every page from ``cursor`` (or the start) onward: ``async for p in q.pages(20)``."""
        self._check_pageable()
        return _PageWalk(self, whole_number("size", size), cursor)

    def _check_pageable(self) -> None:
        if self._spec.segments > 1:
            raise ValidationError(
                "page() does not work on a parallel scan: its segments have no common order, so "
                "one cursor cannot say where every segment stopped; page a sequential scan "
                "(without .segments()), or read the parallel scan with async for / .all()"
            )

    async def delete(self) -> int:
        """Delete every matching item; returns how many were deleted.

        Only the table's key attributes are read, and they stream into batched deletes as
        they arrive, so memory does not grow with the number of items. ``limit`` caps how
        many are deleted; a parallel scan deletes from every segment concurrently.
        """
        from .._batch.run import delete_keys

        tally = Tally(self._spec.limit)
        pagers = self._source.pagers("keys")
        with self._source.fan_out_span() as span:
            async with merged_pages(pagers, want=tally.want, span=span) as pages:
                keys = Flatten(pages, _as_is, tally)
                return await delete_keys(self._source.context, self._spec.model, keys)


class _PageWalk(Generic[R]):
    """Iterator over successive pages, following ``next_cursor`` until the last page."""

    __slots__ = ("_cursor", "_done", "_reader", "_size")

    def __init__(self, reader: _Reader[R], size: int, cursor: str | None) -> None:
        self._reader = reader
        self._size = size
        self._cursor = cursor
        self._done = False

    def __aiter__(self) -> _PageWalk[R]:
        return self

    async def __anext__(self) -> Page[R]:
        if self._done:
            raise StopAsyncIteration
        page = await self._reader.page(self._size, self._cursor)
        self._cursor = page.next_cursor
        self._done = page.next_cursor is None
        return page


class _Aggregating(_Reader[M]):
    """GROUP BY and aggregates over the items a query or scan of models reads."""

    __slots__ = ()

    @overload
    def group_by(self, path: AttributePath[K1], /) -> GroupBy[M, K1 | None]: ...
    @overload
    def group_by(
        self, first: AttributePath[K1], second: AttributePath[K2], /
    ) -> GroupBy[M, tuple[K1 | None, K2 | None]]: ...
    @overload
    def group_by(self, *paths: object) -> GroupBy[M]: ...

    def group_by(self, *paths: object) -> GroupBy[M]:
        """Group the items read by ``paths``; chain ``.aggregate(name=Count(), ...)``. Typed
        paths (see ``path()``) type the rows' keys: a missing value is None."""
        from .._aggregate.builders import new_group_by

        return new_group_by(self._source, paths)

    def aggregate(
        self, *, runner: Runner | None = None, **named: Aggregate[Any, Any]
    ) -> Aggregation[M]:
        """Aggregates over every item read (one group): ``.aggregate(total=Sum(Order.total))``;
        ``runner`` runs the segments (default: this process)."""
        from .._aggregate.builders import new_aggregation

        return new_aggregation(self._source, named, runner)


class _QueryBase(_Reader[R]):
    """Query-only builder methods: the key condition, the direction and projections."""

    __slots__ = ()
    _operation: ClassVar[Operation] = "Query"

    def where(self, *conditions: Condition | bool) -> Self:
        """The key condition: hash key ``==``, and optionally one range-key condition (``==``,
        ``<``, ``<=``, ``>``, ``>=``, ``between()``, ``begins_with()``).

        Checked against the table and every index; without ``.index()`` the table is read if
        the condition fits it, else the one index it fits.
        """
        if not conditions:
            raise ValidationError("where() needs at least one key condition")
        terms = key_terms(self._info, conditions)
        return self._with(where=self._spec.where + terms)

    def reverse(self) -> Self:
        """Descending range-key order (ScanIndexForward=false)."""
        return self._with(reverse=True)

    @overload
    def select(self, struct: type[S], /) -> ProjectedQuery[S]: ...  # type: ignore[overload-overlap]

    @overload
    def select(self, *paths: object) -> ProjectedQuery[dict[str, Any]]: ...

    def select(self, *targets: object) -> ProjectedQuery[Any]:
        """Read only some attributes: paths give dicts keyed by field name, one msgspec Struct
        type gives instances of it (its fields name the attributes)."""
        return self._as(ProjectedQuery, projection=parse_projection(self._info, targets))


class Query(_QueryBase[M], _Aggregating[M]):
    """A query over a model's table or one of its indexes; results are model instances.

    Immutable: each method returns a new Query. Run it with ``async for``, ``all()``,
    ``first()``, ``count()``, ``page()``, ``pages()``, ``delete()`` or ``update()``, or
    aggregate it with ``group_by()`` / ``aggregate()``.
    Pagination runs both ways: ``prev_cursor`` reads backward from a page's first item and
    returns the items in the query's own order.
    """

    __slots__ = ()

    def __init__(self, session: ExecutionContext, model: type[M]) -> None:
        super().__init__(session, model)

    def update(self) -> UpdateBuilder[M]:
        """An UpdateItem builder for the one item whose full primary key ``.where()`` pins
        with ``==`` (ValidationError for anything else, before any request)."""
        from .._write.update import start_update

        key = pinned_key(self._spec)
        return start_update(self._source.context, cast("type[M]", self._spec.model), key)


class ProjectedQuery(_QueryBase[R]):
    """A query whose results are projections: dicts of selected paths, or partial structs."""

    __slots__ = ()


class _ScanBase(_Reader[R]):
    """Scan-only builder methods: parallel segments and projections.

    Scans page forward only: DynamoDB has no backward scan, and emulating one would mean
    re-reading the table (or segment) from the start up to the cursor on every page, so a scan
    page's ``prev_cursor`` is always None.
    """

    __slots__ = ()
    _operation: ClassVar[Operation] = "Scan"

    def segments(self, n: int) -> Self:
        """A parallel scan of ``n`` segments, read concurrently (bounded by the Session's
        ``max_concurrency``) and merged into one stream; every other property applies to
        each segment."""
        return self._with(segments=whole_number("segments", n, maximum=MAX_SEGMENTS))

    @overload
    def select(self, struct: type[S], /) -> ProjectedScan[S]: ...  # type: ignore[overload-overlap]

    @overload
    def select(self, *paths: object) -> ProjectedScan[dict[str, Any]]: ...

    def select(self, *targets: object) -> ProjectedScan[Any]:
        """Read only some attributes: paths give dicts keyed by field name, one msgspec Struct
        type gives instances of it (its fields name the attributes)."""
        return self._as(ProjectedScan, projection=parse_projection(self._info, targets))


class Scan(_ScanBase[M], _Aggregating[M]):
    """A scan of a model's table or index; results are model instances.

    Immutable: each method returns a new Scan. ``segments(n)`` makes it a parallel scan;
    ``async for`` over it leaves no task running between items, so ``break`` needs no cleanup.
    A parallel scan cannot be paged with cursors (``page()`` raises ValidationError).
    """

    __slots__ = ()

    def __init__(self, session: ExecutionContext, model: type[M]) -> None:
        super().__init__(session, model)


class ProjectedScan(_ScanBase[R]):
    """A scan whose results are projections: dicts of selected paths, or partial structs."""

    __slots__ = ()


def read_source(reader: _Reader[Any]) -> ReadSource:
    """The read behind a query or scan builder, for executors that drive its pagers
    themselves (migration): the builder's own, so nothing is read differently."""
    return reader._source
