"""dynamorm-async: an asyncio-native ORM for Amazon DynamoDB."""

from ._aggregate.accumulator import Row
from ._aggregate.builders import Aggregation, GroupBy
from ._aggregate.functions import Aggregate, Avg, Count, HavingCondition, Max, Min, Sum
from ._batch.progress import BatchProgress, BatchResult
from ._batch.retry import RetryPolicy
from ._batch.writer import BatchWriter
from ._context import ExecutionContext
from ._errors import (
    BatchGetError,
    BatchWriteError,
    CancellationReason,
    ConditionFailed,
    DistributedError,
    DynamoDBError,
    DynamormError,
    InvalidCursor,
    ItemDecodeError,
    ItemExists,
    ItemNotFound,
    MissingDependency,
    ModelError,
    RequestRejected,
    TableError,
    ThrottledError,
    TransactionCanceled,
    ValidationError,
)
from ._expressions.core import AttributePath, Condition, Placeholders, Size, path
from ._expressions.functions import (
    attribute_type,
    begins_with,
    between,
    contains,
    exists,
    is_in,
    not_exists,
    size,
)
from ._migrate.converters import (
    ConversionError,
    Reshape,
    from_epoch,
    parse_datetime,
    to_decimal,
    to_epoch,
    to_int,
    to_set,
    to_str,
)
from ._migrate.report import MigrationError, MigrationProgress, MigrationReport
from ._migrate.run import migrate
from ._migrate.table_checkpoint import TableCheckpoint
from ._model.model import (
    TTL,
    CreatedAt,
    GlobalIndex,
    HashKey,
    LocalIndex,
    Model,
    RangeKey,
    UpdatedAt,
    Version,
)
from ._read.builders import ProjectedQuery, ProjectedScan, Query, Scan
from ._read.cursor import CursorCodec
from ._read.pages import Page
from ._runner import LocalRunner, Runner, SegmentWork
from ._session import Session, SessionOptions
from ._transport.client import AiobotocoreTransport
from ._transport.observed import RequestEvent, RequestHook
from ._transport.protocol import CallOptions, ClientOptions, Transport
from ._write.table_diff import IndexDiff, SyncResult, TableDiff, TtlDiff
from ._write.table_requests import BillingMode, TableOptions
from ._write.transaction import Transaction
from ._write.update import ReturningUpdate, UpdateBuilder

__all__ = [
    "Aggregate",
    "Aggregation",
    "AiobotocoreTransport",
    "AttributePath",
    "Avg",
    "BatchGetError",
    "BatchProgress",
    "BatchResult",
    "BatchWriteError",
    "BatchWriter",
    "BillingMode",
    "CallOptions",
    "CancellationReason",
    "ClientOptions",
    "Condition",
    "ConditionFailed",
    "ConversionError",
    "Count",
    "CreatedAt",
    "CursorCodec",
    "DistributedError",
    "DynamoDBError",
    "DynamormError",
    "ExecutionContext",
    "GlobalIndex",
    "GroupBy",
    "HashKey",
    "HavingCondition",
    "IndexDiff",
    "InvalidCursor",
    "ItemDecodeError",
    "ItemExists",
    "ItemNotFound",
    "LocalIndex",
    "LocalRunner",
    "Max",
    "MigrationError",
    "MigrationProgress",
    "MigrationReport",
    "Min",
    "MissingDependency",
    "Model",
    "ModelError",
    "Page",
    "Placeholders",
    "ProjectedQuery",
    "ProjectedScan",
    "Query",
    "RangeKey",
    "RequestEvent",
    "RequestHook",
    "RequestRejected",
    "Reshape",
    "RetryPolicy",
    "ReturningUpdate",
    "Row",
    "Runner",
    "Scan",
    "SegmentWork",
    "Session",
    "SessionOptions",
    "Size",
    "Sum",
    "SyncResult",
    "TTL",
    "TableCheckpoint",
    "TableDiff",
    "TableError",
    "TableOptions",
    "ThrottledError",
    "Transaction",
    "TransactionCanceled",
    "Transport",
    "TtlDiff",
    "UpdateBuilder",
    "UpdatedAt",
    "ValidationError",
    "Version",
    "attribute_type",
    "begins_with",
    "between",
    "contains",
    "exists",
    "from_epoch",
    "is_in",
    "migrate",
    "not_exists",
    "parse_datetime",
    "path",
    "size",
    "to_decimal",
    "to_epoch",
    "to_int",
    "to_set",
    "to_str",
]

__version__ = "0.1.0"
