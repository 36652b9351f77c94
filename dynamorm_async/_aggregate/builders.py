"""Aggregation executor: GROUP BY / HAVING builders streaming a query or scan into accumulators.

``db.scan(Order).group_by(Order.status)`` returns a :class:`GroupBy` and
``db.query(Order).where(...).aggregate(total=Sum(Order.total))`` an :class:`Aggregation`.
Both are immutable builders; awaiting one runs it (``execute()`` does the same): a ``GroupBy``
gives ``list[Row]``, an ``Aggregation`` the one ``Row`` of its single group.

How it runs (the pure half lives in :mod:`._aggregate` and :mod:`._grouping`):

- Push-down. Only the attributes that grouping and the aggregates read are projected, plus the
  table's key attributes so a type error can name the offending item. The filter needs none of
  them: DynamoDB evaluates a FilterExpression on the whole stored item before projecting. When
  the answer is item counts alone (``Count()`` without grouping), the read uses
  ``Select=COUNT`` and no item is transferred.
- Streaming. Each stream (one per parallel-scan segment, one otherwise) folds its items into its
  own :class:`~._grouping.GroupAccumulator` as pages arrive, in one anyio task group; the
  partial states then merge exactly (Avg keeps sum and count, so nothing rounds before the end).
  Requests run under the Session's ``CapacityLimiter`` (the streams take it), never held by the
  folding tasks. Memory grows with the number of groups, not items, and ``max_groups`` caps it.
- ``limit()`` on the query or scan caps the items aggregated, across all segments.
- A stored value an aggregate or group key cannot use raises ``ItemDecodeError``; with
  ``on_invalid("skip")`` (on the builder, or inherited from the query or scan) the item is
  logged and counts nowhere: not in any aggregate, group or ``limit()``.

Rows come in a stable order: by group key (a missing value first) unless ``order_by`` names an
aggregate; see :meth:`GroupAccumulator.rows`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

import anyio

from .._checks import whole_number
from .._errors import DynamormError, ItemDecodeError, ValidationError
from .._expressions.core import AttributePath, as_path
from .._fanout import library_errors
from .._model.model import Model, model_info
from .._wire.decode_errors import OnInvalid, check_on_invalid, log_skipped
from .accumulator import GroupAccumulator, Row, count_only, needed_attributes
from .functions import Aggregate, HavingCondition

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = ["DEFAULT_MAX_GROUPS", "Aggregation", "AggregationSource", "GroupBy"]

M = TypeVar("M", bound=Model)

DEFAULT_MAX_GROUPS = 100_000
"""Groups one aggregation may hold before it raises instead of growing further."""


class AggregationSource(Protocol):
    """What a query or scan builder offers the executor (``Query``, ``Scan`` and their kin)."""

    @property
    def model(self) -> type[Model]: ...

    @property
    def session(self) -> ExecutionContext: ...

    @property
    def segment_count(self) -> int: ...

    @property
    def invalid_mode(self) -> OnInvalid: ...

    def raw_item_streams(
        self, attributes: Sequence[AttributePath] | None = None
    ) -> list[AsyncIterator[dict[str, Any]]]: ...

    async def count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class _Spec:
    """Everything an aggregation builder was told; builders replace it, never change it."""

    source: AggregationSource
    limit: int | None
    group_by: tuple[AttributePath, ...] = ()
    aggregates: Mapping[str, Aggregate[Any, Any]] = field(default_factory=dict)
    having: HavingCondition | None = None
    order_by: str | None = None
    desc: bool = False
    limit_groups: int | None = None
    max_groups: int = DEFAULT_MAX_GROUPS
    on_invalid: OnInvalid = "raise"

    def accumulator(self) -> GroupAccumulator:
        """A fresh accumulator for this aggregation (validates group_by, names and having)."""
        return GroupAccumulator(
            self.group_by,
            self.aggregates,
            having=self.having,
            key_attributes=model_info(self.source.model).key_attributes,
            max_groups=self.max_groups,
        )

    def projection(self) -> list[AttributePath] | None:
        """The attributes to read, or None when ``Select=COUNT`` answers the aggregation."""
        if count_only(self.aggregates, self.group_by, self.having):
            return None
        info = model_info(self.source.model)
        paths = needed_attributes(self.group_by, self.aggregates, self.having)
        read = {path._attribute for path in paths}
        paths += [
            info.path(info.by_attribute[a].name) for a in info.key_attributes if a not in read
        ]
        return paths

    def with_aggregates(self, named: Mapping[str, Aggregate[Any, Any]]) -> _Spec:
        if not named:
            raise ValidationError(
                "aggregate() needs at least one named aggregate, e.g. "
                "aggregate(n=Count(), total=Sum(Order.total))"
            )
        twice = sorted(set(named) & set(self.aggregates))
        if twice:
            raise ValidationError(
                f"aggregate() names {twice} were already given; each result needs its own name"
            )
        spec = replace(self, aggregates={**self.aggregates, **named})
        spec.accumulator()
        return spec


def _check_model(model: type[Model], paths: Sequence[AttributePath], what: str) -> None:
    for path in paths:
        owner = path._model
        if owner is not None and not (isinstance(owner, type) and issubclass(model, owner)):
            raise ValidationError(
                f"{what} path {owner.__name__}.{path._dotted} belongs to another model than "
                f"the {model.__name__} being read"
            )


def _group_paths(model: type[Model], paths: Sequence[object]) -> tuple[AttributePath, ...]:
    if not paths:
        raise ValidationError(
            "group_by() needs at least one attribute path, e.g. group_by(Order.status); "
            "to aggregate every item into one row use aggregate(...) without group_by"
        )
    checked = tuple(as_path(p) for p in paths)
    _check_model(model, checked, "group_by()")
    return checked


def _named(model: type[Model], named: Mapping[str, object]) -> dict[str, Aggregate[Any, Any]]:
    out: dict[str, Aggregate[Any, Any]] = {}
    for name, aggregate in named.items():
        if not isinstance(aggregate, Aggregate):
            raise ValidationError(
                f"aggregate {name!r} must be Count(), Sum(...), Avg(...), Min(...) or Max(...), "
                f"got {type(aggregate).__name__} {aggregate!r}"
            )
        if aggregate.path is not None:
            _check_model(model, [aggregate.path], f"aggregate {name!r}")
        out[name] = aggregate
    return out


class _Tally:
    """Items folded so far across every stream, against the query's optional ``limit``."""

    __slots__ = ("limit", "skip", "table", "taken")

    def __init__(self, limit: int | None, *, skip: bool = False, table: str | None = None) -> None:
        self.limit = limit
        self.taken = 0
        self.skip = skip
        self.table = table

    @property
    def full(self) -> bool:
        return self.limit is not None and self.taken >= self.limit


async def _fold(
    stream: AsyncIterator[dict[str, Any]], accumulator: GroupAccumulator, tally: _Tally
) -> None:
    """Fold one stream's items into ``accumulator`` until it ends or the tally is full."""
    try:
        async for item in stream:
            if tally.full:
                break
            try:
                accumulator.add(item)  # unchanged when it raises
            except ItemDecodeError as exc:
                if exc.table is None:
                    exc.table = tally.table
                if not tally.skip:
                    raise
                log_skipped(exc)
                continue
            tally.taken += 1
    finally:
        # An abandoned generator would otherwise finish (and hold its page) only when collected.
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with anyio.CancelScope(shield=True):
                await aclose()


async def _accumulate(spec: _Spec) -> GroupAccumulator:
    """Run the read and return the merged accumulator of every stream."""
    source = spec.source
    result = spec.accumulator()
    # Check ordering arguments against the empty accumulator before the first request.
    result.rows(order_by=spec.order_by, desc=spec.desc, limit=spec.limit_groups)
    table = source.session.table_name(source.model)
    try:
        projection = spec.projection()
        if projection is None:
            result.add_count(await source.count())
            return result
        streams = source.raw_item_streams(projection)
        tally = _Tally(spec.limit, skip=spec.on_invalid == "skip", table=table)
        if len(streams) == 1:
            await _fold(streams[0], result, tally)
            return result
        partials = [spec.accumulator() for _ in streams]
        with library_errors():
            async with anyio.create_task_group() as tg:
                for stream, partial in zip(streams, partials, strict=True):
                    tg.start_soon(_fold, stream, partial, tally)
        for partial in partials:
            result.merge(partial)
    except DynamormError as exc:
        if exc.table is None:
            exc.table = table
        raise
    return result


class _Builder(Generic[M]):
    """What both aggregation builders share: one immutable spec, and its projection."""

    __slots__ = ("_spec",)

    _spec: _Spec

    @classmethod
    def _from(cls, spec: _Spec) -> Self:
        clone = object.__new__(cls)
        object.__setattr__(clone, "_spec", spec)
        return clone

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; its methods return new builders")

    def aggregate(self, **named: Aggregate[Any, Any]) -> Self:
        """Add named results: ``aggregate(n=Count(), total=Sum(Order.total))``."""
        return self._from(self._spec.with_aggregates(_named(self._spec.source.model, named)))

    def on_invalid(self, mode: OnInvalid) -> Self:
        """``"raise"`` ItemDecodeError for a stored value the aggregation cannot use, or
        ``"skip"`` the item (logged at WARNING, counted nowhere). Default: the query's."""
        return self._from(replace(self._spec, on_invalid=check_on_invalid(mode)))

    @property
    def projection(self) -> tuple[str, ...]:
        """Top-level attributes the read projects (empty: ``Select=COUNT``)."""
        paths = self._spec.projection()
        return tuple(p._attribute for p in paths) if paths is not None else ()


class GroupBy(_Builder[M]):
    """A GROUP BY over a query or scan; ``await`` it for ``list[Row]``, one row per group.

    Immutable: each method returns a new builder, and one builder may run any number of times.
    Nothing is read until it is awaited (or :meth:`execute` runs). Rows are ordered by group key,
    a missing value (``None``) first, unless :meth:`order_by` names an aggregate.
    """

    __slots__ = ()

    def __init__(
        self, source: AggregationSource, paths: Sequence[object], *, limit: int | None = None
    ) -> None:
        spec = _Spec(
            source,
            limit,
            group_by=_group_paths(source.model, paths),
            on_invalid=source.invalid_mode,
        )
        spec.accumulator()
        object.__setattr__(self, "_spec", spec)

    def _with(self, **changes: Any) -> Self:
        spec = replace(self._spec, **changes)
        spec.accumulator()
        return self._from(spec)

    def __repr__(self) -> str:
        spec = self._spec
        keys = ", ".join(p._dotted for p in spec.group_by)
        named = ", ".join(f"{k}={v!r}" for k, v in spec.aggregates.items())
        return f"GroupBy({spec.source.model.__name__}, by=[{keys}], {named})"

    def having(self, condition: HavingCondition) -> Self:
        """Keep only groups where ``condition`` holds (``Sum(Order.total) > 100``, combined with
        ``& | ~``); several calls are combined with AND. Aggregates it reads that are not named
        in :meth:`aggregate` are computed but not shown."""
        if not isinstance(condition, HavingCondition):
            raise ValidationError(
                f"having() takes a condition on aggregates such as Sum(Order.total) > 100, got "
                f"{type(condition).__name__} {condition!r}"
            )
        for aggregate in condition.aggregates():
            if aggregate.path is not None:
                _check_model(self._spec.source.model, [aggregate.path], "having()")
        current = self._spec.having
        return self._with(having=condition if current is None else current & condition)

    def order_by(self, name: str, *, desc: bool = False) -> Self:
        """Order rows by a named aggregate (or ``"key"``); rows whose value is None come last
        either way, and ties keep key order."""
        if not isinstance(name, str):
            raise ValidationError(f"order_by() takes an aggregate name or 'key', got {name!r}")
        return self._with(order_by=name, desc=bool(desc))

    def limit_groups(self, n: int) -> Self:
        """Return at most ``n`` rows, after HAVING and ordering."""
        return self._with(limit_groups=whole_number("limit_groups()", n, minimum=0))

    def max_groups(self, n: int) -> Self:
        """Raise ValidationError once more than ``n`` groups appear (default 100,000), instead
        of letting memory grow with a key that is nearly unique per item."""
        return self._with(max_groups=whole_number("max_groups()", n))

    async def execute(self) -> list[Row]:
        """Read every matching item once and return the groups that pass HAVING, as rows."""
        spec = self._spec
        accumulator = await _accumulate(spec)
        return accumulator.rows(order_by=spec.order_by, desc=spec.desc, limit=spec.limit_groups)

    def __await__(self) -> Generator[Any, None, list[Row]]:
        return self.execute().__await__()


class Aggregation(_Builder[M]):
    """Aggregates over every item of a query or scan; ``await`` it for the one result :class:`Row`.

    ``row.key`` is ``()``; ``Count()`` of no items is 0 and the other aggregates of no values are
    None. A plain ``Count()`` runs as ``Select=COUNT``. Immutable like :class:`GroupBy`;
    :meth:`group_by` turns it into one.
    """

    __slots__ = ()

    def __init__(
        self,
        source: AggregationSource,
        named: Mapping[str, object],
        *,
        limit: int | None = None,
    ) -> None:
        spec = _Spec(source, limit, on_invalid=source.invalid_mode)
        spec = spec.with_aggregates(_named(source.model, named))
        object.__setattr__(self, "_spec", spec)

    def __repr__(self) -> str:
        spec = self._spec
        named = ", ".join(f"{k}={v!r}" for k, v in spec.aggregates.items())
        return f"Aggregation({spec.source.model.__name__}, {named})"

    def group_by(self, *paths: object) -> GroupBy[M]:
        """Group the items instead: the same aggregates, one row per group."""
        spec = replace(self._spec, group_by=_group_paths(self._spec.source.model, paths))
        spec.accumulator()
        return GroupBy._from(spec)

    async def execute(self) -> Row:
        """Read every matching item once and return the aggregates as one row."""
        (row,) = (await _accumulate(self._spec)).rows()
        return row

    def __await__(self) -> Generator[Any, None, Row]:
        return self.execute().__await__()
