"""Key-condition checks, index choice, request building and projection decoding (pure)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import pytest

from dynamorm_async import (
    TTL,
    GlobalIndex,
    HashKey,
    ItemDecodeError,
    LocalIndex,
    Model,
    RangeKey,
    Session,
    ValidationError,
)
from dynamorm_async._model.model import model_info
from dynamorm_async._read.builders import ProjectedQuery, ProjectedScan, Query, Scan, read_source
from dynamorm_async._read.plan import ReadSpec, build_plan, key_terms, pinned_key, resolve_index
from dynamorm_async._read.projection import DictDecoder, StructDecoder
from tests.models import Reading
from tests.shared_types import Address

pytestmark = pytest.mark.timeout(30)


class PlanOrder(Model, table="orders"):
    """An order with the indexes the planner chooses between (no table: pure tests)."""

    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    status: str = "new"
    total: Decimal = Decimal(0)
    qty: int = 0
    region: str = "eu"
    lines: list[str] = msgspec.field(default_factory=list)
    ship_to: Address | None = None
    expires_at: Annotated[datetime | None, TTL()] = None

    __indexes__ = (
        GlobalIndex("by_status", hash_key="status", range_key="total"),
        GlobalIndex("by_status_qty", hash_key="status", range_key="qty"),
        GlobalIndex("by_region", hash_key="region", projection="KEYS_ONLY"),
        LocalIndex("by_qty", range_key="qty", projection=["total"]),
    )


class Slim(msgspec.Struct):
    order_id: str
    total: Decimal
    expires_at: datetime | None = None


INFO = model_info(PlanOrder)


def session() -> Session:
    return Session(endpoint_url="http://127.0.0.1:9", region_name="us-east-1")


def resolve(*conditions: Any, index: str | None = None) -> str | None:
    spec = resolve_index(INFO, key_terms(INFO, conditions), index)
    return None if spec is None else spec.name


# --- key conditions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "operator"),
    [
        (PlanOrder.order_id == "a", "=="),
        (PlanOrder.order_id < "a", "<"),
        (PlanOrder.order_id <= "a", "<="),
        (PlanOrder.order_id > "a", ">"),
        (PlanOrder.order_id >= "a", ">="),
        (PlanOrder.order_id.between("a", "b"), "between"),
        (PlanOrder.order_id.begins_with("a"), "begins_with"),
    ],
)
def test_every_range_operator_is_a_key_term(condition: Any, operator: str) -> None:
    terms = key_terms(INFO, [PlanOrder.customer == "c1", condition])
    assert [t.operator for t in terms] == ["==", operator]
    assert resolve(PlanOrder.customer == "c1", condition) is None


def test_conditions_joined_with_and_are_flattened() -> None:
    terms = key_terms(INFO, [(PlanOrder.customer == "c1") & (PlanOrder.order_id > "x")])
    assert [t.attribute for t in terms] == ["customer", "order_id"]
    assert terms[0].value == "c1"


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (PlanOrder.status.exists(), "attribute_exists() cannot be part of a key condition"),
        (PlanOrder.customer != "c1", "!= cannot be part of a key condition"),
        ((PlanOrder.customer == "a") | (PlanOrder.customer == "b"), "Or cannot be part"),
        (~(PlanOrder.customer == "a"), "Not cannot be part"),
        (PlanOrder.customer.is_in(["a", "b"]), "In cannot be part"),
        (PlanOrder.order_id.size() > 3, "size() cannot be part"),
        (PlanOrder.ship_to.city == "x", "ship_to.city is not a key attribute"),
        (PlanOrder.lines.contains("x"), "contains() cannot be part"),
        (PlanOrder.customer == PlanOrder.order_id, "not with another attribute"),
    ],
)
def test_what_a_key_condition_cannot_hold(condition: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        key_terms(INFO, [condition])


def test_non_key_attribute_in_where_says_to_use_filter() -> None:
    class Plain(Model, table="plain"):
        pk: Annotated[str, HashKey()]
        note: str = ""

    with pytest.raises(ValidationError, match=r"Plain.note is not a key.*\.filter\(\)"):
        key_terms(model_info(Plain), [Plain.note == "x"])


def test_begins_with_needs_a_string_or_binary_key() -> None:
    info = model_info(Reading)
    with pytest.raises(ValidationError, match="begins_with\\(\\) needs a string or binary key"):
        key_terms(info, [Reading.at.begins_with("1")])


def test_the_hash_key_is_required() -> None:
    with pytest.raises(ValidationError, match=r"needs the hash key.*PlanOrder.customer == value"):
        resolve()
    with pytest.raises(ValidationError, match=r"needs its hash key in .where\(\)"):
        resolve(PlanOrder.order_id == "x")


def test_the_hash_key_takes_only_equality() -> None:
    with pytest.raises(
        ValidationError, match=r"hash key PlanOrder\.customer of the table takes only"
    ):
        resolve(PlanOrder.customer > "c")


def test_a_key_twice_is_rejected() -> None:
    with pytest.raises(ValidationError, match="appears twice"):
        resolve(PlanOrder.customer == "a", PlanOrder.order_id > "a", PlanOrder.order_id < "b")


def test_the_table_wins_when_it_fits() -> None:
    # by_qty (an LSI) fits a hash-only condition too; the table is preferred.
    assert resolve(PlanOrder.customer == "c1") is None


def test_an_index_is_picked_when_only_it_fits() -> None:
    assert resolve(PlanOrder.customer == "c1", PlanOrder.qty > 3) == "by_qty"
    assert resolve(PlanOrder.status == "paid", PlanOrder.total > 3) == "by_status"
    assert resolve(PlanOrder.region == "eu") == "by_region"


def test_ambiguous_indexes_are_named() -> None:
    with pytest.raises(ValidationError, match=r"'by_status', 'by_status_qty'.*\.index\(name\)"):
        resolve(PlanOrder.status == "paid")
    assert resolve(PlanOrder.status == "paid", index="by_status_qty") == "by_status_qty"


def test_an_explicit_index_is_checked() -> None:
    with pytest.raises(
        ValidationError, match=r"PlanOrder\.order_id is not a key of index 'by_status'"
    ):
        resolve(PlanOrder.status == "paid", PlanOrder.order_id > "a", index="by_status")
    with pytest.raises(ValidationError, match="index 'by_qty' needs its hash key"):
        resolve(PlanOrder.status == "paid", index="by_qty")


def test_a_range_condition_on_a_non_range_key_explains_which_keys_exist() -> None:
    with pytest.raises(ValidationError, match=r"PlanOrder.status is not a key of the table"):
        resolve(PlanOrder.customer == "c", PlanOrder.status == "x", PlanOrder.qty > 1)


# --- request building -----------------------------------------------------------------------


def plan(operation: Any = "Query", output: Any = "items", **spec: Any) -> Any:
    if "where" in spec:
        spec["where"] = key_terms(INFO, spec["where"])
    return build_plan(operation, ReadSpec(PlanOrder, **spec), "p_orders", output)


def test_query_request_has_placeholders_for_everything() -> None:
    p = plan(
        where=[PlanOrder.order_id.begins_with("2025"), PlanOrder.customer == "c1"],
        filter=(PlanOrder.total > 10) & PlanOrder.lines.contains("gift"),
        reverse=True,
        consistent=True,
    )
    request = p.request
    assert request["TableName"] == "p_orders"
    # The hash key comes first whatever the order in .where().
    assert request["KeyConditionExpression"] == "#n0 = :v0 AND begins_with(#n1, :v1)"
    assert request["FilterExpression"] == "(#n2 > :v2) AND (contains(#n3, :v3))"
    assert request["ExpressionAttributeNames"] == {
        "#n0": "customer", "#n1": "order_id", "#n2": "total", "#n3": "lines"
    }
    assert request["ExpressionAttributeValues"][":v2"] == {"N": "10"}
    assert request["ScanIndexForward"] is False
    assert request["ConsistentRead"] is True
    assert "IndexName" not in request and "ProjectionExpression" not in request
    assert p.cursor_attributes == ("customer", "order_id")
    assert p.filtered


def test_index_query_cursor_keys_include_the_index_keys() -> None:
    p = plan(where=[PlanOrder.status == "paid", PlanOrder.total > 1])
    assert p.request["IndexName"] == "by_status"
    assert p.cursor_attributes == ("customer", "order_id", "status", "total")


def test_consistent_reads_on_a_gsi_are_rejected_before_any_request() -> None:
    with pytest.raises(ValidationError, match="global secondary index"):
        plan(where=[PlanOrder.status == "paid", PlanOrder.total > 1], consistent=True)
    with pytest.raises(ValidationError, match="global secondary index"):
        plan("Scan", index="by_status", consistent=True)
    assert plan(where=[PlanOrder.customer == "c", PlanOrder.qty > 1], consistent=True).request[
        "ConsistentRead"
    ]


def test_selected_pages_always_read_the_cursor_keys() -> None:
    p = plan(
        where=[PlanOrder.status == "paid", PlanOrder.total > 1],
        projection=(PlanOrder.qty, PlanOrder.ship_to.city),
    )
    names = p.request["ExpressionAttributeNames"]
    projected = [
        ".".join(names[n] for n in part.split(".")) for part in
        p.request["ProjectionExpression"].split(", ")
    ]
    assert projected == ["qty", "ship_to.city", "customer", "order_id", "status", "total"]


def test_keys_and_count_outputs() -> None:
    keys = plan("Scan", "keys", index="by_status", filter=PlanOrder.qty > 1)
    assert keys.request["ProjectionExpression"] == "#n1, #n2"
    assert keys.request["ExpressionAttributeNames"] == {
        "#n0": "qty", "#n1": "customer", "#n2": "order_id"
    }
    count = plan("Scan", "count", projection=(PlanOrder.qty,))
    assert count.request["Select"] == "COUNT"
    assert "ProjectionExpression" not in count.request
    exact = plan("Scan", (PlanOrder.total,))
    assert exact.request["ProjectionExpression"] == "#n0"


def test_model_results_from_a_partial_index() -> None:
    # A KEYS_ONLY GSI cannot build whole models; an INCLUDE LSI reads through to the table.
    with pytest.raises(ValidationError, match=r"'by_region' does not project .*\.select\(\)"):
        plan(where=[PlanOrder.region == "eu"])
    assert plan(where=[PlanOrder.region == "eu"], projection=(PlanOrder.qty,)).request[
        "ProjectionExpression"
    ]
    lsi = plan(where=[PlanOrder.customer == "c", PlanOrder.qty > 1])
    assert lsi.request["Select"] == "ALL_ATTRIBUTES"


# --- builders -------------------------------------------------------------------------------


def test_builders_are_immutable() -> None:
    db = session()
    q = Query(db, PlanOrder)
    q2 = q.where(PlanOrder.customer == "c1").filter(PlanOrder.total > 1).limit(3).reverse()
    assert q2 is not q
    spec, spec2 = read_source(q).spec, read_source(q2).spec
    assert spec.where == () and spec.limit is None and not spec.reverse and spec.filter is None
    assert spec2.filter is not None and spec2.limit == 3 and spec2.reverse
    with pytest.raises(AttributeError, match="immutable"):
        q.x = 1  # type: ignore[attr-defined]
    s = Scan(db, PlanOrder)
    assert read_source(s.segments(4)).spec.segments == 4 and read_source(s).spec.segments == 1
    source = read_source(s)
    assert source.spec.model is PlanOrder and source.context is db and source.operation == "Scan"
    assert read_source(q).operation == "Query"


def test_public_builders_expose_no_executor_hooks() -> None:
    hooks = ("session", "model", "filter_condition", "segment_count", "invalid_mode")
    for builder in (Query(session(), PlanOrder), Scan(session(), PlanOrder).select(Slim)):
        assert not [name for name in (*hooks, "raw_item_streams") if hasattr(builder, name)]


def test_filters_accumulate_with_and() -> None:
    q = Query(session(), PlanOrder).filter(PlanOrder.total > 1).filter(PlanOrder.qty < 2)
    ph_request = build_plan("Scan", read_source(q).spec, "t").request
    assert ph_request["FilterExpression"] == "(#n0 > :v0) AND (#n1 < :v1)"


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "3"])
def test_counts_must_be_positive_ints(bad: Any) -> None:
    q = Query(session(), PlanOrder)
    for method in (q.limit, q.page_size, Scan(session(), PlanOrder).segments):
        with pytest.raises(ValidationError, match=r"must be an int (>= 1|between 1 and)"):
            method(bad)
    with pytest.raises(ValidationError, match="between 1 and 1000000"):
        Scan(session(), PlanOrder).segments(1_000_001)


def test_unknown_index_and_bad_selects() -> None:
    q = Query(session(), PlanOrder)
    with pytest.raises(ValidationError, match=r"no index 'nope' \(its indexes: 'by_status'"):
        q.index("nope")
    with pytest.raises(ValidationError, match="needs attribute paths"):
        q.select()
    with pytest.raises(ValidationError, match="overlap"):
        q.select(PlanOrder.ship_to, PlanOrder.ship_to.city)
    with pytest.raises(ValidationError, match=r"msgspec\.Struct type"):
        q.select(int)
    with pytest.raises(ValidationError, match="expected an attribute path"):
        q.select("total")

    class Stranger(msgspec.Struct):
        nope: int

    with pytest.raises(ValidationError, match=r"\['nope'\] are not attributes of PlanOrder"):
        q.select(Stranger)
    with pytest.raises(ValidationError, match="is not an attribute of PlanOrder"):
        q.select(Reading.value)
    with pytest.raises(ValidationError, match=r"between\(\) on PlanOrder\.order_id .* two values"):
        key_terms(INFO, [PlanOrder.order_id.between(PlanOrder.status, "b")])
    with pytest.raises(ValidationError, match="needs at least one key condition"):
        q.where()


def test_select_returns_projected_builders() -> None:
    q = Query(session(), PlanOrder).where(PlanOrder.customer == "c")
    assert isinstance(q.select(PlanOrder.total), ProjectedQuery)
    assert isinstance(Scan(session(), PlanOrder).select(Slim), ProjectedScan)
    # Duplicate paths are read once.
    projection = read_source(q.select(PlanOrder.total, PlanOrder.total)).spec.projection
    assert isinstance(projection, tuple) and len(projection) == 1


# --- decoding projections ---------------------------------------------------------------------


def test_dict_decoder_uses_field_names_annotations_and_list_positions() -> None:
    class Renamed(Model, table="renamed"):
        pk: Annotated[str, HashKey()]
        amount: Decimal = msgspec.field(default=Decimal(0), name="amt")
        lines: list[str] = msgspec.field(default_factory=list)
        ship_to: Address | None = None
        expires_at: Annotated[datetime | None, TTL()] = None

    decode = DictDecoder(
        model_info(Renamed),
        [Renamed.amount, Renamed.lines[3], Renamed.lines[1], Renamed.ship_to.city,
         Renamed.expires_at],
    )
    item = {
        "pk": {"S": "k"},
        "amt": {"N": "1.5"},
        # DynamoDB returns only the projected elements, in index order: lines[1], lines[3].
        "lines": {"L": [{"S": "one"}, {"S": "three"}]},
        "ship_to": {"M": {"city": {"S": "Oslo"}}},
        "expires_at": {"N": "1700000000"},
    }
    assert decode(item) == {
        "amount": Decimal("1.5"),
        "lines[3]": "three",
        "lines[1]": "one",
        "ship_to.city": "Oslo",
        "expires_at": datetime.fromtimestamp(1700000000, tz=UTC),
    }
    # Absent attributes are absent keys; key attributes read for cursors are not returned.
    assert decode({"pk": {"S": "k"}, "lines": {"L": [{"S": "one"}]}}) == {"lines[1]": "one"}


def test_a_partial_model_decodes_as_that_model() -> None:
    class OrderView(Model):
        customer: str
        order_id: str
        total: Decimal = Decimal(0)

    decode = StructDecoder(OrderView, PlanOrder)
    item = {"customer": {"S": "c"}, "order_id": {"S": "o1"}, "qty": {"N": "3"}}
    assert decode(item) == OrderView(customer="c", order_id="o1")


def test_include_projections_count_as_projected() -> None:
    class Lean(Model, table="lean"):
        pk: Annotated[str, HashKey()]
        kind: str = ""
        size: int = 0

        __indexes__ = (GlobalIndex("by_kind", hash_key="kind", projection=["size"]),)

    spec = ReadSpec(Lean, where=key_terms(model_info(Lean), [Lean.kind == "x"]))
    assert "Select" not in build_plan("Query", spec, "t").request


def test_pinned_key_is_the_full_primary_key_by_field_name() -> None:
    where = key_terms(INFO, [PlanOrder.order_id == "o1", PlanOrder.customer == "c1"])
    assert pinned_key(ReadSpec(PlanOrder, where=where)) == {"customer": "c1", "order_id": "o1"}
    with pytest.raises(ValidationError, match="pin the full primary key"):
        pinned_key(ReadSpec(PlanOrder, where=where[:1]))
    ranged = key_terms(INFO, [PlanOrder.customer == "c1", PlanOrder.order_id > "o1"])
    with pytest.raises(ValidationError, match="pin the full primary key"):
        pinned_key(ReadSpec(PlanOrder, where=ranged))
    with pytest.raises(ValidationError, match=re.escape("drop filter(), limit()")):
        pinned_key(ReadSpec(PlanOrder, where=where, filter=PlanOrder.qty > 1, limit=1))


def test_struct_decoder_decodes_like_the_model() -> None:
    decode = StructDecoder(Slim, PlanOrder)
    item = {
        "customer": {"S": "c"},
        "order_id": {"S": "o1"},
        "total": {"N": "2.50"},
        "expires_at": {"N": "1700000000"},
    }
    assert decode(item) == Slim("o1", Decimal("2.50"), datetime.fromtimestamp(1700000000, UTC))
    with pytest.raises(ItemDecodeError, match="does not fit Slim") as caught:
        decode({"customer": {"S": "c"}, "order_id": {"S": "o1"}})
    # Named by the table's key and shown whole, though Slim selects only part of it.
    assert caught.value.key == {"customer": "c", "order_id": "o1"}
    assert caught.value.item == {"customer": {"S": "c"}, "order_id": {"S": "o1"}}
    assert caught.value.model is Slim and caught.value.path == "Slim.total"
