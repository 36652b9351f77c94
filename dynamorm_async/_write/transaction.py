"""Transaction executors: TransactWriteItems from an ``async with`` block, and TransactGetItems.

``async with db.transaction() as tx`` collects puts, creates, updates, deletes and condition
checks, each checked and marshalled when it is added, and sends them as one TransactWriteItems
when the block exits; if the block raises, nothing is sent. Version and timestamp semantics, and
the rule that an update never creates an item that cannot be read, are those of the single-item
calls; new versions and timestamps reach the caller's put instances only after DynamoDB
committed, by the rule of :func:`.semantics.apply_confirmed` (frozen ones are not changed).
A cancelled transaction raises ``TransactionCanceled`` whose reasons name each action's index,
operation, table and key; an update whose item is missing and must not be created says so in
its reason's message (``ItemNotFound: ...``).

Concurrency contract: a Transaction belongs to the task that opened it; several transactions
may run concurrently on one Session.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar, overload

from .._errors import CancellationReason, TransactionCanceled, ValidationError
from .._expressions.core import Condition, as_condition, optional_condition
from .._model.model import Model, ModelInfo, model_info
from .._wire.taggers import Item
from .._wire.values import key_fingerprint
from .semantics import (
    WriteTarget,
    apply_confirmed,
    delete_condition,
    delete_request,
    prepare_write,
    put_request,
    resolve_target,
)
from .update import TransactionSlot, UpdateBuilder, start_update
from .update_expr import PreparedUpdate

if TYPE_CHECKING:
    from .._context import ExecutionContext

__all__ = ["MAX_TRANSACTION_ACTIONS", "Transaction", "transact_get"]

M = TypeVar("M", bound=Model)

MAX_TRANSACTION_ACTIONS = 100

Operation = Literal["Put", "Update", "Delete", "ConditionCheck", "Get"]


@dataclass(slots=True)
class _Action:
    """One collected action; Update entries are rendered at commit from their builder's state."""

    operation: Operation
    info: ModelInfo
    table: str
    key: Item
    payload: dict[str, Any] | None = None
    slot: TransactionSlot | None = None
    target: Model | None = None
    updates: Mapping[str, Any] = field(default_factory=dict)
    prepared: PreparedUpdate | None = None

    def identity(self) -> bytes:
        """The item's identity as DynamoDB sees it (keys ``1.0`` and ``1`` are one item)."""
        return key_fingerprint(self.table, self.info.key_attributes, self.key)

    def describe(self, index: int) -> str:
        key = self.info.key_dict(self.key)
        return f"action {index} ({self.operation} on {self.table}, key {key})"

    def entry(self, index: int, now: datetime) -> dict[str, Any]:
        if self.slot is None:
            assert self.payload is not None
            return {self.operation: self.payload}
        assert self.slot.state is not None
        try:
            prepared = self.slot.state.prepare(now)
        except ValidationError as exc:
            message = f"{self.describe(index)}: {exc.message}"
            raise ValidationError(message, table=self.table) from None
        self.prepared = prepared
        return {"Update": prepared.request(self.table, self.key)}

    def explain(self, code: str, message: str | None, raw: Mapping[str, Any]) -> str | None:
        """DynamoDB's message for this action's cancellation, or what it means when the
        existence check of an update failed: no stored item came back with the failure."""
        prepared = self.prepared
        if (
            code != "ConditionalCheckFailed"
            or prepared is None
            or prepared.must_exist is None
            or "Code" not in raw
            or "Item" in raw
        ):
            return message
        return (
            f"ItemNotFound: no {self.info.cls.__name__} item under this key, and this update "
            f"must not create one: {prepared.must_exist}"
        )


class Transaction:
    """Write actions collected in ``async with db.transaction() as tx`` and committed
    atomically (one TransactWriteItems) when the block exits without an exception.

    ``client_request_token`` makes botocore's retries of the commit idempotent.
    """

    __slots__ = ("_actions", "_finished", "_items", "_session", "client_request_token")

    def __init__(self, session: ExecutionContext) -> None:
        self._session = session
        self._actions: list[_Action] = []
        self._items: dict[bytes, int] = {}
        self._finished = False
        self.client_request_token = str(uuid.uuid4())

    def __len__(self) -> int:
        return len(self._actions)

    def __repr__(self) -> str:
        return f"Transaction({len(self._actions)} actions, token={self.client_request_token})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is not None:
            self._finish()
            return
        await self.commit()

    # --- collecting ------------------------------------------------------------------------

    def put(self, obj: Model, *, condition: Condition | bool | None = None) -> None:
        """Write ``obj`` (with its version check and bump, and timestamps)."""
        self._put(obj, optional_condition(condition), create=False)

    def create(self, obj: Model) -> None:
        """Write ``obj`` only if no item has its key (the transaction is cancelled otherwise)."""
        self._put(obj, None, create=True)

    def _put(self, obj: Model, condition: Condition | None, *, create: bool) -> None:
        self._check_open()
        info = model_info(type(obj))
        table = self._session.table_name(type(obj))
        prepared = prepare_write(
            info, obj, now=datetime.now(UTC), condition=condition, create=create
        )
        payload = put_request(table, prepared.item, prepared.condition)
        self._add(
            _Action("Put", info, table, prepared.key, payload, target=obj, updates=prepared.updates)
        )

    @overload
    def update(self, target: M, /) -> UpdateBuilder[M]: ...

    @overload
    def update(self, target: type[M], /, **key: object) -> UpdateBuilder[M]: ...

    def update(self, target: M | type[M], /, **key: object) -> UpdateBuilder[M]:
        """An update recorded in this transaction: chain its actions, no execute needed."""
        self._check_open()
        slot = TransactionSlot()
        builder = start_update(self._session, target, key, slot=slot)
        assert slot.state is not None
        state = slot.state
        self._add(_Action("Update", state.info, state.table, state.key, slot=slot))
        return builder

    @overload
    def delete(self, target: Model, /, *, condition: Condition | bool | None = None) -> None: ...

    @overload
    def delete(
        self, target: type[Model], /, *, condition: Condition | bool | None = None, **key: object
    ) -> None: ...

    def delete(
        self,
        target: Model | type[Model],
        /,
        *,
        condition: Condition | bool | None = None,
        **key: object,
    ) -> None:
        """Delete an instance (with its version check) or the item under a key."""
        self._check_open()
        resolved = resolve_target(target, key)
        table = self._table(resolved)
        cond = delete_condition(resolved, optional_condition(condition))
        payload = delete_request(table, resolved.key, cond)
        self._add(_Action("Delete", resolved.info, table, resolved.key, payload))

    def condition_check(
        self, model: type[Model], /, *, condition: Condition | bool, **key: object
    ) -> None:
        """Require ``condition`` to hold on the item under ``key`` without writing it."""
        self._check_open()
        resolved = resolve_target(model, key)
        table = self._table(resolved)
        payload = delete_request(table, resolved.key, as_condition(condition))
        self._add(_Action("ConditionCheck", resolved.info, table, resolved.key, payload))

    def _table(self, target: WriteTarget[Any]) -> str:
        return self._session.table_name(target.info.cls)

    def _check_open(self) -> None:
        if self._finished:
            raise ValidationError(
                "this transaction has finished; open a new one with db.transaction()"
            )

    def _add(self, action: _Action) -> None:
        index = len(self._actions)
        if index >= MAX_TRANSACTION_ACTIONS:
            raise ValidationError(
                f"a transaction holds at most {MAX_TRANSACTION_ACTIONS} actions; "
                f"{action.describe(index)} is one too many: split the work",
                table=action.table,
            )
        identity = action.identity()
        first = self._items.get(identity)
        if first is not None:
            raise ValidationError(
                f"{action.describe(index)} targets the same item as "
                f"{self._actions[first].describe(first)}: DynamoDB allows one action per item "
                "in a transaction; merge them into one update",
                table=action.table,
                key=action.info.key_dict(action.key),
            )
        self._items[identity] = index
        self._actions.append(action)

    def _finish(self) -> None:
        self._finished = True
        for action in self._actions:
            if action.slot is not None:
                action.slot.is_open = False

    # --- committing ------------------------------------------------------------------------

    async def commit(self) -> None:
        """Send every collected action as one TransactWriteItems (the block exit does this).

        TransactionCanceled names each action that failed; nothing is written then.
        """
        self._check_open()
        self._finish()
        if not self._actions:
            return
        now = datetime.now(UTC)
        request = {
            "TransactItems": [a.entry(i, now) for i, a in enumerate(self._actions)],
            "ClientRequestToken": self.client_request_token,
        }
        tables = {a.table for a in self._actions}
        try:
            await self._session.call(
                "TransactWriteItems", request, table=tables.pop() if len(tables) == 1 else None
            )
        except TransactionCanceled as exc:
            raise _explain(exc, self._actions, "TransactWriteItems") from exc.__cause__
        for action in self._actions:
            if action.target is not None:
                # Nothing returns a frozen instance's copy here: its owner re-reads the item.
                apply_confirmed(action.target, action.updates)


def _explain(
    exc: TransactionCanceled, actions: Sequence[_Action], operation: str
) -> TransactionCanceled:
    """Attach each action's index, operation, table and key to DynamoDB's cancellation codes."""
    by_index = {r.index: r for r in exc.reasons}
    raw = _raw_reasons(exc)
    reasons: list[CancellationReason] = []
    for index, action in enumerate(actions):
        given = by_index.get(index)
        code = given.code if given is not None else "None"
        message = given.message if given is not None else None
        reasons.append(
            CancellationReason(
                index=index,
                code=code,
                message=action.explain(code, message, raw[index] if index < len(raw) else {}),
                operation=action.operation,
                table=action.table,
                key=action.info.key_dict(action.key),
            )
        )
    failed = [r for r in reasons if r.failed]
    summary = "; ".join(
        f"{actions[r.index].describe(r.index)}: {r.code}" + (f" ({r.message})" if r.message else "")
        for r in failed
    )
    first = failed[0] if failed else None
    return TransactionCanceled(
        f"transaction cancelled: {summary or exc.message}",
        reasons=reasons,
        operation=operation,
        table=first.table if first is not None else exc.table,
        key=first.key if first is not None else None,
        code=exc.code,
    )


def _raw_reasons(exc: TransactionCanceled) -> list[Mapping[str, Any]]:
    """DynamoDB's own cancellation reasons (with the stored ``Item`` of a failed condition
    check) from the error response the transport mapped, if it kept one."""
    response = getattr(exc.__cause__, "response", None)
    reasons = response.get("CancellationReasons") if isinstance(response, Mapping) else None
    return [r if isinstance(r, Mapping) else {} for r in reasons or ()]


async def transact_get(
    session: ExecutionContext, requests: Sequence[tuple[type[M], Mapping[str, object]]]
) -> list[M | None]:
    """Read up to 100 items in one TransactGetItems: instances (None where no item), in order."""
    if len(requests) > MAX_TRANSACTION_ACTIONS:
        raise ValidationError(
            f"transact_get reads at most {MAX_TRANSACTION_ACTIONS} items, got {len(requests)}; "
            "split the keys or use batch_get"
        )
    actions: list[_Action] = []
    seen: dict[bytes, int] = {}
    for index, (model, key) in enumerate(requests):
        info = model_info(model)
        table = session.table_name(model)
        action = _Action("Get", info, table, info.key_from(key))
        identity = action.identity()
        if identity in seen:
            raise ValidationError(
                f"{action.describe(index)} repeats action {seen[identity]}: DynamoDB reads each "
                "item once per transaction",
                table=table,
                key=info.key_dict(action.key),
            )
        seen[identity] = index
        actions.append(action)
    if not actions:
        return []
    request = {"TransactItems": [{"Get": {"TableName": a.table, "Key": a.key}} for a in actions]}
    try:
        response = await session.call("TransactGetItems", request)
    except TransactionCanceled as exc:
        raise _explain(exc, actions, "TransactGetItems") from exc.__cause__
    results: list[M | None] = []
    for action, found in zip(actions, response.get("Responses", []), strict=True):
        item = found.get("Item")
        results.append(action.info.decode(item) if item else None)
    return results
