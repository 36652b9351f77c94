"""dynamorm-async: an asyncio-native ORM for Amazon DynamoDB."""

from ._errors import (
    BatchWriteError,
    CancellationReason,
    ConditionFailed,
    DynamoDBError,
    DynamormError,
    InvalidCursor,
    ItemExists,
    ItemNotFound,
    ModelError,
    TableError,
    ThrottledError,
    TransactionCanceled,
    ValidationError,
)
from ._expressions import AttributePath, Condition
from ._models import (
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
from ._session import Session
from ._transport import RequestEvent

__all__ = [
    "TTL",
    "AttributePath",
    "BatchWriteError",
    "CancellationReason",
    "Condition",
    "ConditionFailed",
    "CreatedAt",
    "DynamoDBError",
    "DynamormError",
    "GlobalIndex",
    "HashKey",
    "InvalidCursor",
    "ItemExists",
    "ItemNotFound",
    "LocalIndex",
    "Model",
    "ModelError",
    "RangeKey",
    "RequestEvent",
    "Session",
    "TableError",
    "ThrottledError",
    "TransactionCanceled",
    "UpdatedAt",
    "ValidationError",
    "Version",
]

__version__ = "0.1.0"
