"""Aggregation executor: GROUP BY / HAVING builders folding a query or scan into accumulators.

``db.scan(Order).group_by(Order.status)`` returns a :class:`GroupBy` and
``db.query(Order).where(...).aggregate(total=Sum(Order.total))`` an :class:`Aggregation`.
Both are immutable builders; awaiting one runs it (``execute()`` does the same): a ``GroupBy``
gives ``list[Row]``, an ``Aggregation`` the one ``Row`` of its single group.

How it runs (the pure half lives in :mod:`.accumulator` and :mod:`.functions`):

- Checked once. Every builder step makes a new spec, and a spec is checked when it is made:
  names, paths, HAVING, ordering and the projection, before any request. A run folds into
  copies of the spec's empty accumulator and checks nothing again.
- Push-down. Only the attributes that grouping and the aggregates read are projected, plus the
  table's key attributes so a type error can name the offending item. The filter needs none of
  them: DynamoDB evaluates a FilterExpression on the whole stored item before projecting. When
  the answer is item counts alone (``Count()`` without grouping), the read uses
  ``Select=COUNT`` and no item is transferred.
- Streaming. The query or scan's pagers (one per parallel-scan segment,
  :class:`~.._read.source.ReadSource`) are folded page by page, each by one segment job into
  its own :class:`~.accumulator.GroupAccumulator`; the partial states then merge exactly
  (Avg keeps sum and count, so nothing rounds before the end). Memory grows with the number
  of groups, not items, and ``max_groups`` caps it.
- Runners. The jobs run on the ``runner=`` given to ``aggregate()``: by default
  :class:`~.._runner.LocalRunner`, one fan-out in this process whose requests are bounded by
  the context's ``call`` alone; ``DaskRunner`` folds each segment in a Dask task, on a Session
  of the worker's own, and ships the partial state back (states pickle).
- ``limit()`` on the query or scan caps the items aggregated, across all segments (of one
  process: with a runner that runs segments elsewhere it is a ValidationError).
- A stored value an aggregate or group key cannot use raises ``ItemDecodeError``; with
  ``on_invalid("skip")`` (on the builder, or inherited from the query or scan) the item is
  logged and counts nowhere: not in any aggregate, group or ``limit()``.

Rows come in a stable order: by group key (a missing value first) unless ``order_by`` names an
aggregate; see :meth:`GroupAccumulator.rows`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, Self

from typing_extensions import TypeVar

from .._checks import whole_number
from .._errors import DynamormError, ItemDecodeError, ValidationError
from .._expressions.core import AttributePath, as_path
from .._fanout import Tally
from .._immutable import ImmutableBuilder
from .._model.model import Model, model_info
from .._read.invalid import OnInvalid, check_on_invalid, log_skipped
from .._read.pager import CountPager, ItemPager
from .._read.plan import ReadPlan
from .._read.projection import check_paths, with_keys
from .._read.source import ReadSource
from .._runner import Emit, LocalRunner, Runner
from .accumulator import GroupAccumulator, Row, count_only, needed_attributes
from .functions import Aggregate, HavingCondition

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = ["DEFAULT_MAX_GROUPS", "Aggregation", "GroupBy", "new_aggregation", "new_group_by"]

M = TypeVar("M", bound=Model)
K = TypeVar("K", default=Any)

DEFAULT_MAX_GROUPS = 100_000
"""Groups one aggregation may hold before it raises instead of growing further."""


@dataclass(frozen=True, slots=True, eq=False)
class _Spec:
    """Everything an aggregation builder was told, checked when made; builders replace it."""

    source: ReadSource
    group_by: tuple[AttributePath, ...] = ()
    aggregates: Mapping[str, Aggregate[Any, Any]] = field(default_factory=dict)
    having: HavingCondition | None = None
    order_by: str | None = None
    desc: bool = False
    limit_groups: int | None = None
    max_groups: int = DEFAULT_MAX_GROUPS
    on_invalid: OnInvalid = "raise"
    runner: Runner | None = None
    empty: GroupAccumulator = field(init=False)
    """The accumulator of no items this spec describes; every run folds into copies of it."""
    projection: tuple[AttributePath, ...] | None = field(init=False)
    """The attributes to read, or None when ``Select=COUNT`` answers the aggregation."""

    def __post_init__(self) -> None:
        model = self.source.spec.model
        info = model_info(model)
        empty = GroupAccumulator(
            self.group_by,
            self.aggregates,
            having=self.having,
            key_attributes=info.key_attributes,
            max_groups=self.max_groups,
        )
        empty.rows(order_by=self.order_by, desc=self.desc, limit=self.limit_groups)
        _check_model(model, self.group_by, "group_by()")
        for name, aggregate in self.aggregates.items():
            _check_model(model, [aggregate.path], f"aggregate {name!r}")
        used = self.having.aggregates() if self.having is not None else ()
        _check_model(model, [aggregate.path for aggregate in used], "having()")
        projection = None
        if not count_only(self.aggregates, self.group_by, self.having):
            needed = needed_attributes(self.group_by, self.aggregates, self.having)
            projection = with_keys(info, check_paths(info, needed))
        object.__setattr__(self, "empty", empty)
        object.__setattr__(self, "projection", projection)

    def with_aggregates(
        self, named: Mapping[str, Aggregate[Any, Any]], runner: Runner | None = None
    ) -> _Spec:
        """This spec with more named aggregates (checked like any new spec), run by ``runner``
        when one is given."""
        if runner is not None and not isinstance(runner, Runner):
            raise ValidationError(
                f"runner must be a Runner such as LocalRunner() or DaskRunner(client), got "
                f"{type(runner).__name__}"
            )
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
        return replace(
            self,
            aggregates={**self.aggregates, **named},
            runner=runner if runner is not None else self.runner,
        )


def _check_model(model: type[Model], paths: Sequence[AttributePath | None], what: str) -> None:
    for path in [p for p in paths if p is not None]:
        owner = path._model
        if owner is None or (isinstance(owner, type) and issubclass(model, owner)):
            continue
        raise ValidationError(
            f"{what} path {owner.__name__}.{path._dotted} belongs to another model than "
            f"the {model.__name__} being read"
        )


def _group_paths(paths: Sequence[object]) -> tuple[AttributePath, ...]:
    if not paths:
        raise ValidationError(
            "group_by() needs at least one attribute path, e.g. group_by(Order.status); "
            "to aggregate every item into one row use aggregate(...) without group_by"
        )
    return tuple(as_path(p) for p in paths)


def new_group_by(source: ReadSource, paths: Sequence[object]) -> GroupBy[Any]:
    """``query.group_by(*paths)``: the items of ``source`` grouped, no aggregates yet."""
    spec = _Spec(source, group_by=_group_paths(paths), on_invalid=source.spec.on_invalid)
    return GroupBy._of(spec)


def new_aggregation(
    source: ReadSource, named: Mapping[str, Aggregate[Any, Any]], runner: Runner | None = None
) -> Aggregation[Any]:
    """``query.aggregate(**named)``: aggregates over every item of ``source``, one row."""
    spec = _Spec(source, on_invalid=source.spec.on_invalid).with_aggregates(named, runner)
    return Aggregation._of(spec)


def _add(
    accumulator: GroupAccumulator, item: dict[str, Any], on_invalid: OnInvalid, table: str
) -> bool:
    """Fold one item; False when ``on_invalid("skip")`` left it out."""
    try:
        accumulator.add(item)  # unchanged when it raises
    except ItemDecodeError as exc:
        if exc.table is None:
            exc.table = table
        if on_invalid == "raise":
            raise
        log_skipped(exc)
        return False
    return True


@dataclass(frozen=True, slots=True)
class _FoldWork:
    """Folding one read, segment by segment: plain values, so remote runners can ship it.

    A job is one segment's request; its result is that segment's partial accumulator.
    """

    plan: ReadPlan
    empty: GroupAccumulator
    on_invalid: OnInvalid
    limit: int | None
    count_only: bool
    """The plan is a ``Select=COUNT``: segments count items instead of folding them."""

    async def start(
        self, context: ExecutionContext, emit: Emit
    ) -> Callable[[Mapping[str, Any]], Awaitable[GroupAccumulator]]:
        """The fold of one process; its segments share one tally of ``limit()``."""
        tally = Tally(self.limit)
        if self.count_only:
            return lambda request: self._count(context, request, tally)
        return lambda request: self._fold(context, request, tally)

    async def _fold(
        self, context: ExecutionContext, request: Mapping[str, Any], tally: Tally
    ) -> GroupAccumulator:
        partial = self.empty.fresh()
        table = self.plan.table
        # Pages end once the tally is full: ``want`` answers zero then.
        async for page in ItemPager(context, self.plan, request).pages(tally.want):
            for item in page.items:
                if tally.full:
                    break
                if _add(partial, item, self.on_invalid, table):
                    tally.taken += 1
            # The loop variable would keep the folded page alive while the next one is read:
            # memory stays at one page per segment, not two.
            del page
        return partial

    async def _count(
        self, context: ExecutionContext, request: Mapping[str, Any], tally: Tally
    ) -> GroupAccumulator:
        partial = self.empty.fresh()
        pager = CountPager(context, self.plan, request)
        while not pager.done and not tally.full:
            counted = sum(await pager.next_page(tally.want()))
            want = tally.want()
            taken = counted if want is None else min(counted, want)
            tally.taken += taken
            partial.add_count(taken)
        return partial


async def _accumulate(spec: _Spec) -> GroupAccumulator:
    """Run the read, one segment job per pager, and merge what every job folded."""
    source = spec.source
    runner = spec.runner if spec.runner is not None else LocalRunner()
    limit = source.spec.limit
    if limit is not None and not runner.in_process:
        raise ValidationError(
            f"limit() caps the items of all segments together, in one process, and {runner!r} "
            "folds segments elsewhere: drop limit(), or the runner"
        )
    count_only = spec.projection is None
    plan = source.plan("count" if spec.projection is None else spec.projection)
    # One job per segment: its request (the pager class does not change the request).
    pagers = source.pagers_of(plan, ItemPager)
    work = _FoldWork(plan, spec.empty, spec.on_invalid, limit, count_only)
    result = spec.empty.fresh()

    def merge(job: Mapping[str, Any], partial: GroupAccumulator) -> None:
        result.merge(partial)

    context, jobs = source.context, [pager.request for pager in pagers]
    span = context.fan_out_span("aggregate", [source.spec.model], segments=len(jobs))
    try:
        with span, span.current():
            await runner.run(context, work, jobs, on_result=merge, on_event=_no_events)
    except DynamormError as exc:
        if exc.table is None:
            exc.table = source.table
        raise
    return result


def _no_events(event: Mapping[str, int]) -> None:
    """Aggregations report no progress: their folds emit nothing."""


class _Builder(ImmutableBuilder[_Spec], Generic[M]):
    """What both aggregation builders share: one immutable, checked spec."""

    __slots__ = ()

    def _with(self, **changes: Any) -> Self:
        return self._of(replace(self._state, **changes))

    def _describe(self, grouping: str) -> str:
        model = self._state.source.spec.model.__name__
        aggregates = ", ".join(f"{k}={v!r}" for k, v in self._state.aggregates.items())
        return f"{type(self).__name__}({model}, {grouping}{aggregates})"

    def aggregate(self, *, runner: Runner | None = None, **named: Aggregate[Any, Any]) -> Self:
        """Add named results: ``aggregate(n=Count(), total=Sum(Order.total))``; ``runner``
        runs the segments (default: :class:`LocalRunner`, this process)."""
        return self._of(self._state.with_aggregates(named, runner))

    def on_invalid(self, mode: OnInvalid) -> Self:
        """``"raise"`` ItemDecodeError for a stored value the aggregation cannot use, or
        ``"skip"`` the item (logged at WARNING, counted nowhere). Default: the query's."""
        return self._with(on_invalid=check_on_invalid(mode))

    @property
    def projection(self) -> tuple[str, ...]:
        """Top-level attributes the read projects (empty: ``Select=COUNT``)."""
        paths = self._state.projection
        return tuple(p._attribute for p in paths) if paths is not None else ()


class GroupBy(_Builder[M], Generic[M, K]):
    """A GROUP BY over a query or scan; ``await`` it for ``list[Row]``, one row per group.

    Immutable: each method returns a new builder, and one builder may run any number of times.
    Nothing is read until it is awaited (or :meth:`execute` runs). Rows are ordered by group key,
    a missing value (``None``) first, unless :meth:`order_by` names an aggregate. ``K`` is the
    rows' key type when the paths are typed (``AttributePath[str]`` gives ``str | None``).
    """

    __slots__ = ()

    def __repr__(self) -> str:
        keys = ", ".join(p._dotted for p in self._state.group_by)
        return self._describe(f"by=[{keys}], ")

    def having(self, condition: HavingCondition) -> Self:
        """Keep only groups where ``condition`` holds (``Sum(Order.total) > 100``, combined with
        ``& | ~``); several calls are combined with AND. Aggregates it reads that are not named
        in :meth:`aggregate` are computed but not shown."""
        if not isinstance(condition, HavingCondition):
            raise ValidationError(
                f"having() takes a condition on aggregates such as Sum(Order.total) > 100, got "
                f"{type(condition).__name__} {condition!r}"
            )
        current = self._state.having
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

    async def execute(self) -> list[Row[K]]:
        """Read every matching item once and return the groups that pass HAVING, as rows."""
        spec = self._state
        accumulator = await _accumulate(spec)
        return accumulator.rows(order_by=spec.order_by, desc=spec.desc, limit=spec.limit_groups)

    def __await__(self) -> Generator[Any, None, list[Row[K]]]:
        return self.execute().__await__()


class Aggregation(_Builder[M]):
    """Aggregates over every item of a query or scan; ``await`` it for the one result :class:`Row`.

    ``row.key`` is ``()``; ``Count()`` of no items is 0 and the other aggregates of no values are
    None. A plain ``Count()`` runs as ``Select=COUNT``. Immutable like :class:`GroupBy`;
    :meth:`group_by` turns it into one.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return self._describe("")

    def group_by(self, *paths: object) -> GroupBy[M]:
        """Group the items instead: the same aggregates, one row per group (keys typed ``Any``:
        group the query or scan itself for typed keys)."""
        return GroupBy._of(replace(self._state, group_by=_group_paths(paths)))

    async def execute(self) -> Row[tuple[()]]:
        """Read every matching item once and return the aggregates as one row."""
        (row,) = (await _accumulate(self._state)).rows()
        return row

    def __await__(self) -> Generator[Any, None, Row[tuple[()]]]:
        return self.execute().__await__()
