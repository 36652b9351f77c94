"""The orders domain both example services share: the model, the bodies, the operations.

Nothing here knows about a web framework. Each operation takes the process's Session and plain
values and raises the library's errors; :func:`problem_for` turns those (and body decoding
errors) into an HTTP status and a :class:`Problem` body, so the FastAPI and aiohttp services
differ only in how they route requests.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, TypeVar, cast

import msgspec

from dynamorm_async import (
    ConditionFailed,
    Count,
    CreatedAt,
    HashKey,
    InvalidCursor,
    ItemExists,
    ItemNotFound,
    Model,
    RangeKey,
    Session,
    SessionOptions,
    Sum,
    ThrottledError,
    UpdatedAt,
    ValidationError,
    Version,
)

__all__ = [
    "ImportResult",
    "NewOrder",
    "Order",
    "OrderPage",
    "Problem",
    "StatusChange",
    "StatusTotal",
    "Totals",
    "change_status",
    "create_order",
    "decode",
    "encode",
    "get_order",
    "import_orders",
    "list_orders",
    "local_options",
    "problem_for",
    "status_totals",
]

T = TypeVar("T")

Status = Literal["new", "paid", "shipped", "cancelled"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]

MAX_PAGE_SIZE = 100
MAX_IMPORT = 1000


class Order(Model, table="orders"):
    """One order; a customer's orders share a partition, sorted by order id."""

    customer: Annotated[str, HashKey()]
    order_id: Annotated[str, RangeKey()]
    status: Status = "new"
    total: Decimal = Decimal(0)
    qty: int = 1
    tags: set[str] = msgspec.field(default_factory=set)
    receipt: bytes | None = None  # the payment provider's signed receipt (base64 in JSON)
    version: Annotated[int, Version()] = 0
    created_at: Annotated[datetime | None, CreatedAt()] = None
    updated_at: Annotated[datetime | None, UpdatedAt()] = None


class NewOrder(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Body of ``POST /orders`` (and one element of ``POST /orders/import``)."""

    customer: Name
    order_id: Name
    total: Decimal
    qty: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1
    tags: Annotated[set[str], msgspec.Meta(max_length=20)] = msgspec.field(default_factory=set)
    receipt: bytes | None = None

    def __post_init__(self) -> None:
        # msgspec.Meta bounds do not apply to Decimal; a ValueError here fails the decode.
        if not self.total.is_finite() or self.total < 0:
            raise ValueError("total must be a finite amount of at least 0")

    def to_order(self) -> Order:
        return Order(
            customer=self.customer,
            order_id=self.order_id,
            total=self.total,
            qty=self.qty,
            tags=self.tags,
            receipt=self.receipt,
        )


class StatusChange(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``PATCH /orders/{customer}/{order_id}``: the new status and the version it saw."""

    status: Status
    version: Annotated[int, msgspec.Meta(ge=0)]


class OrderPage(msgspec.Struct):
    """One page of a customer's orders, with cursors to the pages around it."""

    items: list[Order]
    next: str | None
    prev: str | None


class ImportResult(msgspec.Struct):
    imported: int


class StatusTotal(msgspec.Struct):
    status: str | None
    count: int
    total: Decimal


class Totals(msgspec.Struct):
    customer: str | None
    statuses: list[StatusTotal]


class Problem(msgspec.Struct):
    """Every error answer: a stable machine-readable ``error`` and a human ``detail``."""

    error: str
    detail: str


# --- operations ----------------------------------------------------------------------------


async def create_order(db: Session, body: NewOrder) -> Order:
    """Create an order; ItemExists when the customer already has this order id."""
    return await db.create(body.to_order())


async def get_order(db: Session, customer: str, order_id: str) -> Order:
    """Read one order; ItemNotFound when absent."""
    return await db.get(Order, customer=customer, order_id=order_id)


async def list_orders(db: Session, customer: str, size: int, cursor: str | None) -> OrderPage:
    """One page of a customer's orders; InvalidCursor for a cursor this service did not sign."""
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValidationError(f"size must be between 1 and {MAX_PAGE_SIZE}")
    page = await db.query(Order).where(Order.customer == customer).page(size=size, cursor=cursor)
    return OrderPage(items=page.items, next=page.next_cursor, prev=page.prev_cursor)


async def change_status(db: Session, customer: str, order_id: str, change: StatusChange) -> Order:
    """Set an order's status if it is still at ``change.version`` (optimistic locking).

    ItemNotFound when there is no such order; ConditionFailed when someone else changed it
    first (the client re-reads it and decides again).
    """
    seen = Order(customer=customer, order_id=order_id, version=change.version)
    try:
        updated = await (
            db.update(seen)  # checks and bumps the version; ItemNotFound if there is no order
            .set(Order.status, change.status)
            .returning("ALL_NEW")
            .execute()
        )
    except ConditionFailed as exc:
        current = cast(Order, exc.item)  # what the version check saw (never None: see above)
        raise ConditionFailed(
            f"the order is at version {current.version}, not {change.version}; "
            "read it again and retry",
            operation=exc.operation,
            table=exc.table,
            key=exc.key,
            code=exc.code,
        ) from exc
    return updated


async def import_orders(db: Session, bodies: list[NewOrder]) -> ImportResult:
    """Write many orders at once (batch put: existing orders with the same key are replaced)."""
    if len(bodies) > MAX_IMPORT:
        raise ValidationError(f"import at most {MAX_IMPORT} orders per request")
    await db.batch_put([body.to_order() for body in bodies])
    return ImportResult(imported=len(bodies))


async def status_totals(db: Session, customer: str | None) -> Totals:
    """Order count and summed totals per status: one customer's (a query) or everyone's (a
    parallel scan)."""
    source = (
        db.query(Order).where(Order.customer == customer)
        if customer is not None
        else db.scan(Order).segments(4)
    )
    rows = await source.group_by(Order.status).aggregate(n=Count(), total=Sum(Order.total))
    return Totals(
        customer=customer,
        statuses=[
            StatusTotal(status=row.key, count=row["n"], total=row["total"] or Decimal(0))
            for row in rows
        ],
    )


# --- HTTP glue shared by both services -----------------------------------------------------


def decode(body: bytes, kind: type[T]) -> T:
    """Decode a JSON request body into ``kind``; msgspec's errors are mapped by problem_for."""
    return msgspec.json.decode(body, type=kind)


def encode(value: object) -> bytes:
    """Encode a response body (structs, models, lists of them) as JSON."""
    return msgspec.json.encode(value)


def problem_for(exc: Exception) -> tuple[int, Problem] | None:
    """The HTTP status and body for an error, or None for errors that are server faults."""
    # Order matters: ItemExists is a ConditionFailed, msgspec's ValidationError a DecodeError.
    if isinstance(exc, msgspec.ValidationError):
        return 422, Problem("invalid_body", str(exc))
    if isinstance(exc, msgspec.DecodeError):
        return 400, Problem("malformed_json", str(exc))
    if isinstance(exc, ItemExists):
        return 409, Problem("order_exists", exc.message)
    if isinstance(exc, ConditionFailed):
        return 409, Problem("version_conflict", exc.message)
    if isinstance(exc, ItemNotFound):
        return 404, Problem("order_not_found", exc.message)
    if isinstance(exc, InvalidCursor):
        return 400, Problem("invalid_cursor", exc.message)
    if isinstance(exc, ValidationError):
        return 422, Problem("invalid_request", exc.message)
    if isinstance(exc, ThrottledError):
        return 503, Problem("throttled", "DynamoDB is throttling requests; retry shortly")
    return None


def local_options(endpoint: str) -> SessionOptions:
    """Session options for a DynamoDB Local at ``endpoint``, which takes any credentials and
    region. The rest (table prefix, cursor secret) still comes from the environment."""
    return {
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
