"""Tracing in plain data: what a DynamoDB call's span says, and the span a fan-out runs under.

OpenTelemetry itself is imported by ``_transport/traced.py`` alone, and only once tracing is
on; this module needs none of it. It holds the semantic conventions for DynamoDB (``db.system``,
``rpc.*``, ``aws.dynamodb.*``, ``error.type``) as pure functions of a call's payload, response
or error, and :class:`FanOutSpan`, the interface executors hand to ``_fanout`` so that the
calls of every worker of a fan-out are children of one executor span.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from types import TracebackType
from typing import Any, Protocol, Self

import msgspec

from ._errors import DynamormError
from ._transport.protocol import Payload, failure_response, retry_attempts

__all__ = [
    "NO_SPAN",
    "Attributes",
    "FanOutSpan",
    "TracerProvider",
    "call_attributes",
    "error_type",
    "failure_attributes",
    "fan_out_attributes",
    "fan_out_name",
    "response_attributes",
    "table_names",
]

AttributeValue = str | bool | int | float | tuple[str, ...]
Attributes = dict[str, AttributeValue]

# What every call's span says about the system it talks to (AWS SDK and DynamoDB conventions).
_SYSTEM: Attributes = {"db.system": "dynamodb", "rpc.system": "aws-api", "rpc.service": "DynamoDB"}

# Request fields the DynamoDB conventions record, each where the operation has it.
_REQUEST_FIELDS = {
    "IndexName": "aws.dynamodb.index_name",
    "ConsistentRead": "aws.dynamodb.consistent_read",
    "Limit": "aws.dynamodb.limit",
    "ProjectionExpression": "aws.dynamodb.projection",
    "Select": "aws.dynamodb.select",
    "ScanIndexForward": "aws.dynamodb.scan_forward",
    "Segment": "aws.dynamodb.segment",
    "TotalSegments": "aws.dynamodb.total_segments",
    "ExclusiveStartTableName": "aws.dynamodb.exclusive_start_table",
}
_THROUGHPUT_FIELDS = {
    "ReadCapacityUnits": "aws.dynamodb.provisioned_read_capacity",
    "WriteCapacityUnits": "aws.dynamodb.provisioned_write_capacity",
}
_COUNT_FIELDS = {"Count": "aws.dynamodb.count", "ScannedCount": "aws.dynamodb.scanned_count"}

# No convention names a call's retry count; this is the attribute OpenTelemetry's botocore
# instrumentation sets, so one query finds the retries of both.
RETRY_ATTEMPTS = "retry_attempts"


class TracerProvider(Protocol):
    """An OpenTelemetry ``TracerProvider`` (named structurally: opentelemetry is optional)."""

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
    ) -> object:
        """The tracer an instrumented library records its spans with."""
        ...


class FanOutSpan(Protocol):
    """An executor's span, which its fan-out runs under; ``NO_SPAN`` when tracing is off.

    The executor opens it around its work, ``with ctx.fan_out_span(...) as span:`` (an
    exception leaving the block marks it failed), and hands it to ``_fanout``, which makes it
    current with ``span.current()`` where the workers start (a task copies the current context
    when it starts) or, in a coroutine that runs the fan-out to its end, around all of it.
    ``current()`` is never held across a ``yield``: the consumer's code would run inside it.
    """

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def current(self) -> AbstractContextManager[object]:
        """Make this span the current one inside the block."""
        ...


class _NoSpan:
    """A fan-out span that records nothing: what executors get when tracing is off."""

    __slots__ = ()

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def current(self) -> AbstractContextManager[object]:
        return _UNCHANGED


_UNCHANGED: AbstractContextManager[object] = nullcontext()
NO_SPAN: FanOutSpan = _NoSpan()


def table_names(payload: Mapping[str, Any], table: str | None = None) -> tuple[str, ...]:
    """The tables a request names: ``TableName``, the keys of ``RequestItems``, the tables of
    ``TransactItems`` (in order, once each); else ``table`` when given."""
    name = payload.get("TableName")
    if isinstance(name, str):
        return (name,)
    batch = payload.get("RequestItems")
    if isinstance(batch, Mapping):
        return tuple(batch)
    actions = payload.get("TransactItems")
    if isinstance(actions, list):
        found = (
            body.get("TableName")
            for action in actions
            if isinstance(action, Mapping)
            for body in action.values()
            if isinstance(body, Mapping)
        )
        return tuple(dict.fromkeys(name for name in found if isinstance(name, str)))
    return () if table is None else (table,)


def call_attributes(operation: str, payload: Mapping[str, Any], table: str | None) -> Attributes:
    """The attributes a call's span starts with (samplers see these): the system, the operation,
    the tables and the request fields the conventions record."""
    attributes: Attributes = {**_SYSTEM, "rpc.method": operation}
    tables = table_names(payload, table)
    if tables:
        attributes["aws.dynamodb.table_names"] = tables
    # A payload has a handful of fields: looking each up costs less than trying every name.
    for field, value in payload.items():
        name = _REQUEST_FIELDS.get(field)
        if name is not None and isinstance(value, str | bool | int):
            attributes[name] = value
    throughput = payload.get("ProvisionedThroughput")
    if isinstance(throughput, Mapping):
        for field, name in _THROUGHPUT_FIELDS.items():
            units = throughput.get(field)
            if isinstance(units, int | float):
                attributes[name] = float(units)
    return attributes


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _metadata_attributes(response: object) -> Attributes:
    """The request id and retry count of a botocore-shaped response (or failure's response)."""
    attributes: Attributes = {RETRY_ATTEMPTS: retry_attempts(response)}
    meta = response.get("ResponseMetadata") if isinstance(response, Mapping) else None
    request_id = meta.get("RequestId") if isinstance(meta, Mapping) else None
    if isinstance(request_id, str):
        attributes["aws.request_id"] = request_id
    return attributes


def response_attributes(response: Payload) -> Attributes:
    """What a successful call's span adds: consumed capacity and item collection metrics (when
    DynamoDB returned them), counts of a query or scan, request id and retries."""
    attributes = _metadata_attributes(response)
    consumed = response.get("ConsumedCapacity")
    if consumed:
        entries = consumed if isinstance(consumed, list) else [consumed]
        attributes["aws.dynamodb.consumed_capacity"] = tuple(_json(entry) for entry in entries)
    metrics = response.get("ItemCollectionMetrics")
    if metrics:
        attributes["aws.dynamodb.item_collection_metrics"] = _json(metrics)
    for field, name in _COUNT_FIELDS.items():
        count = response.get(field)
        if isinstance(count, int):
            attributes[name] = count
    listed = response.get("TableNames")
    if isinstance(listed, list):
        attributes["aws.dynamodb.table_count"] = len(listed)
    return attributes


def error_type(error: BaseException) -> str:
    """``error.type``: DynamoDB's error code when the error carries one, else the class name
    (the library's errors as they are imported, ``dynamorm_async.ThrottledError``)."""
    if isinstance(error, DynamormError):
        return error.code or f"dynamorm_async.{type(error).__qualname__}"
    cls = type(error)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def failure_attributes(error: BaseException) -> Attributes:
    """What a failed call's span adds: ``error.type``, and the request id and retries of the
    answer it was raised from."""
    return {**_metadata_attributes(failure_response(error)), "error.type": error_type(error)}


def fan_out_name(operation: str, models: Sequence[str]) -> str:
    """An executor span's name: the operation and the models it works on (``Scan Order``)."""
    return " ".join([operation, ", ".join(models)]) if models else operation


def fan_out_attributes(tables: Sequence[str], segments: int) -> Attributes:
    """An executor span's attributes: its tables, and the segments of a parallel scan."""
    attributes: Attributes = {}
    if tables:
        attributes["aws.dynamodb.table_names"] = tuple(tables)
    if segments > 1:
        attributes["aws.dynamodb.total_segments"] = segments
    return attributes
