"""UpdateItem against DynamoDB Local: every action, every return-values mode, every validation
error (no request sent), conditional failures, and the model's Version/timestamp semantics."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import pytest

from dynamorm_async import (
    ConditionFailed,
    HashKey,
    ItemNotFound,
    Model,
    RequestEvent,
    RequestRejected,
    Session,
    ValidationError,
)
from dynamorm_async.testing import local_session
from tests.models import Order
from tests.shared_types import Address

pytestmark = pytest.mark.timeout(60)


class Plain(Model, table="plain"):
    """No managed fields: an update writes exactly the actions given."""

    pk: Annotated[str, HashKey()]
    n: int = 0
    name: str = ""


KEY: dict[str, Any] = {"customer": "c1", "order_id": "o1"}


@dataclass
class Counted:
    """A second Session on the same tables whose requests are recorded."""

    db: Session
    events: list[RequestEvent]


@pytest.fixture
async def db(dynamodb_session: Session) -> AsyncIterator[Session]:
    await dynamodb_session.create_table(Order)
    await dynamodb_session.create_table(Plain)
    yield dynamodb_session


@pytest.fixture
async def counted(dynamodb_session: Session, dynamodb_endpoint: str) -> AsyncIterator[Counted]:
    """No tables: a validation error must come before the first request."""
    events: list[RequestEvent] = []
    async with local_session(
        dynamodb_endpoint, table_prefix=dynamodb_session.table_prefix, on_request=events.append
    ) as session:
        yield Counted(session, events)


async def seed(db: Session, **fields: Any) -> Order:
    return await db.put(Order(**KEY, **fields))


async def stored(db: Session) -> Order:
    return await db.get(Order, **KEY, consistent=True)


async def raw(db: Session) -> dict[str, Any]:
    response = await db.call(
        "GetItem",
        {
            "TableName": db.table_name(Order),
            "Key": {"customer": {"S": "c1"}, "order_id": {"S": "o1"}},
            "ConsistentRead": True,
        },
    )
    item: dict[str, Any] = response["Item"]
    return item


# --- every action ----------------------------------------------------------------------------


async def test_set_top_level_nested_and_list_element(db: Session) -> None:
    await seed(db, lines=["a", "b", "c"], ship_to=Address(city="Paris", zip="75001"))
    await (
        db.update(Order, **KEY)
        .set(Order.status, "paid")
        .set(Order.ship_to.city, "Lyon")  # type: ignore[union-attr]
        .set(Order.lines[2], "C")
        .set(Order.total, Decimal("19.90"))
    )
    order = await stored(db)
    assert order.status == "paid"
    assert order.ship_to == Address(city="Lyon", zip="75001")
    assert order.lines == ["a", "b", "C"]
    assert order.total == Decimal("19.90")


async def test_set_whole_struct_and_none_removes(db: Session) -> None:
    await seed(db, note="hi")
    await db.update(Order, **KEY).set(Order.ship_to, Address(city="Rome")).set(Order.note, None)
    item = await raw(db)
    assert item["ship_to"] == {"M": {"city": {"S": "Rome"}}}
    assert "note" not in item
    assert (await stored(db)).ship_to == Address(city="Rome")


async def test_values_are_stored_with_the_field_type(db: Session) -> None:
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    await (
        db.update(Order, **KEY)
        .set(Order.total, 5)
        .set(Order.tags, {"b", "a"})
        .set(Order.scores, {3, 1})
        .set(Order.blobs, {b"\x00"})
        .set(Order.expires_at, expires)
    )
    item = await raw(db)
    assert item["total"] == {"N": "5"}
    assert item["tags"] == {"SS": ["a", "b"]}
    assert sorted(item["scores"]["NS"]) == ["1", "3"]
    assert item["blobs"] == {"BS": [base64.b64encode(b"\x00").decode()]}
    assert item["expires_at"] == {"N": str(int(expires.timestamp()))}
    order = await stored(db)
    assert (order.total, order.scores, order.blobs, order.expires_at) == (
        Decimal(5),
        {1, 3},
        {b"\x00"},
        expires,
    )


async def test_add_numbers_and_set_elements(db: Session) -> None:
    await seed(db, qty=1, tags={"a"})
    await db.update(Order, **KEY).add(Order.qty, 2).add(Order.tags, {"b", "c"}).add(
        Order.scores, {7}
    )
    order = await stored(db)
    assert (order.qty, order.tags, order.scores) == (3, {"a", "b", "c"}, {7})


async def test_increment_and_decrement(db: Session) -> None:
    await seed(db, qty=10, total=Decimal("1.5"))
    await db.update(Order, **KEY).increment(Order.qty).decrement(Order.total, Decimal("0.25"))
    await db.update(Order, **KEY).increment(Order.qty, 5)
    await db.update(Order, **KEY).decrement(Order.qty, 2)
    order = await stored(db)
    assert (order.qty, order.total) == (14, Decimal("1.25"))


async def test_increment_of_a_missing_attribute_counts_from_zero(db: Session) -> None:
    await db.update(Plain, pk="p").increment(Plain.n, 3)
    assert (await db.get(Plain, pk="p", consistent=True)).n == 3


async def test_remove_attribute_nested_field_and_list_element(db: Session) -> None:
    await seed(db, note="x", lines=["a", "b", "c"], ship_to=Address(city="Paris", zip="1"))
    await (
        db.update(Order, **KEY)
        .remove(Order.note)
        .remove(Order.lines[0])
        .remove(Order.ship_to.zip)  # type: ignore[union-attr]
    )
    order = await stored(db)
    assert (order.note, order.lines, order.ship_to) == (None, ["b", "c"], Address(city="Paris"))


async def test_delete_set_elements(db: Session) -> None:
    await seed(db, tags={"a", "b", "c"}, scores={1, 2})
    await db.update(Order, **KEY).delete(Order.tags, {"a", "zz"}).delete(Order.scores, {1, 2})
    item = await raw(db)
    assert "scores" not in item  # DynamoDB drops a set whose last element was deleted
    order = await stored(db)
    assert (order.tags, order.scores) == ({"b", "c"}, set())


async def test_append_and_prepend(db: Session) -> None:
    await seed(db, lines=["m"])
    await db.update(Order, **KEY).append(Order.lines, ["y", "z"])
    await db.update(Order, **KEY).prepend(Order.lines, ("a", "b"))
    assert (await stored(db)).lines == ["a", "b", "m", "y", "z"]


async def test_append_creates_a_missing_list(db: Session) -> None:
    await db.update(Order, **KEY).append(Order.lines, ["x"])
    await db.update(Order, customer="c1", order_id="o2").prepend(Order.lines, ["y"])
    assert (await stored(db)).lines == ["x"]
    assert (await db.get(Order, customer="c1", order_id="o2", consistent=True)).lines == ["y"]


async def test_set_if_not_exists(db: Session) -> None:
    await seed(db, status="paid")
    await db.update(Order, **KEY).set_if_not_exists(Order.status, "new").set_if_not_exists(
        Order.note, "first"
    )
    order = await stored(db)
    assert (order.status, order.note) == ("paid", "first")


async def test_update_creates_a_missing_item(db: Session) -> None:
    new = await db.update(Order, **KEY).set(Order.status, "draft").returning("ALL_NEW")
    assert new == await stored(db)
    assert (new.status, new.version, new.qty) == ("draft", 1, 0)
    assert new.created_at is not None
    assert new.created_at == new.updated_at


async def test_update_reached_from_a_query_chain(db: Session) -> None:
    await seed(db, qty=1)
    new = await (
        db.query(Order)
        .where(Order.customer == "c1", Order.order_id == "o1")
        .update()
        .increment(Order.qty)
        .returning("ALL_NEW")
    )
    assert (new.qty, new.version) == (2, 2)


# --- return values ---------------------------------------------------------------------------


async def test_returning_none(db: Session) -> None:
    await seed(db)
    builder = db.update(Order, **KEY).set(Order.status, "a")
    assert await builder is None  # type: ignore[func-returns-value]
    none = builder.returning("NONE").set(Order.qty, 1).execute()
    assert await none is None  # type: ignore[func-returns-value]


async def test_returning_all_new_is_a_typed_instance(db: Session) -> None:
    await seed(db, tags={"a"})
    new = await (
        db.update(Order, **KEY)
        .set(Order.ship_to, Address(city="Oslo"))
        .add(Order.tags, {"b"})
        .returning("ALL_NEW")
        .execute()
    )
    assert isinstance(new, Order)
    assert new.ship_to == Address(city="Oslo")
    assert new.tags == {"a", "b"}
    assert new == await stored(db)


async def test_returning_all_old(db: Session) -> None:
    old = await seed(db, status="before")
    got = await db.update(Order, **KEY).set(Order.status, "after").returning("ALL_OLD")
    assert got == old
    missing = await (
        db.update(Order, customer="c1", order_id="absent").set(Order.qty, 1).returning("ALL_OLD")
    )
    assert missing is None


async def test_returning_updated_new_and_old(db: Session) -> None:
    before = await seed(db, qty=1, status="s1")
    new = await db.update(Order, **KEY).increment(Order.qty).set(Order.note, "n").returning(
        "UPDATED_NEW"
    )
    assert new["qty"] == 2
    assert new["note"] == "n"
    assert new["version"] == 2
    assert isinstance(new["updated_at"], datetime)
    assert set(new) == {"qty", "note", "version", "updated_at", "created_at"}
    old = await db.update(Order, **KEY).set(Order.status, "s2").remove(Order.note).returning(
        "UPDATED_OLD"
    )
    assert old["status"] == "s1"
    assert old["note"] == "n"
    assert old["version"] == 2
    assert old["created_at"] == before.created_at


async def test_updated_values_of_nested_paths_are_whole_typed_fields(db: Session) -> None:
    await seed(db, lines=["a", "b", "c"], ship_to=Address(city="Paris", zip="1"))
    new = await (
        db.update(Order, **KEY)
        .set(Order.lines[1], "B")
        .set(Order.ship_to.city, "Nice")  # type: ignore[union-attr]
        .returning("UPDATED_NEW")
    )
    assert new["lines"] == ["a", "B", "c"]
    assert new["ship_to"] == Address(city="Nice", zip="1")
    assert "status" not in new
    old = await (
        db.update(Order, **KEY)
        .remove(Order.ship_to.zip)  # type: ignore[union-attr]
        .returning("UPDATED_OLD")
    )
    assert old["ship_to"] == Address(city="Nice", zip="1")
    assert "lines" not in old


async def test_updated_old_leaves_out_attributes_that_did_not_exist(db: Session) -> None:
    await db.put(Plain(pk="p", n=1))
    await db.update(Plain, pk="p").remove(Plain.name)
    old = await db.update(Plain, pk="p").set(Plain.name, "x").increment(Plain.n).returning(
        "UPDATED_OLD"
    )
    assert old == {"n": 1}


async def test_updated_values_decode_as_a_whole_item_does(db: Session) -> None:
    """A NULL another writer stored in an optional field reads as None, and a TTL field as a
    datetime, exactly as get() reads them."""
    item = {
        "customer": {"S": "c1"},
        "order_id": {"S": "o1"},
        "note": {"NULL": True},
        "expires_at": {"N": "1900000000"},
    }
    await db.call("PutItem", {"TableName": db.table_name(Order), "Item": item})
    assert (await stored(db)).note is None
    old = await (
        db.update(Order, **KEY)
        .set(Order.note, "n")
        .set(Order.expires_at, datetime(2031, 1, 1, tzinfo=UTC))
        .returning("UPDATED_OLD")
    )
    assert old == {"note": None, "expires_at": datetime.fromtimestamp(1900000000, UTC)}


# --- conditions ------------------------------------------------------------------------------


async def test_condition_holds(db: Session) -> None:
    await seed(db, status="new")
    await db.update(Order, **KEY).set(Order.status, "paid").condition(Order.status == "new")
    assert (await stored(db)).status == "paid"


async def test_failed_condition_raises_and_writes_nothing(db: Session) -> None:
    before = await seed(db, status="paid")
    with pytest.raises(ConditionFailed) as caught:
        await db.update(Order, **KEY).set(Order.status, "cancelled").condition(
            Order.status == "new"
        )
    error = caught.value
    assert (error.operation, error.table, error.key) == (
        "UpdateItem",
        db.table_name(Order),
        {"customer": "c1", "order_id": "o1"},
    )
    assert error.code == "ConditionalCheckFailedException"
    assert await stored(db) == before


async def test_conditions_are_anded(db: Session) -> None:
    await seed(db, status="new", qty=5)
    builder = db.update(Order, **KEY).set(Order.note, "x").condition(Order.status == "new")
    with pytest.raises(ConditionFailed):
        await builder.condition(Order.qty > 5)
    await builder.condition(Order.qty >= 5)
    assert (await stored(db)).note == "x"


async def test_condition_on_a_missing_item(db: Session) -> None:
    with pytest.raises(ConditionFailed):
        await db.update(Order, **KEY).set(Order.status, "x").condition(Order.customer.exists())
    assert await db.get_or_none(Order, **KEY, consistent=True) is None


# --- model semantics -------------------------------------------------------------------------


async def test_updated_at_bumped_created_at_kept(db: Session) -> None:
    before = await seed(db)
    assert before.created_at is not None
    assert before.updated_at is not None
    new = await db.update(Order, **KEY).set(Order.status, "x").returning("ALL_NEW")
    assert new.created_at == before.created_at
    assert new.updated_at is not None
    assert new.updated_at > before.updated_at


async def test_explicit_timestamp_wins(db: Session) -> None:
    await seed(db)
    when = datetime(2020, 5, 5, tzinfo=UTC)
    new = await db.update(Order, **KEY).set(Order.updated_at, when).returning("ALL_NEW")
    assert new.updated_at == when


async def test_key_update_bumps_the_version(db: Session) -> None:
    before = await seed(db)
    assert before.version == 1
    new = await db.update(Order, **KEY).set(Order.qty, 3).returning("ALL_NEW")
    assert new.version == 2
    with pytest.raises(ConditionFailed):
        await db.put(before)  # a copy from before the update is now stale


async def test_instance_update_checks_and_bumps_the_version(db: Session) -> None:
    order = await seed(db)
    new = await db.update(order).set(Order.status, "paid").returning("ALL_NEW")
    assert (new.version, new.status) == (2, "paid")
    assert (order.version, order.status) == (1, "new")  # the instance itself is left as it was
    with pytest.raises(ConditionFailed) as caught:
        await db.update(order).set(Order.status, "lost")
    assert caught.value.key == {"customer": "c1", "order_id": "o1"}
    assert await stored(db) == new
    again = await db.update(new).increment(Order.qty).returning("ALL_NEW")
    assert (again.version, again.qty) == (3, 1)


async def test_instance_update_needs_the_stored_item(db: Session) -> None:
    # The instance's other values are not in the update, so it never creates the item.
    with pytest.raises(ItemNotFound):
        await db.update(Order(**KEY)).set(Order.status, "first")
    assert (await db.scan(Order).all()) == []
    await seed(db)
    with pytest.raises(ConditionFailed):  # a fresh instance still holds version 0
        await db.update(Order(**KEY)).set(Order.status, "second")


async def test_instance_update_without_version_field(db: Session) -> None:
    plain = await db.put(Plain(pk="p", n=1))
    await db.update(plain).increment(Plain.n)
    await db.update(plain).increment(Plain.n)
    assert (await db.get(Plain, pk="p", consistent=True)).n == 3


# --- validation: nothing is sent ---------------------------------------------------------------

Case = Callable[[Session], Awaitable[None]]


async def _key_attribute(db: Session) -> None:
    await db.update(Order, **KEY).set(Order.customer, "c2")


async def _range_key_attribute(db: Session) -> None:
    await db.update(Order, **KEY).remove(Order.order_id)


async def _overlap_same_path(db: Session) -> None:
    await db.update(Order, **KEY).set(Order.status, "a").set(Order.status, "b")


async def _overlap_parent_child(db: Session) -> None:
    await db.update(Order, **KEY).remove(Order.ship_to).set(
        Order.ship_to.city, "x"  # type: ignore[union-attr]
    )


async def _overlap_list_element(db: Session) -> None:
    await db.update(Order, **KEY).append(Order.lines, ["a"]).remove(Order.lines[0])


async def _add_on_string(db: Session) -> None:
    await db.update(Order, **KEY).add(Order.status, "x")


async def _add_on_list(db: Session) -> None:
    await db.update(Order, **KEY).add(Order.lines, ["x"])


async def _delete_on_number(db: Session) -> None:
    await db.update(Order, **KEY).delete(Order.qty, {1})  # type: ignore[arg-type]


async def _wrong_type_str_for_int(db: Session) -> None:
    await db.update(Order, **KEY).set(Order.qty, "5")


async def _wrong_type_int_for_str(db: Session) -> None:
    await db.update(Order, **KEY).set(Order.status, 5)


async def _wrong_type_nested(db: Session) -> None:
    await db.update(Order, **KEY).set(Order.ship_to, {"zip": "1"})


async def _wrong_set_elements(db: Session) -> None:
    await db.update(Order, **KEY).add(Order.tags, {1, 2})


async def _fraction_for_int(db: Session) -> None:
    await db.update(Order, **KEY).increment(Order.qty, Decimal("0.5"))


async def _increment_string(db: Session) -> None:
    await db.update(Order, **KEY).increment(Order.status)  # type: ignore[arg-type]


async def _append_to_set(db: Session) -> None:
    await db.update(Order, **KEY).append(Order.tags, ["x"])  # type: ignore[arg-type]


async def _empty_set(db: Session) -> None:
    await db.update(Order, **KEY).add(Order.tags, set())


async def _version_field(db: Session) -> None:
    await db.update(Order, **KEY).set(Order.version, 9)


async def _empty_update(db: Session) -> None:
    await db.update(Order, **KEY)


async def _empty_update_returning(db: Session) -> None:
    await db.update(Order, **KEY).returning("ALL_NEW")


async def _partial_key(db: Session) -> None:
    await db.update(Order, customer="c1").set(Order.status, "x")


async def _unknown_key_field(db: Session) -> None:
    await db.update(Order, **KEY, status="x").set(Order.status, "x")


async def _empty_key_value(db: Session) -> None:
    await db.update(Order, customer="", order_id="o1").set(Order.status, "x")


async def _foreign_path(db: Session) -> None:
    await db.update(Order, **KEY).set(Plain.name, "x")


async def _not_a_path(db: Session) -> None:
    await db.update(Order, **KEY).set("status", "x")


async def _not_a_condition(db: Session) -> None:
    await db.update(Order, **KEY).set(Order.status, "x").condition(True)


async def _bad_return_mode(db: Session) -> None:
    await db.update(Order, **KEY).set(Order.status, "x").returning("ALL")  # type: ignore[call-overload]


async def _remove_required(db: Session) -> None:
    await db.update(Order, **KEY).remove(Order.ship_to.city)  # type: ignore[union-attr]


async def _naive_datetime(db: Session) -> None:
    await db.update(Order, **KEY).set(Order.expires_at, datetime(2030, 1, 1))


async def _query_without_full_key(db: Session) -> None:
    await db.query(Order).where(Order.customer == "c1").update().set(Order.status, "x")


async def _key_with_instance(db: Session) -> None:
    await db.update(Order(**KEY), status="x")  # type: ignore[call-overload]


VALIDATION_CASES: list[tuple[Case, str]] = [
    (_key_attribute, "part of Order's primary key"),
    (_range_key_attribute, "part of Order's primary key"),
    (_overlap_same_path, "overlaps set\\(status\\)"),
    (_overlap_parent_child, "overlaps remove\\(ship_to\\)"),
    (_overlap_list_element, "overlaps append\\(lines\\)"),
    (_add_on_string, "add\\(\\) works on number and set fields only"),
    (_add_on_list, "add\\(\\) works on number and set fields only"),
    (_delete_on_number, "delete\\(\\) removes elements from set fields only"),
    (_wrong_type_str_for_int, "expected an int, got str"),
    (_wrong_type_int_for_str, "expected a str, got int"),
    (_wrong_type_nested, "expected "),
    (_wrong_set_elements, "expected "),
    (_fraction_for_int, "expected an int, got Decimal"),
    (_increment_string, "needs a number field"),
    (_append_to_set, "needs a list field"),
    (_empty_set, "empty set"),
    (_version_field, "Version field"),
    (_empty_update, "empty update of Order"),
    (_empty_update_returning, "empty update of Order"),
    (_partial_key, "missing \\['order_id'\\]"),
    (_unknown_key_field, "unexpected \\['status'\\]"),
    (_empty_key_value, "is empty"),
    (_foreign_path, "belongs to Plain, not Order"),
    (_not_a_path, "expected an attribute path"),
    (_not_a_condition, "expected a condition"),
    (_bad_return_mode, "returning\\(\\) takes one of"),
    (_remove_required, "has no default"),
    (_naive_datetime, "naive datetime"),
    (_key_with_instance, "either an instance or a model class"),
    (_query_without_full_key, "full primary key"),
]


async def test_every_validation_error_comes_before_any_request(counted: Counted) -> None:
    # One Session for all cases keeps the test fast; each case is reported by name.
    wrong: list[str] = []
    for case, message in VALIDATION_CASES:
        try:
            await case(counted.db)
        except ValidationError as exc:
            if not re.search(message, str(exc)):
                wrong.append(f"{case.__name__}: {exc}")
        else:
            wrong.append(f"{case.__name__}: no error")
    assert wrong == []
    assert counted.events == []


async def test_validation_errors_are_raised_by_the_builder_call(
    db: Session, counted: Counted
) -> None:
    builder = counted.db.update(Order, **KEY).set(Order.status, "x")
    with pytest.raises(ValidationError):
        builder.set(Order.status, "y")
    # the builder is immutable: the failed call left it usable
    await builder
    assert [e.operation for e in counted.events] == ["UpdateItem"]


async def test_builders_are_immutable(db: Session) -> None:
    base = db.update(Order, **KEY).set(Order.status, "shared")
    first = base.increment(Order.qty, 1)
    second = base.set(Order.note, "other")
    await first
    assert ((await stored(db)).qty, (await stored(db)).note) == (1, None)
    await second
    order = await stored(db)
    assert (order.qty, order.note, order.status) == (1, "other", "shared")
    assert "set(status)" in repr(base)


async def test_server_side_rejection_is_request_rejected(db: Session) -> None:
    await seed(db)
    with pytest.raises(RequestRejected, match="DynamoDB rejected the request"):
        # a nested field of a map the item does not have: only DynamoDB can know
        await db.update(Order, **KEY).set(Order.ship_to.city, "x")  # type: ignore[union-attr]


async def test_timestamps_use_utc(db: Session) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    new = await db.update(Order, **KEY).set(Order.qty, 1).returning("ALL_NEW")
    assert new.updated_at is not None
    assert new.updated_at.tzinfo is not None
    assert new.updated_at > start
