"""Query and scan executors: immutable builders, key-condition checks, terminals, pagination.

``db.query(Order)`` and ``db.scan(Order)`` return builders; every method returns a new builder
and nothing is sent until a terminal runs (``async for``, ``all()``, ``first()``, ``count()``,
``page()``, ``pages()``, ``delete()``). Everything that can be checked without DynamoDB is
checked before the first request: the key condition against the table and its indexes, the
choice of index, consistency on a GSI, projections and cursors.

Results stream page by page: ``async for`` holds one DynamoDB page (one per segment of a
parallel scan) at a time, so memory does not grow with the size of the result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Self, TypeVar, cast, overload

import msgspec

from ._cursor import CursorCodec
from ._errors import ValidationError
from ._expressions import (
    And,
    AttributePath,
    Between,
    Compare,
    Condition,
    Function,
    Operand,
    Placeholders,
    as_condition,
    as_path,
    projection_expression,
)
from ._marshal import TypeKind, from_wire_value
from ._models import IndexSpec, Model, ModelInfo, model_info
from ._pagination import (
    CursorSigner,
    CursorState,
    Page,
    cut_page,
    page_reads_needed,
    resume_key,
)
from ._parallel import Flatten, PageSource, RoundStream, Tally, merged_pages

if TYPE_CHECKING:
    import anyio

    from ._aggregate import Aggregate
    from ._aggregation import Aggregation, GroupBy
    from ._session import Session
    from ._update import UpdateBuilder

__all__ = [
    "KeyTerm",
    "ProjectedQuery",
    "ProjectedScan",
    "Query",
    "ReadPlan",
    "Scan",
    "build_plan",
    "key_terms",
    "resolve_index",
]

R = TypeVar("R")
M = TypeVar("M", bound=Model)
S = TypeVar("S", bound=msgspec.Struct)

Item = dict[str, Any]
Operation = Literal["Query", "Scan"]

#: DynamoDB's bound on TotalSegments.
MAX_SEGMENTS = 1_000_000
#: A filtered read without ``page_size()`` evaluates at least this many items per request, so a
#: selective filter does not cost one round trip per evaluated item.
FILTERED_MIN_READ = 100

_KEY_KINDS = (TypeKind.STRING, TypeKind.BINARY)


# --- key conditions (pure) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyTerm:
    """One part of a key condition: the attribute it constrains and how."""

    attribute: str
    condition: Condition
    operator: str
    value: object = None
    """The compared value of an equality (what ``Query.update()`` turns into a key)."""

    @property
    def equality(self) -> bool:
        return self.operator == "=="


def _field(info: ModelInfo, attribute: str) -> str:
    return f"{info.cls.__name__}.{info.by_attribute[attribute].name}"


def _key_attributes(info: ModelInfo) -> set[str]:
    keys = set(info.key_attributes)
    for index in info.indexes.values():
        keys.add(index.hash_key)
        if index.range_key is not None:
            keys.add(index.range_key)
    return keys


def _flatten(condition: Condition, out: list[Condition]) -> None:
    if isinstance(condition, And):
        for part in condition.parts:
            _flatten(part, out)
    else:
        out.append(condition)


_NOT_A_KEY_CONDITION = (
    "{what} cannot be part of a key condition: .where() takes ==, <, <=, >, >=, between() and "
    "begins_with() on key attributes, joined with & or as separate arguments; put other "
    "conditions in .filter()"
)


def _key_path(info: ModelInfo, subject: object, keys: set[str]) -> AttributePath:
    if not isinstance(subject, AttributePath):
        raise ValidationError(_NOT_A_KEY_CONDITION.format(what="size()"))
    if not subject.is_top_level or subject.name not in keys:
        raise ValidationError(
            f"{info.cls.__name__}.{subject.dotted} is not a key attribute of the table or of any "
            "index, so it cannot go in .where(); move that condition to .filter()"
        )
    return subject


def _key_term(info: ModelInfo, condition: Condition, keys: set[str]) -> KeyTerm:
    if isinstance(condition, Compare):
        if condition.op == "<>":
            raise ValidationError(_NOT_A_KEY_CONDITION.format(what="!="))
        path = _key_path(info, condition.lhs, keys)
        if not isinstance(condition.rhs, Operand):
            raise ValidationError(
                f"a key condition compares {_field(info, path.name)} with a value, not with "
                "another attribute; put that comparison in .filter()"
            )
        operator = "==" if condition.op == "=" else condition.op
        value = condition.rhs.value if operator == "==" else None
        return KeyTerm(path.name, condition, operator, value)
    if isinstance(condition, Between):
        path = _key_path(info, condition.subject, keys)
        if not (isinstance(condition.low, Operand) and isinstance(condition.high, Operand)):
            raise ValidationError(
                f"between() on {_field(info, path.name)} in a key condition takes two values"
            )
        return KeyTerm(path.name, condition, "between")
    if isinstance(condition, Function) and condition.name == "begins_with":
        path = _key_path(info, condition.path, keys)
        if info.by_attribute[path.name].kind not in _KEY_KINDS:
            raise ValidationError(
                f"begins_with() needs a string or binary key; {_field(info, path.name)} is a "
                "number: use between() or a comparison"
            )
        return KeyTerm(path.name, condition, "begins_with")
    what = type(condition).__name__
    if isinstance(condition, Function):
        what = f"{condition.name}()"
    raise ValidationError(_NOT_A_KEY_CONDITION.format(what=what))


def key_terms(info: ModelInfo, conditions: Sequence[object]) -> tuple[KeyTerm, ...]:
    """Split ``.where()`` conditions into key terms, rejecting anything DynamoDB's
    KeyConditionExpression cannot hold (ValidationError saying what to do instead)."""
    flat: list[Condition] = []
    for condition in conditions:
        _flatten(as_condition(condition), flat)
    keys = _key_attributes(info)
    return tuple(_key_term(info, condition, keys) for condition in flat)


@dataclass(frozen=True, slots=True)
class _Target:
    index: IndexSpec | None
    hash_key: str
    range_key: str | None

    def label(self) -> str:
        return "the table" if self.index is None else f"index {self.index.name!r}"


def _targets(info: ModelInfo) -> list[_Target]:
    targets = [_Target(None, info.hash_attribute, info.range_attribute)]
    targets.extend(_Target(i, i.hash_key, i.range_key) for i in info.indexes.values())
    return targets


def _misfit(info: ModelInfo, target: _Target, terms: Sequence[KeyTerm]) -> str | None:
    """Why ``terms`` are not a key condition of ``target``, or None when they are."""
    hash_field = _field(info, target.hash_key)
    range_field = _field(info, target.range_key) if target.range_key else None
    hash_terms = [t for t in terms if t.attribute == target.hash_key]
    if not hash_terms:
        return (
            f"a query on {target.label()} needs its hash key in .where(): "
            f".where({hash_field} == value)"
        )
    if not hash_terms[0].equality:
        ranges = f"its range key {range_field}" if range_field else "no attribute (no range key)"
        return (
            f"the hash key {hash_field} of {target.label()} takes only ==, not "
            f"{hash_terms[0].operator}; range conditions apply to {ranges}"
        )
    for term in terms:
        if term.attribute not in (target.hash_key, target.range_key):
            keys = hash_field + (f" and range key {range_field}" if range_field else "")
            return (
                f"{_field(info, term.attribute)} is not a key of {target.label()} (hash key "
                f"{keys}); move that condition to .filter() or query an index it is a key of"
            )
    return None


def resolve_index(
    info: ModelInfo, terms: Sequence[KeyTerm], index: str | None
) -> IndexSpec | None:
    """The index a query reads (None: the table), checked against its key condition.

    Without an explicit ``index`` the table is preferred; otherwise the one index whose keys
    fit the condition is picked, and several fitting indexes are an error naming them.
    """
    model = info.cls.__name__
    if not terms:
        raise ValidationError(
            f"a query needs the hash key in .where(), e.g. "
            f".where({_field(info, info.hash_attribute)} == value); to read every item use "
            f"db.scan({model})"
        )
    seen: set[str] = set()
    for term in terms:
        if term.attribute in seen:
            raise ValidationError(
                f"{_field(info, term.attribute)} appears twice in .where(); a key condition "
                "holds one condition per key: use between(low, high) for a range"
            )
        seen.add(term.attribute)
    targets = _targets(info)
    if index is not None:
        target = next(t for t in targets if t.index is not None and t.index.name == index)
        reason = _misfit(info, target, terms)
        if reason is not None:
            raise ValidationError(reason)
        return target.index
    fitting = [t for t in targets if _misfit(info, t, terms) is None]
    if fitting and fitting[0].index is None:
        return None
    if len(fitting) == 1:
        return fitting[0].index
    if fitting:
        names = ", ".join(repr(t.index.name) for t in fitting if t.index is not None)
        raise ValidationError(
            f"the key condition fits several indexes of {model} ({names}); choose one with "
            ".index(name)"
        )
    # Explain against the target the caller most likely meant: one whose hash key is pinned.
    pinned = {t.attribute for t in terms if t.equality}
    guess = next((t for t in targets if t.hash_key in pinned), targets[0])
    reason = _misfit(info, guess, terms)
    assert reason is not None
    raise ValidationError(reason)


# --- projections and decoding (pure) -------------------------------------------------------

Projection = tuple[AttributePath, ...] | type[msgspec.Struct]


def _check_paths(info: ModelInfo, targets: Sequence[object]) -> tuple[AttributePath, ...]:
    out: list[AttributePath] = []
    for target in targets:
        path = as_path(target)
        if path.name not in info.by_attribute:
            raise ValidationError(f"{path.dotted} is not an attribute of {info.cls.__name__}")
        if any(path.same_as(p) for p in out):
            continue
        clash = next((p for p in out if p.overlaps(path)), None)
        if clash is not None:
            raise ValidationError(
                f"select() paths {clash.dotted} and {path.dotted} overlap, which DynamoDB "
                "rejects; keep the shorter one"
            )
        out.append(path)
    return tuple(out)


def _projection(info: ModelInfo, targets: Sequence[object]) -> Projection:
    if len(targets) == 1 and isinstance(targets[0], type):
        struct = targets[0]
        if not issubclass(struct, msgspec.Struct):
            raise ValidationError(
                f"select() takes attribute paths or one msgspec.Struct type, got {struct!r}"
            )
        unknown = [
            f.name for f in msgspec.structs.fields(struct) if f.encode_name not in info.by_attribute
        ]
        if unknown:
            raise ValidationError(
                f"{struct.__name__} fields {unknown} are not attributes of {info.cls.__name__}; "
                "a partial struct names (or renames to) attributes of the model"
            )
        return struct
    if not targets:
        raise ValidationError("select() needs attribute paths or a msgspec.Struct type")
    return _check_paths(info, targets)


def _projected_paths(projection: Projection) -> tuple[AttributePath, ...]:
    if isinstance(projection, tuple):
        return projection
    return tuple(AttributePath((f.encode_name,)) for f in msgspec.structs.fields(projection))


@lru_cache(maxsize=256)
def _partial_info(struct: type[msgspec.Struct], model: type[Model]) -> ModelInfo:
    """ModelInfo of a partial struct, so its items decode exactly like the model's."""
    if issubclass(struct, Model):
        return model_info(struct)
    info = ModelInfo(cast("type[Model]", struct), None)
    # A TTL attribute is epoch seconds on the wire whether or not the partial marks it.
    info.epoch_attributes |= model_info(model).epoch_attributes & set(info.by_attribute)
    return info


class _StructDecoder:
    """Wire item -> instance of a partial struct (extra attributes, such as keys fetched for
    cursors, are dropped first)."""

    __slots__ = ("_attributes", "_info")

    def __init__(self, struct: type[msgspec.Struct], model: type[Model]) -> None:
        self._info = _partial_info(struct, model)
        self._attributes = frozenset(self._info.by_attribute)

    def __call__(self, item: Item) -> Any:
        return self._info.decode({a: v for a, v in item.items() if a in self._attributes})


class _DictDecoder:
    """Wire item -> ``{result key: value}`` for selected paths, each decoded with its annotation.

    Keys are field names (``"total"``, ``"ship_to.city"``, ``"lines[0]"``); attributes absent
    from the item are absent from the dict. DynamoDB compacts projected list elements, so a
    path's list index is mapped to its position among the indexes selected under that list.
    """

    __slots__ = ("_entries",)

    def __init__(self, info: ModelInfo, paths: Sequence[AttributePath]) -> None:
        selected: dict[tuple[str | int, ...], set[int]] = {}
        for path in paths:
            for depth, element in enumerate(path.elements):
                if isinstance(element, int):
                    selected.setdefault(path.elements[:depth], set()).add(element)
        positions = {prefix: sorted(indexes) for prefix, indexes in selected.items()}
        entries = []
        for path in paths:
            spec = info.by_attribute[path.name]
            steps: list[str | int] = []
            for depth, element in enumerate(path.elements[1:], start=1):
                if isinstance(element, int):
                    steps.append(positions[path.elements[:depth]].index(element))
                else:
                    steps.append(element)
            rest = "".join(f"[{e}]" if isinstance(e, int) else f".{e}" for e in path.elements[1:])
            # TTL attributes hold epoch seconds; an int field takes them as they are.
            epoch = (
                path.is_top_level
                and path.name in info.epoch_attributes
                and spec.annotation is not int
            )
            entries.append((spec.name + rest, path.name, tuple(steps), path.annotation, epoch))
        self._entries = tuple(entries)

    def __call__(self, item: Item) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, attribute, steps, annotation, epoch in self._entries:
            value = item.get(attribute)
            for step in steps:
                if value is None:
                    break
                if isinstance(step, int):
                    elements = value.get("L") or ()
                    value = elements[step] if step < len(elements) else None
                else:
                    value = (value.get("M") or {}).get(step)
            if value is None:
                continue
            if epoch and "N" in value:
                out[key] = datetime.fromtimestamp(int(value["N"]), tz=UTC)
            else:
                out[key] = from_wire_value(annotation, value)
        return out


# --- requests (pure) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class _Spec:
    """Everything a builder was told; builders replace it, never change it. (No ``==``:
    attribute paths compare into conditions.)"""

    model: type[Model]
    where: tuple[KeyTerm, ...] = ()
    filter: Condition | None = None
    index: str | None = None
    limit: int | None = None
    page_size: int | None = None
    reverse: bool = False
    consistent: bool = False
    projection: Projection | None = None
    segments: int = 1


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """A checked request: the payload every page starts from and what a cursor needs."""

    operation: Operation
    table: str
    request: Mapping[str, Any]
    cursor_attributes: tuple[str, ...]
    filtered: bool
    page_size: int | None


Output = Literal["items", "keys", "count"] | tuple[AttributePath, ...]


def _top_paths(info: ModelInfo, attributes: Sequence[str]) -> list[AttributePath]:
    return [info.path(info.by_attribute[a].name) for a in attributes]


def _reads_through(info: ModelInfo, index: IndexSpec) -> bool:
    """For model results from an index: True when an LSI must read through to the table for
    attributes it does not project; ValidationError when a GSI lacks attributes."""
    if index.projection == "ALL":
        return False
    if not index.is_global:
        return True
    projected = set(info.key_attributes) | {index.hash_key}
    if index.range_key is not None:
        projected.add(index.range_key)
    if not isinstance(index.projection, str):
        projected.update(index.projection)
    missing = [f.name for f in info.fields.values() if f.attribute not in projected]
    if missing:
        raise ValidationError(
            f"index {index.name!r} does not project {missing}, so a read of it cannot build "
            f"{info.cls.__name__} instances; .select() the projected attributes instead"
        )
    return False


def _output_paths(
    info: ModelInfo, spec: _Spec, output: Output, cursor_attributes: Sequence[str]
) -> list[AttributePath] | None:
    """The ProjectionExpression paths of a read (None: whole items)."""
    if isinstance(output, tuple):
        return list(output)
    if output == "keys":
        return _top_paths(info, info.key_attributes)
    if spec.projection is None:
        return None
    paths = list(_projected_paths(spec.projection))
    # Cursors resume from a returned item's keys, so those are read even when not selected.
    selected = {p.name for p in paths if p.is_top_level}
    missing = [a for a in cursor_attributes if a not in selected]
    return paths + _top_paths(info, missing)


def _check_filter_keys(info: ModelInfo, index: IndexSpec | None, condition: Condition) -> None:
    keys = (index.hash_key, index.range_key) if index is not None else info.key_attributes
    label = "the table" if index is None else f"index {index.name!r}"
    for path in condition.paths():
        if path.name in keys:
            raise ValidationError(
                f"{_field(info, path.name)} is a key of {label}, which DynamoDB does not take in "
                "a query's filter; put that condition in .where() (range keys take ==, <, <=, >, "
                ">=, between() and begins_with())"
            )


def build_plan(operation: Operation, spec: _Spec, table: str, output: Output = "items") -> ReadPlan:
    """The base request of a read: key condition, filter, projection, index, consistency.

    ``output`` is ``"items"`` (the builder's results: whole items or its selection plus the
    keys a cursor needs), ``"keys"`` (the table's key attributes), ``"count"`` (Select=COUNT)
    or exactly the given attribute paths.
    """
    info = model_info(spec.model)
    if operation == "Query":
        index = resolve_index(info, spec.where, spec.index)
    else:
        index = info.indexes[spec.index] if spec.index is not None else None
    if operation == "Query" and spec.filter is not None:
        _check_filter_keys(info, index, spec.filter)
    if spec.consistent and index is not None and index.is_global:
        raise ValidationError(
            f"index {index.name!r} is a global secondary index, which DynamoDB reads only "
            "eventually consistently; drop .consistent() or read the table"
        )
    cursor_attributes = list(info.key_attributes)
    if index is not None:
        cursor_attributes += [
            a for a in (index.hash_key, index.range_key) if a and a not in cursor_attributes
        ]
    ph = Placeholders()
    request: dict[str, Any] = {"TableName": table}
    if index is not None:
        request["IndexName"] = index.name
    if operation == "Query":
        hash_key = index.hash_key if index is not None else info.hash_attribute
        terms = sorted(spec.where, key=lambda term: term.attribute != hash_key)
        request["KeyConditionExpression"] = " AND ".join(t.condition.encode(ph) for t in terms)
        if spec.reverse:
            request["ScanIndexForward"] = False
    if spec.filter is not None:
        request["FilterExpression"] = spec.filter.encode(ph)
    if output == "count":
        request["Select"] = "COUNT"
    else:
        paths = _output_paths(info, spec, output, cursor_attributes)
        if paths is not None:
            request["ProjectionExpression"] = projection_expression(paths, ph)
        elif index is not None and _reads_through(info, index):
            request["Select"] = "ALL_ATTRIBUTES"
    if spec.consistent:
        request["ConsistentRead"] = True
    return ReadPlan(
        operation=operation,
        table=table,
        request=ph.apply(request),
        cursor_attributes=tuple(cursor_attributes),
        filtered=spec.filter is not None,
        page_size=spec.page_size,
    )


def _positive(what: str, value: object, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{what} must be a positive int, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValidationError(f"{what} must be at most {maximum}, got {value}")
    return value


# --- execution ----------------------------------------------------------------------------


class _Pager:
    """One stream of Query/Scan requests (a query, a scan, or one segment of a parallel scan),
    followed page by page through LastEvaluatedKey."""

    __slots__ = ("_limiter", "_plan", "_request", "_session", "done", "start_key")

    def __init__(
        self,
        session: Session,
        plan: ReadPlan,
        request: Mapping[str, Any],
        *,
        start_key: Item | None = None,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        self._session = session
        self._plan = plan
        self._request = request
        self._limiter = limiter
        self.start_key = start_key
        self.done = False

    def _request_limit(self, want: int | None) -> int | None:
        page_size = self._plan.page_size
        if want is None:
            return page_size
        if self._plan.filtered:
            # DynamoDB's Limit counts evaluated items, before the filter.
            return page_size or max(want, FILTERED_MIN_READ)
        return min(want, page_size) if page_size else want

    async def _read(self, want: int | None) -> dict[str, Any]:
        request = dict(self._request)
        limit = self._request_limit(want)
        if limit is not None:
            request["Limit"] = limit
        if self.start_key is not None:
            request["ExclusiveStartKey"] = self.start_key
        async with self._limiter if self._limiter is not None else nullcontext():
            response = await self._session.call(
                self._plan.operation, request, table=self._plan.table
            )
        self.start_key = response.get("LastEvaluatedKey")
        self.done = self.start_key is None
        return response


class _ItemPager(_Pager):
    __slots__ = ()

    async def next_page(self, want: int | None) -> list[Item]:
        items: list[Item] = (await self._read(want)).get("Items", [])
        return items


class _CountPager(_Pager):
    __slots__ = ()

    async def next_page(self, want: int | None) -> list[int]:
        return [int((await self._read(want)).get("Count", 0))]


def _as_is(item: Item) -> Item:
    return item


P = TypeVar("P", bound=_Pager)
B = TypeVar("B", bound="_Reader[Any]")


class _Reader(Generic[R]):
    """What queries and scans share: filter, index, limits, consistency and the terminals.

    A builder is immutable and holds no connection state, so one builder may be run any number
    of times, from any number of tasks.
    """

    __slots__ = ("_session", "_spec")

    _operation: ClassVar[Operation]
    _session: Session
    _spec: _Spec

    def __init__(self, session: Session, model: type[Model]) -> None:
        model_info(model)
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_spec", _Spec(model))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; its methods return new builders")

    def _as(self, cls: type[B], **changes: Any) -> B:
        clone = object.__new__(cls)
        object.__setattr__(clone, "_session", self._session)
        object.__setattr__(clone, "_spec", replace(self._spec, **changes))
        return clone

    def _with(self, **changes: Any) -> Self:
        return self._as(type(self), **changes)

    @property
    def _info(self) -> ModelInfo:
        return model_info(self._spec.model)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._spec.model.__name__}, {self._spec!r})"

    # --- introspection hooks (used by aggregation) -----------------------------------------

    @property
    def session(self) -> Session:
        """The Session this builder reads through (internal hook for executors)."""
        return self._session

    @property
    def model(self) -> type[Model]:
        """The model whose table (or index) is read (internal hook for executors)."""
        return self._spec.model

    @property
    def filter_condition(self) -> Condition | None:
        """The combined ``.filter()`` condition, or None (internal hook for executors)."""
        return self._spec.filter

    @property
    def segment_count(self) -> int:
        """Parallel-scan segments (1 for queries and sequential scans; internal hook)."""
        return self._spec.segments

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
        return self._with(limit=_positive("limit", n))

    def page_size(self, n: int) -> Self:
        """DynamoDB's ``Limit``: at most ``n`` items evaluated per request."""
        return self._with(page_size=_positive("page_size", n))

    def consistent(self, enabled: bool = True) -> Self:
        """Strongly consistent reads (the table or an LSI; a GSI is a ValidationError)."""
        return self._with(consistent=bool(enabled))

    # --- plans -----------------------------------------------------------------------------

    def _plan(self, output: Output = "items") -> ReadPlan:
        table = self._session.table_name(self._spec.model)
        return build_plan(self._operation, self._spec, table, output)

    def _decoder(self) -> Callable[[Item], R]:
        projection = self._spec.projection
        if projection is None:
            return cast("Callable[[Item], R]", self._info.decode)
        if isinstance(projection, tuple):
            return cast("Callable[[Item], R]", _DictDecoder(self._info, projection))
        return cast("Callable[[Item], R]", _StructDecoder(projection, self._spec.model))

    def _pagers(self, plan: ReadPlan, pager: type[P]) -> list[P]:
        segments = self._spec.segments
        if segments == 1:
            return [pager(self._session, plan, plan.request)]
        return [
            pager(
                self._session,
                plan,
                {**plan.request, "Segment": segment, "TotalSegments": segments},
                limiter=self._session.limiter,
            )
            for segment in range(segments)
        ]

    # --- terminals -------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[R]:
        """Stream every result, one DynamoDB page (per segment) in memory at a time."""
        plan = self._plan()
        sources: list[PageSource[Item]] = list(self._pagers(plan, _ItemPager))
        return RoundStream(sources, self._decoder(), limit=self._spec.limit)

    @asynccontextmanager
    async def stream(self) -> AsyncIterator[AsyncIterator[R]]:
        """``async with q.stream() as items``: results read ahead while you consume them.

        On a parallel scan every segment keeps reading into a bounded buffer (one page per
        segment) while the block runs; leaving the block, normally or by an exception or
        cancellation, stops and awaits every segment. Plain ``async for`` reads only when
        asked, so it needs no block; use this for throughput.
        """
        plan = self._plan()
        decode = self._decoder()
        tally = Tally(self._spec.limit)
        async with merged_pages(self._pagers(plan, _ItemPager), want=tally.want) as pages:
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
        (segments counted concurrently). Also the Select=COUNT hook of aggregation."""
        plan = self._plan("count")
        tally = Tally(self._spec.limit)
        async with merged_pages(self._pagers(plan, _CountPager), want=tally.want) as pages:
            async for page in pages:
                tally.taken += sum(page)
                if tally.full:
                    break
        return tally.taken if tally.limit is None else min(tally.taken, tally.limit)

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
        size = _positive("size", size)
        self._check_pageable()
        plan = self._plan()
        signer = CursorSigner(
            self._session.cursor_codec,
            CursorCodec.binding_for(plan.operation, dict(plan.request), self._spec.limit),
            plan.cursor_attributes,
        )
        state = None if cursor is None else signer.decode(cursor)
        request = plan.request
        if state is not None and state.backward:
            # Only query pages hand out backward cursors (see _ScanBase).
            request = {**request, "ScanIndexForward": self._spec.reverse}
        pager = _ItemPager(
            self._session, plan, request, start_key=state.key if state is not None else None
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
        decode = self._decoder()
        return Page([decode(item) for item in window.items], next_cursor, prev_cursor)

    def pages(self, size: int, cursor: str | None = None) -> AsyncIterator[Page[R]]:
        """Every page from ``cursor`` (or the start) onward: ``async for p in q.pages(20)``."""
        self._check_pageable()
        return _PageWalk(self, _positive("size", size), cursor)

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
        from ._batch import delete_keys

        plan = self._plan("keys")
        tally = Tally(self._spec.limit)
        async with merged_pages(self._pagers(plan, _ItemPager), want=tally.want) as pages:
            keys = Flatten(pages, _as_is, tally)
            return await delete_keys(self._session, self._spec.model, keys)

    def raw_item_streams(
        self, attributes: Sequence[AttributePath] | None = None
    ) -> list[AsyncIterator[dict[str, Any]]]:
        """One async iterator of raw wire items per segment (one for a query or a sequential
        scan): internal hook for executors such as aggregation.

        Every stream applies the filter, index, consistency and page size, and stops after
        ``limit`` items of its own (a parallel scan's limit is per stream here; cap the merged
        total yourself). ``attributes``, when given, is exactly the ProjectionExpression and
        overrides ``select()``. Streams hold no tasks: iterate them in your own task group,
        each request already runs under ``session.limiter`` when there are several.
        """
        if attributes is None:
            plan = self._plan()
        else:
            paths = _check_paths(self._info, attributes)
            if not paths:
                raise ValidationError("raw_item_streams() needs at least one attribute path")
            plan = self._plan(paths)
        pagers = self._pagers(plan, _ItemPager)
        return [RoundStream([pager], _as_is, limit=self._spec.limit) for pager in pagers]


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

    def group_by(self, *paths: object) -> GroupBy[M]:
        """Group the items read by ``paths``; chain ``.aggregate(name=Count(), ...)``."""
        from ._aggregation import GroupBy

        return GroupBy(self, paths, limit=self._spec.limit)

    def aggregate(self, **named: Aggregate[Any, Any]) -> Aggregation[M]:
        """Aggregates over every item read (one group): ``.aggregate(total=Sum(Order.total))``."""
        from ._aggregation import Aggregation

        return Aggregation(self, named, limit=self._spec.limit)


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
        return self._as(ProjectedQuery, projection=_projection(self._info, targets))


class Query(_QueryBase[M], _Aggregating[M]):
    """A query over a model's table or one of its indexes; results are model instances.

    Immutable: each method returns a new Query. Run it with ``async for``, ``all()``,
    ``first()``, ``count()``, ``page()``, ``pages()``, ``delete()`` or ``update()``, or
    aggregate it with ``group_by()`` / ``aggregate()``.
    Pagination runs both ways: ``prev_cursor`` reads backward from a page's first item and
    returns the items in the query's own order.
    """

    __slots__ = ()

    def __init__(self, session: Session, model: type[M]) -> None:
        super().__init__(session, model)

    def update(self) -> UpdateBuilder[M]:
        """An UpdateItem builder for the one item whose full primary key ``.where()`` pins
        with ``==`` (ValidationError for anything else, before any request)."""
        from ._update import UpdateBuilder

        spec, info = self._spec, self._info
        extras = [
            name
            for name, used in (
                ("filter()", spec.filter is not None),
                ("index()", spec.index is not None),
                ("limit()", spec.limit is not None),
                ("page_size()", spec.page_size is not None),
                ("reverse()", spec.reverse),
                ("consistent()", spec.consistent),
            )
            if used
        ]
        if extras:
            raise ValidationError(
                f"update() changes the one item under a primary key; drop {', '.join(extras)}"
            )
        pinned = {t.attribute: t for t in spec.where if t.equality}
        if len(spec.where) != len(info.key_attributes) or set(pinned) != set(info.key_attributes):
            wanted = " and ".join(f"{_field(info, a)} == ..." for a in info.key_attributes)
            raise ValidationError(
                f"update() needs .where() to pin the full primary key with ==: {wanted}"
            )
        key = {info.by_attribute[a].name: pinned[a].value for a in info.key_attributes}
        return UpdateBuilder.for_key(self._session, cast("type[M]", spec.model), key)


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
        return self._with(segments=_positive("segments", n, MAX_SEGMENTS))

    @overload
    def select(self, struct: type[S], /) -> ProjectedScan[S]: ...  # type: ignore[overload-overlap]

    @overload
    def select(self, *paths: object) -> ProjectedScan[dict[str, Any]]: ...

    def select(self, *targets: object) -> ProjectedScan[Any]:
        """Read only some attributes: paths give dicts keyed by field name, one msgspec Struct
        type gives instances of it (its fields name the attributes)."""
        return self._as(ProjectedScan, projection=_projection(self._info, targets))


class Scan(_ScanBase[M], _Aggregating[M]):
    """A scan of a model's table or index; results are model instances.

    Immutable: each method returns a new Scan. ``segments(n)`` makes it a parallel scan;
    ``async for`` over it leaves no task running between items, so ``break`` needs no cleanup.
    A parallel scan cannot be paged with cursors (``page()`` raises ValidationError).
    """

    __slots__ = ()

    def __init__(self, session: Session, model: type[M]) -> None:
        super().__init__(session, model)


class ProjectedScan(_ScanBase[R]):
    """A scan whose results are projections: dicts of selected paths, or partial structs."""

    __slots__ = ()
