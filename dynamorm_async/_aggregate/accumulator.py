"""Grouping (GROUP BY): wire items into per-group aggregate states, then rows (pure, no I/O).

:class:`GroupAccumulator` consumes DynamoDB wire items, never model instances, so the executor
can project only the attributes aggregation reads (:func:`needed_attributes`) and skip decoding
whole items; when item counts alone answer the aggregation (:func:`count_only`) it needs no
items at all. Memory grows with the number of groups, not items. Accumulators of partial
results (one per parallel-scan segment) merge exactly into what one pass would have produced.

Equal DynamoDB values form one group (``1`` and ``1.0``; sets in any order), and rows come in a
stable order: by group key unless ``order_by`` names an aggregate (see
:meth:`GroupAccumulator.rows`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Generic

from typing_extensions import TypeVar

from .._checks import whole_number
from .._errors import DynamormError, ValidationError
from .._expressions.core import AttributePath, as_path
from .._wire.decode_errors import value_decode_error
from .._wire.lookup import WireItem, decode_value, resolve
from .._wire.values import canonical, canonical_order
from .functions import Aggregate, AggregateKey, Count, HavingCondition, as_having

__all__ = ["GroupAccumulator", "Row", "count_only", "needed_attributes"]

_RESERVED_NAMES = frozenset({"key", "values", "as_dict"})

K = TypeVar("K", default=Any)
"""The type of a row's group key: known from typed group_by() paths, else ``Any``."""


class Row(Generic[K]):
    """One result row: the group key and the named aggregate results.

    ``row.key`` is the group's value when grouping by one path, a tuple of values when grouping
    by several, and ``()`` without grouping; a missing attribute's value is ``None``. Results
    are read as ``row["total"]``, ``row.total`` or ``row.values``.
    """

    __slots__ = ("key", "values")

    key: K
    values: dict[str, Any]

    def __init__(self, key: K, values: Mapping[str, Any]) -> None:
        self.key = key
        self.values = dict(values)

    def __getitem__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise KeyError(f"no aggregate named {name!r}; rows hold {list(self.values)}") from None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("key", "values"):
            raise AttributeError(name)
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(
                f"no aggregate named {name!r}; rows hold {list(self.values)}"
            ) from None

    def as_dict(self) -> dict[str, Any]:
        """``{"key": key, **values}``."""
        return {"key": self.key, **self.values}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Row):
            return NotImplemented
        return self.key == other.key and self.values == other.values

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [f"key={self.key!r}", *(f"{k}={v!r}" for k, v in self.values.items())]
        return f"Row({', '.join(parts)})"


class _Group:
    __slots__ = ("display", "states")

    def __init__(self, display: tuple[Any, ...], states: list[Any]) -> None:
        self.display = display
        self.states = states


# (sort key of the group key, group, results by aggregate key)
_Entry = tuple[tuple[Any, ...], _Group, dict[AggregateKey, Any]]


class GroupAccumulator:
    """Streams wire items into per-group aggregate states; merge partials; produce rows.

    ``group_by`` paths define the groups (none: exactly one group, so one row even for zero
    items). ``aggregates`` names the results shown in rows; aggregates that only ``having``
    reads are computed but not shown, and an aggregate written twice is computed once.
    ``key_attributes`` name the table's key attributes so errors can say which item was bad.
    More than ``max_groups`` groups raise ``ValidationError``.

    Not safe for concurrent use from several tasks; give each segment its own accumulator and
    :meth:`merge` them. After an error the accumulator is unchanged by the failing call.
    """

    __slots__ = (
        "_annotations",
        "_group_elements",
        "_groups",
        "_having",
        "_initial",
        "_key_attributes",
        "_names",
        "_positions",
        "_specs",
        "max_groups",
    )

    def __init__(
        self,
        group_by: Sequence[AttributePath],
        aggregates: Mapping[str, Aggregate[Any, Any]],
        *,
        having: HavingCondition | None = None,
        key_attributes: tuple[str, ...] = (),
        max_groups: int = 100_000,
    ) -> None:
        paths = [as_path(p) for p in group_by]
        elements = tuple(p._elements for p in paths)
        if len(set(elements)) != len(elements):
            raise ValidationError("group_by names the same attribute path twice")
        if having is not None:
            as_having(having)
        whole_number("max_groups", max_groups)
        if not all(isinstance(a, str) for a in key_attributes):
            raise ValidationError(f"key_attributes must be attribute names, got {key_attributes!r}")
        specs: dict[AggregateKey, Aggregate[Any, Any]] = {}
        names: dict[str, AggregateKey] = {}
        for name, aggregate in aggregates.items():
            _check_name(name)
            if not isinstance(aggregate, Aggregate):
                raise ValidationError(
                    f"aggregate {name!r} must be Count(), Sum(...), Avg(...), Min(...) or "
                    f"Max(...), got {type(aggregate).__name__} {aggregate!r}"
                )
            specs.setdefault(aggregate.key, aggregate)
            names[name] = aggregate.key
        for aggregate in having.aggregates() if having is not None else ():
            specs.setdefault(aggregate.key, aggregate)
        self._group_elements = elements
        self._annotations = tuple(
            (p._annotation, p._model if isinstance(p._model, type) else None) for p in paths
        )
        self._specs = tuple(specs.values())
        self._positions = {key: i for i, key in enumerate(specs)}
        self._names = names
        self._having = having
        self._key_attributes = tuple(key_attributes)
        self.max_groups = max_groups
        self._initial = [spec.new_state() for spec in self._specs]
        self._empty()

    def _empty(self) -> None:
        self._groups: dict[tuple[Hashable, ...], _Group] = {}
        if not self._group_elements:
            self._groups[()] = _Group((), list(self._initial))

    def fresh(self) -> GroupAccumulator:
        """A new accumulator of no items, configured as this one (and not checked again)."""
        clone = object.__new__(GroupAccumulator)
        for name in GroupAccumulator.__slots__:
            # States are never changed in place, so the initial ones can be shared.
            setattr(clone, name, getattr(self, name))
        clone._empty()
        return clone

    @property
    def group_count(self) -> int:
        """Number of groups seen so far."""
        return len(self._groups)

    @property
    def count_only(self) -> bool:
        """True when counting items suffices (see :func:`count_only`); enables :meth:`add_count`."""
        return not self._group_elements and all(_is_item_count(s) for s in self._specs)

    def add(self, item: WireItem) -> None:
        """Fold one wire item into its group."""
        if not isinstance(item, Mapping):
            raise ValidationError(f"expected a wire item (dict), got {type(item).__name__}")
        avs = [resolve(item, elements) for elements in self._group_elements]
        frozen = tuple(canonical(av) for av in avs)
        group = self._groups.get(frozen)
        states = group.states if group is not None else self._initial
        keys = self._key_attributes
        new_states = [
            spec.add(state, item, key_attributes=keys)
            for spec, state in zip(self._specs, states, strict=True)
        ]
        if group is not None:
            group.states = new_states
            return
        self._check_room(len(self._groups) + 1)
        self._groups[frozen] = _Group(self._display(avs, item), new_states)

    def add_count(self, count: int) -> None:
        """Fold ``count`` items known only by number (a ``Select=COUNT`` page).

        Allowed only when :attr:`count_only` is true.
        """
        if not self.count_only:
            raise ValidationError(
                "add_count() needs an aggregation of Count() only, without group_by; feed "
                "items with add() instead"
            )
        whole_number("count", count, minimum=0)
        group = self._groups[()]
        group.states = [state + count for state in group.states]

    def merge(self, other: GroupAccumulator) -> None:
        """Fold another accumulator's partial states (same group_by and aggregates) into this one.

        The result equals one pass over both accumulators' items.
        """
        if not isinstance(other, GroupAccumulator):
            raise ValidationError(f"can only merge a GroupAccumulator, got {type(other).__name__}")
        if other._group_elements != self._group_elements or list(other._positions) != list(
            self._positions
        ):
            raise ValidationError(
                "can only merge accumulators built with the same group_by and aggregates"
            )
        merged = dict(self._groups)
        for frozen, theirs in other._groups.items():
            mine = merged.get(frozen)
            if mine is None:
                merged[frozen] = _Group(theirs.display, list(theirs.states))
            else:
                merged[frozen] = _Group(
                    mine.display,
                    [
                        spec.merge(a, b)
                        for spec, a, b in zip(self._specs, mine.states, theirs.states, strict=True)
                    ],
                )
        self._check_room(len(merged))
        self._groups = merged

    def rows(
        self, order_by: str | None = None, desc: bool = False, limit: int | None = None
    ) -> list[Row]:
        """The groups that pass ``having``, as rows.

        Default order is by group key: a missing value (None) first, then by DynamoDB type
        (bool, number, string, binary, sets, list, map) and value within a type. ``order_by``
        names an aggregate (or ``"key"``); rows whose value is None come last in either
        direction, and ties keep key order. ``limit`` caps the rows returned, after ordering.
        """
        if order_by is not None and order_by != "key" and order_by not in self._names:
            raise ValidationError(
                f"order_by={order_by!r} is not an aggregate; use 'key' or one of "
                f"{sorted(self._names)}"
            )
        if limit is not None:
            whole_number("limit", limit, minimum=0)
        entries: list[_Entry] = []
        for frozen, group in self._groups.items():
            results = {
                spec.key: spec.result(state)
                for spec, state in zip(self._specs, group.states, strict=True)
            }
            if self._having is None or self._having.evaluate(results):
                entries.append((tuple(canonical_order(v) for v in frozen), group, results))
        entries.sort(key=lambda entry: entry[0])
        if order_by is None or order_by == "key":
            if desc:
                entries.reverse()
        else:
            position = self._positions[self._names[order_by]]
            spec = self._specs[position]
            present: list[tuple[tuple[Any, ...], _Entry]] = []
            missing: list[_Entry] = []
            for entry in entries:
                value = spec.sort_value(entry[1].states[position])
                if value is None:
                    missing.append(entry)
                else:
                    present.append((value, entry))
            present.sort(key=lambda pair: pair[0], reverse=desc)
            entries = [entry for _, entry in present] + missing
        if limit is not None:
            entries = entries[:limit]
        return [self._row(group, results) for _, group, results in entries]

    def _row(self, group: _Group, results: Mapping[AggregateKey, Any]) -> Row:
        display = group.display
        key: Any = display[0] if len(display) == 1 else display
        return Row(key, {name: results[k] for name, k in self._names.items()})

    def _display(self, avs: Sequence[Mapping[str, Any] | None], item: WireItem) -> tuple[Any, ...]:
        out: list[Any] = []
        columns = zip(avs, self._annotations, self._group_elements, strict=True)
        for av, (annotation, model), elements in columns:
            if av is None:
                out.append(None)
                continue
            try:
                out.append(decode_value(annotation, av))
            except DynamormError as exc:
                raise value_decode_error(
                    model,
                    elements,
                    item,
                    f"group_by {AttributePath(elements)._dotted}: {exc.message}",
                    key_attributes=self._key_attributes,
                ) from exc
        return tuple(out)

    def _check_room(self, groups: int) -> None:
        if groups > self.max_groups:
            raise ValidationError(
                f"aggregation produced more than max_groups={self.max_groups} groups; group by "
                "fewer or coarser attributes, filter the items, or raise max_groups"
            )


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise ValidationError(
            f"aggregate name {name!r} must be an identifier not starting with '_'"
        )
    if name in _RESERVED_NAMES:
        raise ValidationError(
            f"aggregate name {name!r} is reserved by Row ({', '.join(sorted(_RESERVED_NAMES))}); "
            "choose another"
        )


def _is_item_count(aggregate: Aggregate[Any, Any]) -> bool:
    return isinstance(aggregate, Count) and aggregate.path is None


def needed_attributes(
    group_by: Sequence[AttributePath],
    aggregates: Mapping[str, Aggregate[Any, Any]],
    having: HavingCondition | None = None,
) -> list[AttributePath]:
    """Top-level attributes the aggregation reads, for a ProjectionExpression.

    Nested paths are widened to their top-level attribute, so the list never holds overlapping
    paths (which DynamoDB rejects). Empty when only ``Count()`` is asked for: project the key
    attributes then, or use ``Select=COUNT`` (see :func:`count_only`).
    """
    paths: list[AttributePath | None] = [as_path(p) for p in group_by]
    paths += [a.path for a in aggregates.values()]
    if having is not None:
        paths += [a.path for a in having.aggregates()]
    out: dict[str, AttributePath] = {}
    for path in paths:
        if path is None or path._attribute in out:
            continue
        top = AttributePath((path._attribute,), None, model=path._model)
        out[path._attribute] = path if path._is_top_level else top
    return list(out.values())


def count_only(
    aggregates: Mapping[str, Aggregate[Any, Any]],
    group_by: Sequence[AttributePath],
    having: HavingCondition | None = None,
) -> bool:
    """True when item counts alone answer the aggregation, so ``Select=COUNT`` suffices.

    That is: no grouping, and every aggregate (those shown and those ``having`` reads) is
    ``Count()`` without a path. Feed the counts with :meth:`GroupAccumulator.add_count`.
    """
    if group_by:
        return False
    used = list(aggregates.values())
    if having is not None:
        used += having.aggregates()
    return all(_is_item_count(a) for a in used)
