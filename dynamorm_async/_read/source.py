"""A query or scan as it is executed: its plan, one pager per segment, its count.

A builder (:mod:`.builders`) holds a :class:`ReadSource` and runs its terminals on it.
Executors that read through a builder (aggregation, migration) get the same object, from
:func:`.builders.read_source` or handed over by the builder, and drive its pagers themselves;
so every read applies the builder's filter, index, consistency, page size and segments in the
same way, and no public class carries hooks for other executors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .._fanout import Tally
from .._spans import NO_SPAN, FanOutSpan
from .._wire.shapes import WireShape
from .pager import CountPager, ItemPager, Pager
from .plan import Operation, Output, ReadPlan, ReadSpec, build_plan
from .streams import merged_pages

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = ["ReadSource"]

Item = dict[str, Any]
P = TypeVar("P", bound=Pager)


@dataclass(frozen=True, slots=True, eq=False)
class ReadSource:
    """One query or scan: the context it reads through, its operation and its spec.

    ``spec`` holds what the builder was told (model, filter, index, ``limit``, ``segments``,
    ``on_invalid``...). Like the builder, a source holds no connection state: every call of
    :meth:`pagers` starts new streams.
    """

    context: ExecutionContext
    operation: Operation
    spec: ReadSpec

    @property
    def table(self) -> str:
        """The full name of the table read."""
        return self.context.table_name(self.spec.model)

    def plan(self, output: Output = "items") -> ReadPlan:
        """The checked request (ValidationError before any request); see :func:`.build_plan`."""
        return build_plan(self.operation, self.spec, self.table, output)

    def pagers(
        self,
        output: Output = "items",
        *,
        start_keys: Sequence[Item | None] | None = None,
        shape: WireShape | None = None,
    ) -> list[ItemPager]:
        """One pager of wire items per segment (one for a query or a sequential scan).

        ``output`` is what :func:`.build_plan` takes: the builder's results, its keys, or
        exactly the given attribute paths (checked by the caller). ``start_keys[i]``, when
        given, resumes segment ``i`` after that LastEvaluatedKey. ``limit()`` is the
        consumer's to apply: pass its ``want`` to :meth:`ItemPager.pages`. With ``shape`` the
        pages hold typed wire items of it where the transport allows (whole items only).
        """
        return self.pagers_of(self.plan(output), ItemPager, start_keys, shape)

    def pagers_of(
        self,
        plan: ReadPlan,
        pager: type[P],
        start_keys: Sequence[Item | None] | None = None,
        shape: WireShape | None = None,
    ) -> list[P]:
        """Pagers of class ``pager`` for ``plan``, one per segment."""
        segments = self.spec.segments
        requests = [plan.request]
        if segments > 1:
            requests = [
                {**plan.request, "Segment": segment, "TotalSegments": segments}
                for segment in range(segments)
            ]
        keys = start_keys if start_keys is not None else [None] * segments
        return [
            pager(self.context, plan, request, start_key=key, shape=shape)
            for request, key in zip(requests, keys, strict=True)
        ]

    def fan_out_span(self) -> FanOutSpan:
        """The tracing span its segments run under when they are read concurrently (a parallel
        scan); ``NO_SPAN`` for one stream of pages."""
        segments = self.spec.segments
        if segments == 1:
            return NO_SPAN
        return self.context.fan_out_span(self.operation, [self.spec.model], segments=segments)

    async def count(self) -> int:
        """How many items match, capped by ``limit``: Select=COUNT, so no item is transferred
        (segments counted concurrently)."""
        tally = Tally(self.spec.limit)
        pagers = self.pagers_of(self.plan("count"), CountPager)
        with self.fan_out_span() as span:
            async with merged_pages(pagers, want=tally.want, span=span) as pages:
                async for page in pages:
                    tally.taken += sum(page)
                    if tally.full:
                        break
        return tally.taken if tally.limit is None else min(tally.taken, tally.limit)
