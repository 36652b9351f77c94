"""The Lambda stream handler example, fed a DynamoDB Streams event as Lambda delivers it."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from examples.fastapi_orders.orders import Order
from examples.stream_handler import decode_record, handler

pytestmark = pytest.mark.timeout(30)

RECEIPT = b"\x00\x9fsig\xff"
ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/{table}/stream/2025-01-02T03:04:05.678"

# Three records of one batch, in Lambda's JSON: binary values are base64 text, numbers strings.
# ($ORDERS_STREAM_ARN stands for the orders table's stream ARN, too long for one source line.)
EVENT_JSON = """
{
  "Records": [
    {
      "eventID": "1f6c0b0d0c1e4b9b8b7d0a8e2d1f0a11",
      "eventName": "INSERT",
      "eventVersion": "1.1",
      "eventSource": "aws:dynamodb",
      "awsRegion": "eu-west-1",
      "dynamodb": {
        "ApproximateCreationDateTime": 1735787045,
        "Keys": {"customer": {"S": "ada"}, "order_id": {"S": "A-1"}},
        "NewImage": {
          "customer": {"S": "ada"},
          "order_id": {"S": "A-1"},
          "status": {"S": "new"},
          "total": {"N": "12.50"},
          "qty": {"N": "2"},
          "tags": {"SS": ["gift", "rush"]},
          "receipt": {"B": "AJ9zaWf/"},
          "version": {"N": "1"},
          "created_at": {"S": "2025-01-02T03:04:05.000000Z"},
          "updated_at": {"S": "2025-01-02T03:04:05.000000Z"}
        },
        "SequenceNumber": "100000000000000000001",
        "SizeBytes": 190,
        "StreamViewType": "NEW_AND_OLD_IMAGES"
      },
      "eventSourceARN": "$ORDERS_STREAM_ARN"
    },
    {
      "eventID": "2a7d1c1e1d2f5cac9c8e1b9f3e2a1b22",
      "eventName": "MODIFY",
      "eventVersion": "1.1",
      "eventSource": "aws:dynamodb",
      "awsRegion": "eu-west-1",
      "dynamodb": {
        "ApproximateCreationDateTime": 1735787100,
        "Keys": {"customer": {"S": "ada"}, "order_id": {"S": "A-1"}},
        "OldImage": {
          "customer": {"S": "ada"},
          "order_id": {"S": "A-1"},
          "status": {"S": "new"},
          "total": {"N": "12.50"},
          "qty": {"N": "2"},
          "tags": {"SS": ["gift", "rush"]},
          "receipt": {"B": "AJ9zaWf/"},
          "version": {"N": "1"},
          "created_at": {"S": "2025-01-02T03:04:05.000000Z"},
          "updated_at": {"S": "2025-01-02T03:04:05.000000Z"}
        },
        "NewImage": {
          "customer": {"S": "ada"},
          "order_id": {"S": "A-1"},
          "status": {"S": "paid"},
          "total": {"N": "12.50"},
          "qty": {"N": "2"},
          "tags": {"SS": ["gift", "rush"]},
          "receipt": {"B": "AJ9zaWf/"},
          "version": {"N": "2"},
          "created_at": {"S": "2025-01-02T03:04:05.000000Z"},
          "updated_at": {"S": "2025-01-02T03:05:00.000000Z"}
        },
        "SequenceNumber": "100000000000000000002",
        "SizeBytes": 370,
        "StreamViewType": "NEW_AND_OLD_IMAGES"
      },
      "eventSourceARN": "$ORDERS_STREAM_ARN"
    },
    {
      "eventID": "3b8e2d2f2e3a6dbdad9f2cae4f3b2c33",
      "eventName": "REMOVE",
      "eventVersion": "1.1",
      "eventSource": "aws:dynamodb",
      "awsRegion": "eu-west-1",
      "dynamodb": {
        "ApproximateCreationDateTime": 1735787200,
        "Keys": {"customer": {"S": "bob"}, "order_id": {"S": "B-7"}},
        "OldImage": {
          "customer": {"S": "bob"},
          "order_id": {"S": "B-7"},
          "status": {"S": "cancelled"},
          "total": {"N": "3"},
          "version": {"N": "4"}
        },
        "SequenceNumber": "100000000000000000003",
        "SizeBytes": 80,
        "StreamViewType": "NEW_AND_OLD_IMAGES"
      },
      "eventSourceARN": "$ORDERS_STREAM_ARN"
    }
  ]
}
"""


def event() -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(
        EVENT_JSON.replace("$ORDERS_STREAM_ARN", ARN.format(table="orders"))
    )
    return decoded


def record(event_name: str, table: str = "orders", **images: Any) -> dict[str, Any]:
    return {
        "eventName": event_name,
        "eventSourceARN": ARN.format(table=table),
        "dynamodb": {"SequenceNumber": f"seq-{event_name}-{table}", **images},
    }


def test_images_decode_into_models_with_binary_sets_numbers_and_datetimes() -> None:
    change = decode_record(event()["Records"][0])
    assert change is not None
    assert (change.event, change.table, change.old) == ("INSERT", "orders", None)
    assert change.sequence_number == "100000000000000000001"
    assert change.new == Order(
        customer="ada",
        order_id="A-1",
        status="new",
        total=Decimal("12.50"),
        qty=2,
        tags={"gift", "rush"},
        receipt=RECEIPT,
        version=1,
        created_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        updated_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def test_lambda_json_is_the_wire_format_to_dynamodb_writes() -> None:
    image = event()["Records"][0]["dynamodb"]["NewImage"]
    order = Order.from_dynamodb(image)
    assert order.to_dynamodb() == image
    assert image["receipt"]["B"] == base64.b64encode(RECEIPT).decode()


def test_handler_summarizes_a_batch() -> None:
    summary = handler(event(), context=None)
    assert summary == {
        "inserted": 1,
        "modified": 1,
        "removed": 1,
        "status_changes": [
            {"customer": "ada", "order_id": "A-1", "from": None, "to": "new", "total": "12.50"},
            {"customer": "ada", "order_id": "A-1", "from": "new", "to": "paid", "total": "12.50"},
        ],
        "batchItemFailures": [],
    }


def test_remove_records_carry_only_the_old_image() -> None:
    change = decode_record(event()["Records"][2])
    assert change is not None
    assert change.new is None
    assert isinstance(change.old, Order)
    assert (change.old.status, change.old.total, change.old.tags) == ("cancelled", 3, set())


def test_prefixed_tables_map_to_their_model_and_unknown_tables_are_skipped() -> None:
    image = event()["Records"][0]["dynamodb"]["NewImage"]
    prefixed = decode_record(record("INSERT", "prod_orders", NewImage=image))
    assert prefixed is not None and isinstance(prefixed.new, Order)
    assert decode_record(record("INSERT", "invoices", NewImage=image)) is None
    summary = handler({"Records": [record("INSERT", "invoices", NewImage=image)]}, None)
    assert summary["inserted"] == 0 and summary["batchItemFailures"] == []


def test_keys_only_streams_decode_to_no_images() -> None:
    keys_only = record("MODIFY", Keys={"customer": {"S": "ada"}, "order_id": {"S": "A-1"}})
    change = decode_record(keys_only)
    assert change is not None and change.old is None and change.new is None


def test_an_undecodable_record_stops_the_batch_and_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records = event()["Records"]
    records[1]["dynamodb"]["NewImage"]["total"] = {"S": "twelve"}
    with caplog.at_level(logging.WARNING, logger="examples.stream_handler"):
        summary = handler({"Records": records}, None)
    # Lambda retries from the reported record, so the REMOVE after it is not processed yet.
    assert summary["batchItemFailures"] == [{"itemIdentifier": "100000000000000000002"}]
    assert (summary["inserted"], summary["modified"], summary["removed"]) == (1, 0, 0)
    assert "100000000000000000002" in caplog.text


def test_an_empty_event_is_an_empty_summary() -> None:
    assert handler({"Records": []}, None) == {
        "inserted": 0,
        "modified": 0,
        "removed": 0,
        "status_changes": [],
        "batchItemFailures": [],
    }
