"""The DynamoDB semantic conventions as plain data (``_spans``): no OpenTelemetry, no server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from dynamorm_async import ConditionFailed, DynamoDBError, ThrottledError
from dynamorm_async._errors import map_client_error
from dynamorm_async._spans import (
    NO_SPAN,
    call_attributes,
    error_type,
    failure_attributes,
    fan_out_attributes,
    fan_out_name,
    response_attributes,
    table_names,
)

pytestmark = pytest.mark.timeout(30)

SYSTEM = {"db.system": "dynamodb", "rpc.system": "aws-api", "rpc.service": "DynamoDB"}


def item(key: str) -> dict[str, Any]:
    return {"pk": {"S": key}}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"TableName": "orders", "Key": item("a")}, ("orders",)),
        ({"RequestItems": {"orders": [], "lines": []}}, ("orders", "lines")),
        (
            {
                "TransactItems": [
                    {"Put": {"TableName": "orders", "Item": item("a")}},
                    {"ConditionCheck": {"TableName": "stock", "Key": item("b")}},
                    {"Update": {"TableName": "orders", "Key": item("c")}},
                ]
            },
            ("orders", "stock"),
        ),
        ({"TransactItems": [{"Get": {"TableName": "orders", "Key": item("a")}}]}, ("orders",)),
        ({"Limit": 10}, ()),
    ],
)
def test_table_names_come_from_the_request(
    payload: dict[str, Any], expected: tuple[str, ...]
) -> None:
    assert table_names(payload) == expected


def test_a_request_without_tables_names_the_one_the_caller_gave() -> None:
    assert table_names({}, "orders") == ("orders",)
    assert table_names({"TableName": "lines"}, "orders") == ("lines",)


def test_a_query_span_starts_with_the_system_the_method_and_the_request_fields() -> None:
    payload = {
        "TableName": "p_orders",
        "IndexName": "by_status",
        "KeyConditionExpression": "#n0 = :v0",
        "ExpressionAttributeValues": {":v0": {"S": "secret customer"}},
        "ProjectionExpression": "#n0, #n1",
        "ConsistentRead": False,
        "ScanIndexForward": False,
        "Limit": 25,
        "Select": "SPECIFIC_ATTRIBUTES",
    }
    assert call_attributes("Query", payload, "p_orders") == {
        **SYSTEM,
        "rpc.method": "Query",
        "aws.dynamodb.table_names": ("p_orders",),
        "aws.dynamodb.index_name": "by_status",
        "aws.dynamodb.projection": "#n0, #n1",
        "aws.dynamodb.consistent_read": False,
        "aws.dynamodb.scan_forward": False,
        "aws.dynamodb.limit": 25,
        "aws.dynamodb.select": "SPECIFIC_ATTRIBUTES",
    }


def test_scan_segments_and_table_operations_have_their_fields() -> None:
    scan = call_attributes("Scan", {"TableName": "t", "Segment": 2, "TotalSegments": 8}, "t")
    assert scan["aws.dynamodb.segment"] == 2 and scan["aws.dynamodb.total_segments"] == 8
    create = call_attributes(
        "CreateTable",
        {
            "TableName": "t",
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 2},
        },
        "t",
    )
    assert create["aws.dynamodb.provisioned_read_capacity"] == 5.0
    assert create["aws.dynamodb.provisioned_write_capacity"] == 2.0
    listing = call_attributes("ListTables", {"ExclusiveStartTableName": "a", "Limit": 3}, None)
    assert listing == {
        **SYSTEM,
        "rpc.method": "ListTables",
        "aws.dynamodb.exclusive_start_table": "a",
        "aws.dynamodb.limit": 3,
    }


def test_no_item_value_reaches_a_span() -> None:
    payload = {
        "TableName": "t",
        "Item": {"pk": {"S": "ada@example.com"}},
        "ConditionExpression": "#n0 = :v0",
        "ExpressionAttributeValues": {":v0": {"S": "ada@example.com"}},
    }
    assert "ada@example.com" not in repr(call_attributes("PutItem", payload, "t"))
    answer = {"Attributes": {"pk": {"S": "ada@example.com"}}, "Items": [item("ada@example.com")]}
    assert "ada@example.com" not in repr(response_attributes(answer))


def test_a_response_gives_capacity_counts_request_id_and_retries() -> None:
    one = {"TableName": "t", "CapacityUnits": 0.5}
    response = {
        "Items": [],
        "Count": 3,
        "ScannedCount": 10,
        "ConsumedCapacity": one,
        "ResponseMetadata": {"RequestId": "R1", "RetryAttempts": 2, "HTTPStatusCode": 200},
    }
    attributes = response_attributes(response)
    assert attributes == {
        "retry_attempts": 2,
        "aws.request_id": "R1",
        "aws.dynamodb.consumed_capacity": (json.dumps(one, separators=(",", ":")),),
        "aws.dynamodb.count": 3,
        "aws.dynamodb.scanned_count": 10,
    }
    several = [{"TableName": "a", "CapacityUnits": 1.0}, {"TableName": "b", "CapacityUnits": 2.0}]
    batch = response_attributes({"ConsumedCapacity": several, "ItemCollectionMetrics": {"a": []}})
    entries = batch["aws.dynamodb.consumed_capacity"]
    assert isinstance(entries, tuple) and [json.loads(e) for e in entries] == several
    assert batch["aws.dynamodb.item_collection_metrics"] == '{"a":[]}'
    # A transport that reports nothing retried nothing (the Transport contract).
    assert response_attributes({}) == {"retry_attempts": 0}
    assert response_attributes({"TableNames": ["a", "b"]})["aws.dynamodb.table_count"] == 2


def client_error(code: str, retries: int) -> ClientError:
    answer: Any = {
        "Error": {"Code": code, "Message": "no"},
        "ResponseMetadata": {"RequestId": "R9", "RetryAttempts": retries},
    }
    return ClientError(answer, "PutItem")


def test_a_failure_gives_the_aws_code_and_what_its_answer_reported() -> None:
    cause = client_error("ConditionalCheckFailedException", 0)
    error = map_client_error(cause, operation="PutItem", table="t")
    error.__cause__ = cause
    assert isinstance(error, ConditionFailed)
    assert failure_attributes(error) == {
        "error.type": "ConditionalCheckFailedException",
        "retry_attempts": 0,
        "aws.request_id": "R9",
    }
    throttled = ThrottledError("slow down", code="ProvisionedThroughputExceededException")
    throttled.__cause__ = client_error("ProvisionedThroughputExceededException", 4)
    assert failure_attributes(throttled)["retry_attempts"] == 4


def test_an_error_without_a_code_is_named_by_its_class() -> None:
    assert error_type(DynamoDBError("connection reset")) == "dynamorm_async.DynamoDBError"
    assert error_type(ValueError("x")) == "ValueError"
    assert error_type(ClientError({}, "GetItem")) == "botocore.exceptions.ClientError"
    assert failure_attributes(KeyError("k")) == {"error.type": "KeyError", "retry_attempts": 0}


def test_an_executor_span_is_named_by_operation_and_models() -> None:
    assert fan_out_name("Scan", ["Order"]) == "Scan Order"
    assert fan_out_name("batch_write", ["Order", "Line"]) == "batch_write Order, Line"
    assert fan_out_name("batch_write", []) == "batch_write"
    assert fan_out_attributes(["p_orders"], 4) == {
        "aws.dynamodb.table_names": ("p_orders",),
        "aws.dynamodb.total_segments": 4,
    }
    assert fan_out_attributes([], 1) == {}


def test_the_no_op_span_changes_nothing() -> None:
    with NO_SPAN as span, span.current() as current:
        assert span is NO_SPAN and current is None
    with pytest.raises(KeyError), NO_SPAN:
        raise KeyError("passes through")
