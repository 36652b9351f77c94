"""The library's error tree, and the one place botocore errors are mapped onto it.

    DynamormError
    ├── ModelError              a model class is defined wrongly (raised at class creation)
    ├── ValidationError         your input, rejected before any request was sent
    ├── ItemDecodeError         a stored item does not fit the model (the data's fault)
    ├── InvalidCursor           a pagination cursor that is tampered, truncated or foreign
    ├── ItemNotFound            get() of a key with no item, or an update that needs one
    ├── ConditionFailed         a condition expression evaluated false
    │   └── ItemExists          create() of a key that already has an item
    ├── TransactionCanceled     a transaction was cancelled (one reason per action)
    ├── BatchWriteError         unprocessed items left after the retry budget
    ├── BatchGetError           unprocessed keys left after the retry budget
    ├── TableError              a table is missing, exists already, or is in the wrong state
    ├── ThrottledError          throughput exceeded after botocore's retries
    ├── DistributedError        work spread over processes failed there: a task the cluster
    │                           lost too often, a segment another worker took over
    ├── MissingDependency       an optional feature whose extra is not installed
    └── DynamoDBError           any other error DynamoDB or the transport reported
        └── RequestRejected     DynamoDB's ValidationException: a request it refused
                                (missing index, key over 1 KB, ...) that no local check caught

Whose fault: ``ModelError`` and ``ValidationError`` point at the caller's code or input;
``ItemDecodeError`` at what is stored in the table (written by another program, an older
model, or raw calls); ``RequestRejected`` at a rule only DynamoDB knows (or a check the library
lacks); the rest are outcomes (conditions, missing items) or the service and network.
Every error raised from a botocore failure keeps that failure as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic

from typing_extensions import TypeVar

__all__ = [
    "BatchGetError",
    "BatchWriteError",
    "CancellationReason",
    "ConditionFailed",
    "DynamoDBError",
    "DistributedError",
    "DynamormError",
    "InvalidCursor",
    "ItemDecodeError",
    "ItemExists",
    "ItemNotFound",
    "MissingDependency",
    "ModelError",
    "RequestRejected",
    "TableError",
    "ThrottledError",
    "TransactionCanceled",
    "ValidationError",
    "map_client_error",
    "map_setup_error",
    "short_repr",
    "shorten",
]

#: How many characters of one key or value an error message shows.
SHOWN = 60


def shorten(text: str, limit: int = SHOWN) -> str:
    """``text`` cut to ``limit`` characters, marked with ``...``: a 2 KB key or a long value
    would bury the message it appears in."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short_repr(value: object, limit: int = SHOWN) -> str:
    """``repr(value)`` as an error message shows it (see :func:`shorten`)."""
    return shorten(repr(value), limit)


def _short_key(key: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{short_repr(k)}: {short_repr(v)}" for k, v in key.items()) + "}"


class DynamormError(Exception):
    """Base class of every error this library raises."""

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        table: str | None = None,
        key: Mapping[str, Any] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.table = table
        self.key = dict(key) if key is not None else None
        self.code = code

    def __str__(self) -> str:
        context = [
            f"{label}={value}"
            for label, value in (
                ("operation", self.operation),
                ("table", self.table),
                ("key", _short_key(self.key) if self.key is not None else None),
                ("code", self.code),
            )
            if value is not None
        ]
        return f"{self.message} ({', '.join(context)})" if context else self.message


class ModelError(DynamormError):
    """A model class is defined in a way DynamoDB or this library cannot support."""


class ValidationError(DynamormError):
    """Input rejected before any request was sent.

    For a value that does not fit its field, ``path`` names the field as you write it
    (``Order.lines[2].qty``), the message starts with it, and ``model`` is the model; both are
    None for other input errors. ``reason`` is the message without the path.
    """

    def __init__(
        self, message: str, *, path: str | None = None, model: type | None = None, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.path = path
        self.model = model
        self.reason = message
        #: The steps (``[2]``, ``.qty``) from the value being encoded down to the bad one,
        #: collected as the error travels up until a model or struct reports it.
        self.field_path: tuple[str, ...] = ()


class ItemDecodeError(DynamormError):
    """A stored item does not fit the model it is read as; nothing the caller sent was wrong.

    ``model`` is the class the item was decoded into, ``item`` the raw wire item, ``key`` its
    key attributes (untagged) and ``path`` the field that failed, as the user writes it
    (``Order.lines[1].qty``). Reads with ``on_invalid("skip")`` leave such items out instead.
    """

    def __init__(
        self,
        message: str,
        *,
        model: type | None = None,
        item: Mapping[str, Any] | None = None,
        path: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.model = model
        self.item: dict[str, Any] | None = dict(item) if item is not None else None
        self.path = path


class InvalidCursor(DynamormError):
    """A pagination cursor failed verification: tampered, truncated, expired or foreign."""


class ItemNotFound(DynamormError):
    """No item exists under the requested primary key (get(), or an update that may not
    create the item: see `UpdateBuilder.must_exist`)."""


#: The type of the stored item a ConditionFailed carries (``Any`` unless annotated).
ItemT = TypeVar("ItemT", default=Any)


class ConditionFailed(DynamormError, Generic[ItemT]):
    """A condition expression evaluated to false (ConditionalCheckFailedException).

    ``item`` is the item as stored when the check failed (a model instance from the item
    executors; wire format from raw ``Session.call``), or None when no item existed. Where the
    model is known, annotate it: ``ConditionFailed[Order]`` types ``item`` as ``Order | None``
    (``except`` cannot take the subscript; narrow ``exc.item`` with ``isinstance`` there).
    """

    def __init__(self, message: str, *, item: ItemT | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.item: ItemT | None = item


class ItemExists(ConditionFailed[ItemT]):
    """create() found an item already stored under the same primary key."""


class CancellationReason:
    """Why one action of a cancelled transaction failed."""

    __slots__ = ("code", "index", "key", "message", "operation", "table")

    def __init__(
        self,
        *,
        index: int,
        code: str,
        message: str | None,
        operation: str | None = None,
        table: str | None = None,
        key: Mapping[str, Any] | None = None,
    ) -> None:
        self.index = index
        self.code = code
        self.message = message
        self.operation = operation
        self.table = table
        self.key = dict(key) if key is not None else None

    @property
    def failed(self) -> bool:
        """True when this action caused the cancellation (code other than ``None``)."""
        return self.code != "None"

    def __repr__(self) -> str:
        return (
            f"CancellationReason(index={self.index}, code={self.code!r}, "
            f"operation={self.operation!r}, table={self.table!r}, key={self.key!r}, "
            f"message={self.message!r})"
        )


class TransactionCanceled(DynamormError):
    """A transaction was cancelled; ``reasons`` holds one entry per action, in order."""

    def __init__(
        self, message: str, *, reasons: Sequence[CancellationReason] = (), **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.reasons = list(reasons)

    @property
    def failed_reasons(self) -> list[CancellationReason]:
        """The reasons of the actions that caused the cancellation."""
        return [r for r in self.reasons if r.failed]


class BatchWriteError(DynamormError):
    """Items were still unprocessed when the retry budget ran out.

    ``unprocessed`` holds exactly those items (model instances or key dicts); everything else
    in the batch was written. ``processed`` counts the requests DynamoDB confirmed and
    ``processed_items`` lists them (empty where the caller streamed the requests).
    """

    def __init__(
        self,
        message: str,
        *,
        unprocessed: Sequence[Any],
        processed: int = 0,
        processed_items: Sequence[Any] = (),
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.unprocessed = list(unprocessed)
        self.processed = processed
        self.processed_items = list(processed_items)


class BatchGetError(DynamormError):
    """Keys were still unprocessed when the retry budget ran out.

    ``unprocessed`` holds exactly those keys, as the caller passed them; ``found`` holds the
    items read for every other key (input order, missing items left out).
    """

    def __init__(
        self, message: str, *, unprocessed: Sequence[Any], found: Sequence[Any] = (), **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.unprocessed = list(unprocessed)
        self.found = list(found)


class TableError(DynamormError):
    """A table is missing, already exists, or is not in a usable state."""


class ThrottledError(DynamormError):
    """DynamoDB kept throttling the request after the configured retries."""


class DistributedError(DynamormError):
    """Work spread over several processes failed there: the cluster lost a segment's task more
    often than it retries, or another worker took over a segment this one was running (a
    re-run of its task, or the same migration started twice). Keeps the cluster's error as
    ``__cause__``; a checkpointed migration resumes when run again."""


class MissingDependency(DynamormError):
    """An optional feature was used without its extra installed; the message names the extra
    (``pip install 'dynamorm-async[dask]'``)."""


class DynamoDBError(DynamormError):
    """Any other error DynamoDB or the HTTP transport reported."""


class RequestRejected(DynamoDBError):
    """DynamoDB refused the request (``ValidationException``): a rule the library could not
    check before sending, such as a missing index or a key over 1 KB. ``code`` is DynamoDB's
    error code and ``message`` starts with the server's own message."""


_THROTTLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
    }
)
_VALIDATION_CODES = frozenset({"ValidationException", "SerializationException"})
_TABLE_CODES = frozenset(
    {"ResourceNotFoundException", "ResourceInUseException", "TableNotFoundException"}
)


def map_client_error(
    exc: BaseException,
    *,
    operation: str,
    table: str | None = None,
    key: Mapping[str, Any] | None = None,
) -> DynamormError:
    """Translate a botocore/aiohttp failure into the library's error for the same cause.

    The caller raises the result ``from exc`` so the original stays as ``__cause__``.
    """
    response = getattr(exc, "response", None)
    if not isinstance(response, Mapping):
        return DynamoDBError(
            f"{type(exc).__name__}: {exc}", operation=operation, table=table, key=key
        )
    error = response.get("Error") or {}
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", "") or code)
    ctx: dict[str, Any] = {"operation": operation, "table": table, "key": key, "code": code}
    if code == "ConditionalCheckFailedException":
        return ConditionFailed(
            f"condition not met: {message}", item=response.get("Item"), **ctx
        )
    if code == "TransactionCanceledException":
        raw = response.get("CancellationReasons") or []
        reasons = [
            CancellationReason(index=i, code=str(r.get("Code", "None")), message=r.get("Message"))
            for i, r in enumerate(raw)
        ]
        return TransactionCanceled(f"transaction cancelled: {message}", reasons=reasons, **ctx)
    if code in _THROTTLE_CODES:
        return ThrottledError(
            f"throttled after retries: {message}; raise max_attempts or the table's capacity",
            **ctx,
        )
    if code in _VALIDATION_CODES:
        return RequestRejected(f"DynamoDB rejected the request: {message}", **ctx)
    if code in _TABLE_CODES:
        hint = (
            "create it with Session.create_table()/ensure_table()"
            if code != "ResourceInUseException"
            else "the table exists already or is being changed"
        )
        return TableError(f"{message}; {hint}", **ctx)
    return DynamoDBError(message, **ctx)


_NO_REGION = (
    "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), pass Session(region_name=...), or "
    "give the AWS profile a region; any region will do for DynamoDB Local"
)


def map_setup_error(exc: BaseException) -> DynamormError | None:
    """The library's error for a client botocore could not build, or None for other failures.

    botocore raises these (``NoRegionError``, ``ProfileNotFound``...) while it creates a client,
    before any request; they are recognised by the module of their class, since only the
    transport module may import botocore.
    """
    names = {cls.__name__ for cls in type(exc).__mro__ if cls.__module__ == "botocore.exceptions"}
    if "NoRegionError" in names:
        return ValidationError(_NO_REGION)
    if names:
        return ValidationError(f"cannot configure the DynamoDB client: {exc}")
    return None
