"""Transaction payloads without a database: a stand-in Session records what would be sent.

Checks the TransactWriteItems/TransactGetItems request shapes, the client request token, how
cancellation codes are joined with each action's index, operation, table and key, and that
instances take new versions and timestamps only after a successful commit.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, cast

import pytest

from dynamorm_async import (
    CancellationReason,
    HashKey,
    Model,
    RequestRejected,
    Session,
    TransactionCanceled,
    ValidationError,
    Version,
)
from dynamorm_async._write.transaction import Transaction, transact_get
from tests.models import Order


class FrozenNote(Model, table="notes", frozen=True):
    pk: Annotated[str, HashKey()]
    text: str = ""
    version: Annotated[int, Version()] = 0


class Recorder:
    """Stands in for a Session: table names with a prefix, and a scripted ``call``."""

    table_prefix = "p_"

    def __init__(self, *, fail: BaseException | None = None, response: Any = None) -> None:
        self.calls: list[tuple[str, dict[str, Any], str | None]] = []
        self.fail = fail
        self.response = response or {}

    def table_name(self, model: type[Model]) -> str:
        return self.table_prefix + model.__dynamorm__.require_table()

    async def call(
        self, operation: str, payload: dict[str, Any], *, table: str | None = None, **_: Any
    ) -> dict[str, Any]:
        self.calls.append((operation, payload, table))
        if self.fail is not None:
            raise self.fail
        response: dict[str, Any] = self.response
        return response


def session(recorder: Recorder) -> Session:
    return cast(Session, recorder)


def canceled(*codes: str) -> TransactionCanceled:
    """What the transport's error mapping produces: codes and messages only."""
    error = TransactionCanceled(
        "transaction cancelled: Transaction cancelled",
        reasons=[
            CancellationReason(index=i, code=c, message=None if c == "None" else f"{c}!")
            for i, c in enumerate(codes)
        ],
        operation="TransactWriteItems",
        code="TransactionCanceledException",
    )
    error.__cause__ = RuntimeError("botocore error")
    return error


async def test_payload_of_every_action() -> None:
    rec = Recorder()
    existing = Order(customer="c", order_id="o3", version=4)
    async with Transaction(session(rec)) as tx:
        tx.put(Order(customer="c", order_id="o1"), condition=Order.status == "x")
        tx.update(Order, customer="c", order_id="o2").set(Order.status, "paid")
        tx.delete(existing)
        tx.condition_check(Order, customer="c", order_id="o4", condition=Order.qty > 1)
        tx.create(Order(customer="c", order_id="o5"))
    ((operation, payload, table),) = rec.calls
    assert operation == "TransactWriteItems"
    assert table == "p_orders"
    items = payload["TransactItems"]
    assert [next(iter(i)) for i in items] == ["Put", "Update", "Delete", "ConditionCheck", "Put"]
    put = items[0]["Put"]
    assert put["TableName"] == "p_orders"
    assert put["Item"]["version"] == {"N": "1"}
    assert put["ConditionExpression"] == "(#n0 = :v0) AND (attribute_not_exists(#n1))"
    update = items[1]["Update"]
    assert update["Key"] == {"customer": {"S": "c"}, "order_id": {"S": "o2"}}
    assert update["UpdateExpression"].startswith("SET #n0 = :v0, #n1 = :v1")
    assert "ReturnValues" not in update
    delete = items[2]["Delete"]
    assert delete["Key"] == {"customer": {"S": "c"}, "order_id": {"S": "o3"}}
    assert delete["ConditionExpression"] == "#n0 = :v0"
    assert delete["ExpressionAttributeValues"] == {":v0": {"N": "4"}}
    check = items[3]["ConditionCheck"]
    assert check["ConditionExpression"] == "#n0 > :v0"
    assert check["ExpressionAttributeNames"] == {"#n0": "qty"}
    create = items[4]["Put"]
    assert create["ConditionExpression"] == (
        "(attribute_not_exists(#n0)) AND (attribute_not_exists(#n1))"
    )
    assert create["ExpressionAttributeNames"] == {"#n0": "customer", "#n1": "version"}
    token = payload["ClientRequestToken"]
    assert uuid.UUID(token).version == 4
    assert token == tx.client_request_token


async def test_each_transaction_has_its_own_token() -> None:
    first, second = Transaction(session(Recorder())), Transaction(session(Recorder()))
    assert first.client_request_token != second.client_request_token


async def test_tables_of_several_models_are_not_reported_as_one() -> None:
    rec = Recorder()
    async with Transaction(session(rec)) as tx:
        tx.put(Order(customer="c", order_id="o1"))
        tx.put(FrozenNote(pk="n"))
    assert rec.calls[0][2] is None


async def test_instances_take_versions_only_after_commit() -> None:
    rec = Recorder()
    order = Order(customer="c", order_id="o1")
    async with Transaction(session(rec)) as tx:
        tx.put(order)
        assert order.version == 0
        assert order.created_at is None
    assert order.version == 1
    assert order.created_at is not None
    assert order.updated_at == order.created_at


async def test_frozen_instances_are_left_alone() -> None:
    note = FrozenNote(pk="n")
    async with Transaction(session(Recorder())) as tx:
        tx.put(note)
    assert note.version == 0


async def test_instance_of_an_update_is_not_changed() -> None:
    order = Order(customer="c", order_id="o1", version=3)
    rec = Recorder()
    async with Transaction(session(rec)) as tx:
        tx.update(order).set(Order.status, "x")
    update = rec.calls[0][1]["TransactItems"][0]["Update"]
    # The version check, and the stored item the instance names must exist.
    assert update["ConditionExpression"] == "(#n3 = :v3) AND (attribute_exists(#n4))"
    assert update["ExpressionAttributeNames"]["#n4"] == "customer"
    assert update["ExpressionAttributeValues"][":v2"] == {"N": "4"}
    assert update["ExpressionAttributeValues"][":v3"] == {"N": "3"}
    assert order.version == 3


async def test_cancellation_reasons_name_their_actions() -> None:
    rec = Recorder(fail=canceled("None", "ConditionalCheckFailed", "None"))
    order = Order(customer="c", order_id="o1")
    with pytest.raises(TransactionCanceled) as caught:
        async with Transaction(session(rec)) as tx:
            tx.put(order)
            tx.condition_check(Order, customer="c", order_id="o2", condition=Order.qty > 0)
            tx.delete(FrozenNote, pk="n")
    error = caught.value
    assert [(r.index, r.code, r.operation, r.table, r.key) for r in error.reasons] == [
        (0, "None", "Put", "p_orders", {"customer": "c", "order_id": "o1"}),
        (1, "ConditionalCheckFailed", "ConditionCheck", "p_orders",
         {"customer": "c", "order_id": "o2"}),
        (2, "None", "Delete", "p_notes", {"pk": "n"}),
    ]
    assert error.reasons[1].message == "ConditionalCheckFailed!"
    assert str(error).startswith(
        "transaction cancelled: action 1 (ConditionCheck on p_orders, key "
        "{'customer': 'c', 'order_id': 'o2'}): ConditionalCheckFailed (ConditionalCheckFailed!)"
    )
    assert (error.table, error.key) == ("p_orders", {"customer": "c", "order_id": "o2"})
    assert isinstance(error.__cause__, RuntimeError)
    assert order.version == 0


async def test_cancellation_with_missing_reasons_still_lists_every_action() -> None:
    rec = Recorder(fail=canceled("TransactionConflict"))
    with pytest.raises(TransactionCanceled) as caught:
        async with Transaction(session(rec)) as tx:
            tx.put(FrozenNote(pk="a"))
            tx.put(FrozenNote(pk="b"))
    assert [(r.index, r.code) for r in caught.value.reasons] == [
        (0, "TransactionConflict"),
        (1, "None"),
    ]


async def test_other_errors_propagate_unchanged() -> None:
    failure = RequestRejected("DynamoDB rejected the request", code="ValidationException")
    rec = Recorder(fail=failure)
    with pytest.raises(RequestRejected) as caught:
        async with Transaction(session(rec)) as tx:
            tx.put(FrozenNote(pk="a"))
    assert caught.value is failure


async def test_put_is_checked_when_added() -> None:
    tx = Transaction(session(Recorder()))
    with pytest.raises(ValidationError, match="'customer' is empty"):
        tx.put(Order(customer="", order_id="o"))
    with pytest.raises(ValidationError, match="either an instance or a model class"):
        tx.delete(FrozenNote(pk="a"), pk="b")  # type: ignore[call-overload]
    with pytest.raises(ValidationError, match="either an instance or a model class"):
        tx.update(FrozenNote(pk="a"), pk="b")  # type: ignore[call-overload]
    assert len(tx) == 0


async def test_transact_get_payload_and_decoding() -> None:
    rec = Recorder(
        response={
            "Responses": [
                {"Item": {"pk": {"S": "a"}, "text": {"S": "hi"}, "version": {"N": "2"}}},
                {},
            ]
        }
    )
    got = await transact_get(session(rec), [(FrozenNote, {"pk": "a"}), (FrozenNote, {"pk": "b"})])
    assert got == [FrozenNote(pk="a", text="hi", version=2), None]
    ((operation, payload, _),) = rec.calls
    assert operation == "TransactGetItems"
    assert payload == {
        "TransactItems": [
            {"Get": {"TableName": "p_notes", "Key": {"pk": {"S": "a"}}}},
            {"Get": {"TableName": "p_notes", "Key": {"pk": {"S": "b"}}}},
        ]
    }


async def test_transact_get_cancellation_names_the_reads() -> None:
    rec = Recorder(fail=canceled("None", "TransactionConflict"))
    with pytest.raises(TransactionCanceled) as caught:
        await transact_get(session(rec), [(FrozenNote, {"pk": "a"}), (FrozenNote, {"pk": "b"})])
    reason = caught.value.failed_reasons[0]
    assert (reason.index, reason.operation, reason.key) == (1, "Get", {"pk": "b"})
    assert caught.value.operation == "TransactGetItems"
