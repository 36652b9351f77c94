"""Table drift: what a model's table should be, what DynamoDB says it is, and the steps that
close the gap.

Pure: DescribeTable and DescribeTimeToLive answers in, typed differences (:class:`TableDiff`)
and a plan of request payloads (:class:`SyncPlan`) out. Both sides are read by the same parser
(:func:`table_shape`), since a CreateTable payload and DescribeTable's ``Table`` share their
layout: the model's side is the CreateTable payload :func:`create_table_request` would send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from .._errors import TableError
from .._model.model import ModelInfo
from .table_requests import (
    Billing,
    create_index_request,
    create_table_request,
    delete_index_request,
    ttl_request,
)

__all__ = [
    "IndexDiff",
    "IndexShape",
    "SyncPlan",
    "SyncResult",
    "SyncStep",
    "TableDiff",
    "TableShape",
    "TtlDiff",
    "billing_of",
    "compare_table",
    "model_shape",
    "plan_sync",
    "table_shape",
    "ttl_attribute",
]

KeyPart = tuple[str, str, str]
"""One key attribute: its name, its type (S, N or B) and its role (HASH or RANGE)."""

_LIVE_TTL = frozenset({"ENABLED", "ENABLING"})
_DEFAULT = Billing()


@dataclass(frozen=True, slots=True)
class IndexShape:
    """A secondary index as far as its queries can tell: kind, keys and projection."""

    is_global: bool
    keys: tuple[KeyPart, ...]
    projection: tuple[str, frozenset[str]]


@dataclass(frozen=True, slots=True)
class TableShape:
    """A table as far as a model can tell: key, secondary indexes, TTL attribute."""

    keys: tuple[KeyPart, ...]
    indexes: Mapping[str, IndexShape]
    ttl: str | None


def table_shape(description: Mapping[str, Any], ttl: str | None) -> TableShape:
    """The shape of a DescribeTable ``Table`` (or a CreateTable payload) with this TTL.

    A global index being deleted is left out: it is going away, and a new one of its name
    can be created only once it is gone.
    """
    types = {d["AttributeName"]: d["AttributeType"] for d in description["AttributeDefinitions"]}

    def keys(schema: list[dict[str, str]]) -> tuple[KeyPart, ...]:
        # An attribute without a definition cannot happen in DynamoDB; "?" keeps it unequal.
        return tuple(
            (k["AttributeName"], types.get(k["AttributeName"], "?"), k["KeyType"]) for k in schema
        )

    indexes: dict[str, IndexShape] = {}
    for is_global, field in ((True, "GlobalSecondaryIndexes"), (False, "LocalSecondaryIndexes")):
        for index in description.get(field) or ():
            if index.get("IndexStatus") == "DELETING":
                continue
            projection = index.get("Projection") or {}
            indexes[index["IndexName"]] = IndexShape(
                is_global=is_global,
                keys=keys(index["KeySchema"]),
                projection=(
                    projection.get("ProjectionType", "ALL"),
                    frozenset(projection.get("NonKeyAttributes") or ()),
                ),
            )
    return TableShape(keys=keys(description["KeySchema"]), indexes=indexes, ttl=ttl)


def model_shape(info: ModelInfo) -> TableShape:
    """The shape of the table :func:`create_table_request` creates for a model."""
    ttl = info.attribute(info.ttl) if info.ttl is not None else None
    return table_shape(create_table_request(info, ""), ttl)


def ttl_attribute(response: Mapping[str, Any]) -> str | None:
    """The attribute a DescribeTimeToLive answer has TTL on (being enabled counts), or None."""
    description = response.get("TimeToLiveDescription") or {}
    if description.get("TimeToLiveStatus") in _LIVE_TTL:
        attribute: str | None = description.get("AttributeName")
        return attribute
    return None


def billing_of(description: Mapping[str, Any]) -> Billing:
    """A described table's billing; provisioned capacities are the table's current ones.

    A table created as provisioned may carry no ``BillingModeSummary`` at all.
    """
    summary = description.get("BillingModeSummary") or {}
    if summary.get("BillingMode", "PROVISIONED") == "PAY_PER_REQUEST":
        return _DEFAULT
    throughput = description.get("ProvisionedThroughput") or {}
    return Billing(
        "PROVISIONED",
        int(throughput.get("ReadCapacityUnits") or _DEFAULT.read_capacity),
        int(throughput.get("WriteCapacityUnits") or _DEFAULT.write_capacity),
    )


# --- the differences ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexDiff:
    """One secondary index that differs: the model declares it and the table lacks it
    (``missing``), the table has it and the model does not declare it (``extra``), or both
    have it with other keys, key types, kind or projection (``changed``, see ``details``)."""

    name: str
    drift: Literal["missing", "extra", "changed"]
    is_global: bool
    details: tuple[str, ...] = ()

    def __str__(self) -> str:
        what = f"{'global' if self.is_global else 'local'} index {self.name!r}"
        if self.drift == "missing":
            return f"missing {what}"
        if self.drift == "extra":
            return f"extra {what} (the model does not declare it)"
        return f"{what} differs: {'; '.join(self.details)}"


@dataclass(frozen=True, slots=True)
class TtlDiff:
    """The TTL attribute the model declares and the one the table has enabled (None: none)."""

    model: str | None
    table: str | None

    def __str__(self) -> str:
        if self.table is None:
            return f"TTL is not enabled (the model declares it on {self.model!r})"
        if self.model is None:
            return f"TTL is enabled on {self.table!r}, which the model does not declare"
        return f"TTL is enabled on {self.table!r}; the model declares it on {self.model!r}"


@dataclass(frozen=True, slots=True)
class TableDiff:
    """How an existing table differs from its model, besides its key (which must match).

    Billing and capacities are not compared. ``str()`` gives one line for logs.
    """

    table: str
    model: str
    indexes: tuple[IndexDiff, ...] = ()
    ttl: TtlDiff | None = None

    @property
    def in_sync(self) -> bool:
        """True when the table has exactly the model's indexes and TTL."""
        return not self.indexes and self.ttl is None

    @property
    def missing_indexes(self) -> tuple[str, ...]:
        """Indexes the model declares and the table lacks."""
        return self._named("missing")

    @property
    def extra_indexes(self) -> tuple[str, ...]:
        """Indexes of the table the model does not declare."""
        return self._named("extra")

    @property
    def changed_indexes(self) -> tuple[str, ...]:
        """Indexes both have, with other keys, key types, kind or projection."""
        return self._named("changed")

    @property
    def differences(self) -> tuple[str, ...]:
        """Each difference, in words: the indexes, then TTL."""
        ttl = (str(self.ttl),) if self.ttl is not None else ()
        return tuple(str(index) for index in self.indexes) + ttl

    def _named(self, drift: str) -> tuple[str, ...]:
        return tuple(i.name for i in self.indexes if i.drift == drift)

    def __str__(self) -> str:
        if self.in_sync:
            return f"table {self.table!r} matches {self.model}"
        return f"table {self.table!r} differs from {self.model}: " + "; ".join(self.differences)


def compare_table(
    info: ModelInfo, table: str, description: Mapping[str, Any], ttl: str | None
) -> TableDiff:
    """Compare a described table (and its TTL attribute) with the model's.

    A different table key (names, types or roles) is a TableError: no update can change it.
    """
    desired, actual = model_shape(info), table_shape(description, ttl)
    model = info.cls.__name__
    if desired.keys != actual.keys:
        raise TableError(
            f"table {table!r} has the key {_keys(actual.keys)} but {model} declares "
            f"{_keys(desired.keys)}: a table's key cannot change; create a table for the model "
            "(a new table name) and copy the items with migrate()",
            table=table,
        )
    indexes = [
        *(
            IndexDiff(name, "missing", index.is_global)
            for name, index in desired.indexes.items()
            if name not in actual.indexes
        ),
        *(
            IndexDiff(name, "extra", index.is_global)
            for name, index in actual.indexes.items()
            if name not in desired.indexes
        ),
    ]
    for name, want in desired.indexes.items():
        have = actual.indexes.get(name)
        if have is not None and have != want:
            indexes.append(IndexDiff(name, "changed", want.is_global, _index_details(have, want)))
    ttl_diff = TtlDiff(desired.ttl, actual.ttl) if desired.ttl != actual.ttl else None
    return TableDiff(table, model, tuple(indexes), ttl_diff)


def _keys(keys: tuple[KeyPart, ...]) -> str:
    return ", ".join(f"{role} {name} ({kind})" for name, kind, role in keys)


def _projection(projection: tuple[str, frozenset[str]]) -> str:
    kind, attributes = projection
    return f"{kind} {', '.join(sorted(attributes))}" if attributes else kind


def _index_details(have: IndexShape, want: IndexShape) -> tuple[str, ...]:
    details = []
    if have.is_global != want.is_global:
        kinds = ("local", "global")
        details.append(
            f"the table's is {kinds[have.is_global]}, the model's {kinds[want.is_global]}"
        )
    if have.keys != want.keys:
        details.append(f"keys: table {_keys(have.keys)}, model {_keys(want.keys)}")
    if have.projection != want.projection:
        details.append(
            f"projection: table {_projection(have.projection)}, "
            f"model {_projection(want.projection)}"
        )
    return tuple(details)


# --- the sync ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What ``sync_table`` changed in a table (with ``dry_run``: would change), and the
    differences it found (``diff``) and left as they are (``remaining``). ``str()`` gives one
    line for logs."""

    diff: TableDiff
    dry_run: bool = False
    created_indexes: tuple[str, ...] = ()
    dropped_indexes: tuple[str, ...] = ()
    enabled_ttl: str | None = None

    @property
    def table(self) -> str:
        """The full table name."""
        return self.diff.table

    @property
    def changed(self) -> bool:
        """True when the sync changed (or would change) anything."""
        return bool(self.created_indexes or self.dropped_indexes or self.enabled_ttl)

    @property
    def remaining(self) -> TableDiff:
        """The differences the sync leaves (or would leave) as they are."""
        done = {*self.created_indexes, *self.dropped_indexes}
        return replace(
            self.diff,
            indexes=tuple(i for i in self.diff.indexes if i.name not in done),
            ttl=None if self.enabled_ttl is not None else self.diff.ttl,
        )

    @property
    def actions(self) -> tuple[str, ...]:
        """Each change, in words: ``created global index 'by_x'`` (``would create ...``)."""
        verbs = (
            ("would create", "would drop", "would enable")
            if self.dry_run
            else ("created", "dropped", "enabled")
        )
        created, dropped, enabled = verbs
        return (
            *(f"{created} global index {name!r}" for name in self.created_indexes),
            *(f"{dropped} global index {name!r}" for name in self.dropped_indexes),
            *((f"{enabled} TTL on {self.enabled_ttl!r}",) if self.enabled_ttl else ()),
        )

    def __str__(self) -> str:
        done = "; ".join(self.actions) or "nothing to change"
        left = self.remaining
        rest = "" if left.in_sync else "; left as is: " + "; ".join(left.differences)
        return f"table {self.table!r}: {done}{rest}"


@dataclass(frozen=True, slots=True)
class SyncStep:
    """One request of a sync; ``index`` names the global index it creates or deletes."""

    operation: Literal["UpdateTable", "UpdateTimeToLive"]
    payload: dict[str, Any]
    index: str | None = None
    creates: bool = False


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """The requests of a sync, in order, and the result they lead to."""

    result: SyncResult
    steps: tuple[SyncStep, ...]


def plan_sync(
    info: ModelInfo,
    table: str,
    description: Mapping[str, Any],
    ttl: str | None,
    *,
    drop_extra_indexes: bool,
    dry_run: bool,
) -> SyncPlan:
    """The steps that add the model's missing global indexes and TTL to a described table
    (and drop the global indexes it does not declare, when asked).

    New indexes are created before extra ones are dropped, so an index renamed in the model
    keeps serving under its old name until the new one is ACTIVE; an extra index is dropped
    first only when it holds an attribute a new index needs with another type. Changed indexes
    and a TTL on another attribute are never touched. TableError for a different key, a
    missing local index (local indexes exist only from a table's creation) and a new index
    whose key type another kept index contradicts.
    """
    diff = compare_table(info, table, description, ttl)
    missing_local = [i.name for i in diff.indexes if i.drift == "missing" and not i.is_global]
    if missing_local:
        raise TableError(
            f"table {table!r} lacks the local index(es) {', '.join(map(repr, missing_local))} "
            f"of {diff.model}: local indexes can only be created with their table; create a "
            "table for the model (a new table name) and copy the items with migrate()",
            table=table,
        )
    creates = diff.missing_indexes
    extra = [i.name for i in diff.indexes if i.drift == "extra" and i.is_global]
    drops = extra if drop_extra_indexes else []
    early = _drops_before_creates(info, diff, description, creates, drops)
    late = [name for name in drops if name not in early]
    create = create_table_request(info, table, billing_of(description))
    ttl_payload = ttl_request(info, table) if diff.ttl and diff.ttl.table is None else None
    steps = (
        *(SyncStep("UpdateTable", delete_index_request(table, n), n) for n in early),
        *(SyncStep("UpdateTable", create_index_request(create, n), n, True) for n in creates),
        *(SyncStep("UpdateTable", delete_index_request(table, n), n) for n in late),
        *((SyncStep("UpdateTimeToLive", ttl_payload),) if ttl_payload else ()),
    )
    result = SyncResult(
        diff,
        dry_run=dry_run,
        created_indexes=creates,
        dropped_indexes=(*early, *late),
        enabled_ttl=diff.ttl.model if ttl_payload and diff.ttl else None,
    )
    return SyncPlan(result, steps)


def _drops_before_creates(
    info: ModelInfo,
    diff: TableDiff,
    description: Mapping[str, Any],
    creates: tuple[str, ...],
    droppable: list[str],
) -> list[str]:
    """The extra indexes to drop before creating new ones: those whose key attribute a new
    index needs with another type (a table defines each attribute with one type)."""
    defined = {d["AttributeName"]: d["AttributeType"] for d in description["AttributeDefinitions"]}
    existing = table_shape(description, None).indexes
    wanted = model_shape(info).indexes
    early: list[str] = []
    for name in creates:
        for attribute, kind, _ in wanted[name].keys:
            if defined.get(attribute, kind) == kind:
                continue
            holders = [n for n, index in existing.items() if attribute in _attributes(index)]
            kept = [n for n in holders if n not in droppable]
            if kept:
                raise TableError(
                    f"index {name!r} of {diff.model} keys {attribute!r} as {kind}, but table "
                    f"{diff.table!r} defines {attribute!r} as {defined[attribute]} for index(es) "
                    f"{', '.join(map(repr, kept))}: a table gives an attribute one type; drop "
                    "those indexes first (extra ones with drop_extra_indexes=True) or key the "
                    "new index on another attribute",
                    table=diff.table,
                )
            early.extend(n for n in holders if n not in early)
    return early


def _attributes(index: IndexShape) -> set[str]:
    return {attribute for attribute, _, _ in index.keys}
