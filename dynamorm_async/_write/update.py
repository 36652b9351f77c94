"""UpdateItem executor: an immutable, typed update builder around one awaited call.

``db.update(Order, customer="c1", order_id="o1")``, ``db.update(order)`` and
``db.query(Order).where(<full key>).update()`` all return an :class:`UpdateBuilder`. Each method
checks its action against the model at once (:mod:`.update_expr`) and returns a new builder, so
a partly built update can be shared and extended safely. ``.returning(mode)`` turns it into a
:class:`ReturningUpdate` whose ``execute()`` is typed by the mode: ``ALL_NEW`` gives the model,
``ALL_OLD`` the model or None, ``UPDATED_*`` a dict keyed by field name, ``NONE`` None.

An update built from an instance checks and bumps the instance's ``Version`` field but leaves the
instance itself unchanged: it does not know the item's other attributes. Ask for ``ALL_NEW`` to
get the stored item.

An update never creates an item that cannot be read: it may create a missing item only when its
actions set every required field (:func:`.update_expr.why_update_cannot_create`). Otherwise, and
after ``.must_exist()`` or for an update built from an instance (which names a stored item), it
carries ``attribute_exists(<hash key>)`` and a missing item raises ``ItemNotFound``.

Builders made by ``Transaction.update`` are recorded in their transaction and sent when its
block exits.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, Self, TypeVar, overload

from .._errors import ConditionFailed, DynamormError, ItemNotFound, ValidationError
from .._expressions.core import AttributePath, Condition, as_condition, both
from .._immutable import ImmutableBuilder
from .._model.model import Model, ModelInfo
from .._read.projection import DictDecoder
from .._wire.taggers import Item
from .semantics import resolve_target, with_stored_item
from .update_expr import (
    RETURN_VALUES,
    ActionOp,
    PreparedUpdate,
    ReturnValues,
    UpdateAction,
    add_action,
    make_action,
    prepare_update,
)

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = ["ReturningUpdate", "TransactionSlot", "UpdateBuilder", "UpdateState", "start_update"]

M = TypeVar("M", bound=Model)
R_co = TypeVar("R_co", covariant=True)
T = TypeVar("T")

Number = int | float | Decimal


class _Value(Protocol):
    """Any value but an attribute path, whose ``==`` builds a condition instead of a bool.

    Without the mypy plugin a class attribute is typed as its value, and the actions take it
    as one; with the plugin it is a typed path, and this keeps it out of that lenient
    signature, so a value of the wrong type is an error.
    """

    def __eq__(self, other: object, /) -> bool: ...


_ASKED = "must_exist() was asked for"
_FROM_INSTANCE = (
    "the update was built from an instance, which names a stored item; update by key to "
    "create missing items"
)


class TransactionSlot:
    """Where a transaction keeps the newest state of one of its update actions."""

    __slots__ = ("is_open", "state")

    def __init__(self) -> None:
        self.state: UpdateState | None = None
        self.is_open = True

    def check(self, old: UpdateState) -> None:
        """Only the newest builder of an open transaction may be extended."""
        if not self.is_open:
            raise ValidationError(
                "this transaction has finished: build its updates inside the async with block"
            )
        if self.state is not None and self.state is not old:
            raise ValidationError(
                "this update builder was extended already; builders are immutable, so chain "
                "the calls (tx.update(...).set(...).increment(...)) or keep the returned builder"
            )

    def advance(self, old: UpdateState, new: UpdateState) -> None:
        """Record ``new`` as the action's state, replacing ``old``."""
        self.check(old)
        self.state = new


@dataclass(frozen=True, slots=True)
class UpdateState:
    """Everything an update builder holds: target, actions, condition and return mode."""

    session: ExecutionContext
    info: ModelInfo
    table: str
    key: Item
    actions: tuple[UpdateAction, ...] = ()
    condition: Condition | None = None
    expected_version: int | None = None
    mode: ReturnValues = "NONE"
    slot: TransactionSlot | None = None
    must_exist: str | None = None

    def prepare(self, now: datetime) -> PreparedUpdate:
        """The update with its managed actions, version and existence conditions (pure)."""
        return prepare_update(
            self.info,
            self.actions,
            now=now,
            condition=self.condition,
            expected_version=self.expected_version,
            must_exist=self.must_exist,
        )

    def condition_error(self, prepared: PreparedUpdate, exc: ConditionFailed) -> DynamormError:
        """The error for a failed condition: ItemNotFound when the existence check failed
        (no stored item came back), else ``exc`` with the stored item decoded."""
        if prepared.must_exist is None or exc.item is not None:
            return with_stored_item(self.info, exc)
        key = self.info.key_dict(self.key)
        return ItemNotFound(
            f"no {self.info.cls.__name__} item under key {key}, and this update must not "
            f"create one: {prepared.must_exist}",
            operation="UpdateItem",
            table=self.table,
            key=key,
        )


class _UpdateChain(ImmutableBuilder[UpdateState], Generic[M]):
    """Action methods shared by both builder types; each returns a new builder."""

    __slots__ = ()

    def __repr__(self) -> str:
        actions = ", ".join(f"{a.op}({a.path._dotted})" for a in self._state.actions)
        return f"{type(self).__name__}({self._state.info.cls.__name__}: {actions or 'empty'})"

    def _derive(self, **changes: Any) -> Self:
        state = replace(self._state, **changes)
        if state.slot is not None:
            state.slot.advance(self._state, state)
        return type(self)._of(state)

    def _act(self, op: ActionOp, path: object, value: object = None) -> Self:
        if self._state.slot is not None:
            self._state.slot.check(self._state)
        action = make_action(self._state.info, op, path, value)
        return self._derive(actions=add_action(self._state.actions, action))

    # --- actions ---------------------------------------------------------------------------

    # A typed path takes values of its type (a Decimal field an int too, as at runtime); a
    # class attribute typed as its value (no mypy plugin) takes any value, checked at runtime.
    @overload
    def set(self, path: AttributePath[T], value: T) -> Self: ...
    @overload
    def set(self, path: AttributePath[Decimal], value: Decimal | int) -> Self: ...
    @overload
    def set(self, path: AttributePath[Decimal | None], value: Decimal | int | None) -> Self: ...
    @overload
    def set(self, path: _Value | None, value: object) -> Self: ...

    def set(self, path: object, value: object) -> Self:
        """``SET path = value``; also list elements (``Order.lines[2]``) and nested fields.

        None (on an optional field) or an empty set removes the attribute, as a put would.
        """
        return self._act("set", path, value)

    @overload
    def set_if_not_exists(self, path: AttributePath[T], value: T) -> Self: ...
    @overload
    def set_if_not_exists(self, path: AttributePath[Decimal], value: Decimal | int) -> Self: ...
    @overload
    def set_if_not_exists(
        self, path: AttributePath[Decimal | None], value: Decimal | int | None
    ) -> Self: ...
    @overload
    def set_if_not_exists(self, path: _Value | None, value: object) -> Self: ...

    def set_if_not_exists(self, path: object, value: object) -> Self:
        """``SET path = if_not_exists(path, value)``: write only when the attribute is absent."""
        return self._act("set_if_not_exists", path, value)

    def increment(self, path: AttributePath[Any] | Number | None, n: Number = 1) -> Self:
        """Add ``n`` atomically; a missing attribute counts from zero."""
        return self._act("increment", path, n)

    def decrement(self, path: AttributePath[Any] | Number | None, n: Number = 1) -> Self:
        """Subtract ``n`` atomically; a missing attribute counts from zero."""
        return self._act("decrement", path, n)

    @overload
    def add(self, path: AttributePath[T], value: T) -> Self: ...
    @overload
    def add(self, path: AttributePath[Decimal], value: Decimal | int) -> Self: ...
    @overload
    def add(self, path: AttributePath[Decimal | None], value: Decimal | int) -> Self: ...
    @overload
    def add(self, path: _Value | None, value: object) -> Self: ...

    def add(self, path: object, value: object) -> Self:
        """``ADD``: add a number, or add elements to a set (creating it when absent)."""
        return self._act("add", path, value)

    def delete(
        self, path: AttributePath[Any] | AbstractSet[T] | None, elements: AbstractSet[T]
    ) -> Self:
        """``DELETE``: remove ``elements`` from a set field."""
        return self._act("delete", path, elements)

    def append(self, path: AttributePath[Any] | Sequence[T] | None, values: Iterable[T]) -> Self:
        """Append ``values`` to a list field (creating it when absent)."""
        return self._act("append", path, _as_list(values))

    def prepend(self, path: AttributePath[Any] | Sequence[T] | None, values: Iterable[T]) -> Self:
        """Put ``values`` in front of a list field (creating it when absent)."""
        return self._act("prepend", path, _as_list(values))

    def remove(self, path: object) -> Self:
        """``REMOVE path``: drop an attribute, a nested field or a list element."""
        return self._act("remove", path)

    def must_exist(self) -> Self:
        """Update only a stored item: a missing one raises ItemNotFound instead of being
        created (updates that leave a required field unset check this by themselves)."""
        return self._derive(must_exist=self._state.must_exist or _ASKED)

    def condition(self, condition: Condition | bool) -> Self:
        """Send only if ``condition`` holds (ConditionFailed otherwise); calls are ANDed."""
        return self._derive(condition=both(self._state.condition, as_condition(condition)))

    # --- return values ---------------------------------------------------------------------

    @overload
    def returning(self, mode: Literal["NONE"]) -> UpdateBuilder[M]: ...

    @overload
    def returning(self, mode: Literal["ALL_NEW"]) -> ReturningUpdate[M, M]: ...

    @overload
    def returning(self, mode: Literal["ALL_OLD"]) -> ReturningUpdate[M, M | None]: ...

    @overload
    def returning(
        self, mode: Literal["UPDATED_OLD", "UPDATED_NEW"]
    ) -> ReturningUpdate[M, dict[str, Any]]: ...

    def returning(self, mode: ReturnValues) -> UpdateBuilder[M] | ReturningUpdate[M, Any]:
        """What ``execute()`` returns: ``ALL_NEW`` the stored item as a model instance,
        ``ALL_OLD`` the previous one (None if there was none), ``UPDATED_NEW``/``UPDATED_OLD``
        the updated top-level fields, whole, as ``{field name: value}``, ``NONE`` nothing."""
        if mode not in RETURN_VALUES:
            raise ValidationError(f"returning() takes one of {', '.join(RETURN_VALUES)}")
        if self._state.slot is not None:
            raise ValidationError(
                "an update inside a transaction cannot return values: TransactWriteItems "
                "returns none; read the items after the transaction"
            )
        state = replace(self._state, mode=mode)
        if mode == "NONE":
            return UpdateBuilder._of(state)
        return ReturningUpdate._of(state)

    # --- execution -------------------------------------------------------------------------

    async def _execute(self) -> Any:
        state = self._state
        if state.slot is not None:
            raise ValidationError(
                "this update belongs to a transaction and is sent when its async with block "
                "exits; do not execute or await it"
            )
        info = state.info
        prepared = state.prepare(datetime.now(UTC))
        wire_mode = state.mode
        if wire_mode.startswith("UPDATED_") and prepared.nested:
            # DynamoDB's UPDATED_* carries only the touched part of a nested attribute (a
            # one-element list for lines[2]); the whole top-level value decodes to its type.
            wire_mode = "ALL_NEW" if wire_mode == "UPDATED_NEW" else "ALL_OLD"
        request = prepared.request(state.table, state.key, return_values=wire_mode)
        try:
            response = await state.session.call(
                "UpdateItem", request, table=state.table, key=info.key_dict(state.key)
            )
        except ConditionFailed as exc:
            raise state.condition_error(prepared, exc) from exc.__cause__
        attributes: Mapping[str, Any] | None = response.get("Attributes")
        if state.mode == "NONE":
            return None
        if state.mode.startswith("ALL_"):
            return info.decode(attributes) if attributes else None
        return _updated_fields(info, attributes or {}, prepared.touched)


class UpdateBuilder(_UpdateChain[M]):
    """An update that returns nothing: ``await builder`` or ``await builder.execute()``."""

    __slots__ = ()

    async def execute(self) -> None:
        """Send the UpdateItem; ConditionFailed when a condition or the version check fails,
        ItemNotFound when the item is missing and the update must not create it."""
        await self._execute()

    def __await__(self) -> Generator[Any, None, None]:
        return self.execute().__await__()


class ReturningUpdate(_UpdateChain[M], Generic[M, R_co]):
    """An update whose ``execute()`` returns what ``returning(mode)`` asked for."""

    __slots__ = ()

    async def execute(self) -> R_co:
        """Send the UpdateItem and decode the returned attributes."""
        result: R_co = await self._execute()
        return result

    def __await__(self) -> Generator[Any, None, R_co]:
        return self.execute().__await__()


def _as_list(values: Iterable[Any]) -> object:
    # A str or bytes is iterable but is one value, not a list of them: leave it for the type
    # check to reject with a clear message.
    if isinstance(values, str | bytes | Mapping):
        return values
    return list(values)


def start_update(
    session: ExecutionContext,
    target: M | type[M],
    key: Mapping[str, object],
    *,
    slot: TransactionSlot | None = None,
) -> UpdateBuilder[M]:
    """An update of an instance's item or of the item under ``key`` (field names to values;
    see :func:`.semantics.resolve_target`). From an instance it checks and bumps the
    instance's Version, and a missing item raises ItemNotFound (the update does not carry the
    instance's values). ``slot`` records the update in a transaction."""
    resolved = resolve_target(target, key)
    state = UpdateState(
        session=session,
        info=resolved.info,
        table=session.table_name(resolved.info.cls),
        key=resolved.key,
        expected_version=resolved.expected_version,
        slot=slot,
        must_exist=None if resolved.instance is None else _FROM_INSTANCE,
    )
    if slot is not None:
        slot.advance(state, state)
    return UpdateBuilder._of(state)


def _updated_fields(
    info: ModelInfo, attributes: Mapping[str, Any], touched: Iterable[str]
) -> dict[str, Any]:
    """The attributes an update touched as ``{field name: value}``, decoded by the read
    layer's decoder with each field's declared annotation: Optional included, so a stored NULL
    reads as None, as it does in a whole item."""
    paths = []
    for attribute in touched:
        name = info.by_attribute[attribute].name
        annotation = info.declared(name)
        paths.append(AttributePath((attribute,), annotation, model=info.cls, field_name=name))
    return DictDecoder(info, paths)(dict(attributes))
