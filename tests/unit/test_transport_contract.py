"""The transport seam without a server: ClientOptions, Session(transport=...) and the hook.

A fake in-memory Transport answers canned responses, which shows that the Session and its
executors reach DynamoDB only through the protocol's ``open``/``call``/``aclose``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Annotated, Any

import anyio
import msgspec
import pytest

from dynamorm_async import (
    AiobotocoreTransport,
    ClientOptions,
    ConditionFailed,
    DynamormError,
    HashKey,
    ItemNotFound,
    Model,
    RangeKey,
    RequestEvent,
    Session,
    Transport,
    ValidationError,
)
from dynamorm_async._model.model import model_info
from dynamorm_async._transport.observed import ObservedTransport
from dynamorm_async._transport.protocol import defers_items, takes_raw_json
from dynamorm_async.testing import RecordingTransport

pytestmark = pytest.mark.timeout(30)


class Note(Model, table="notes"):
    owner: Annotated[str, HashKey()]
    n: Annotated[int, RangeKey()]
    text: str = ""


Answer = dict[str, Any] | DynamormError


class FakeTransport:
    """Answers each operation with a canned response (or raises a canned error)."""

    def __init__(self, answers: Mapping[str, Answer] | None = None, delay: float = 0.0) -> None:
        self.answers = dict(answers or {})
        self.delay = delay
        self.sent: list[tuple[str, dict[str, Any], str | None]] = []
        self.opened = self.closed = 0

    async def open(self) -> None:
        self.opened += 1

    async def aclose(self) -> None:
        self.closed += 1

    async def call(
        self,
        operation: str,
        payload: dict[str, Any],
        *,
        table: str | None = None,
        key: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        self.sent.append((operation, payload, table))
        await anyio.sleep(self.delay)
        answer = self.answers.get(operation, {})
        if isinstance(answer, DynamormError):
            raise answer
        return answer


WIRE_NOTE = {"owner": {"S": "ada"}, "n": {"N": "1"}, "text": {"S": "hello"}}


# --- ClientOptions --------------------------------------------------------------------------


def test_client_options_defaults_are_botocores_standard_retries() -> None:
    options = ClientOptions()
    assert (options.retry_mode, options.max_attempts, options.max_pool_connections) == (
        "standard",
        5,
        16,
    )
    assert (options.connect_timeout, options.read_timeout) == (10.0, 60.0)
    assert options.endpoint_url is options.region_name is options.profile_name is None


def test_client_options_are_frozen_and_hide_secrets_in_repr() -> None:
    options = ClientOptions(
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="very-secret",
        aws_session_token="token-secret",
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.max_attempts = 1  # type: ignore[misc]
    assert "AKIDEXAMPLE" in repr(options)
    assert "secret" not in repr(options)
    assert dataclasses.replace(options, max_attempts=0).max_attempts == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"retry_mode": "fast"}, "retry_mode must be one of"),
        ({"max_attempts": -1}, "max_attempts must be an int >= 0"),
        ({"max_attempts": True}, "max_attempts must be an int"),
        ({"max_pool_connections": 0}, "max_pool_connections must be an int >= 1"),
        ({"connect_timeout": 0}, "connect_timeout must be a finite number of seconds > 0"),
        ({"connect_timeout": float("inf")}, "connect_timeout must be a finite"),
        ({"read_timeout": "60"}, "read_timeout must be a finite"),
        ({"read_timeout": False}, "read_timeout must be a finite"),
        ({"endpoint_url": "localhost:8000"}, "endpoint_url must be an http:// or https://"),
        ({"endpoint_url": "http://"}, "with a host"),
        ({"aws_access_key_id": "AKID"}, "together, or neither"),
        ({"aws_secret_access_key": "s"}, "together, or neither"),
        ({"aws_session_token": "t"}, "aws_session_token needs aws_access_key_id"),
    ],
)
def test_client_options_refuse_what_botocore_would_fail_on_later(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        ClientOptions(**fields)


def test_valid_client_options_pass() -> None:
    options = ClientOptions(
        endpoint_url="https://dynamodb.eu-west-1.amazonaws.com",
        region_name="eu-west-1",
        aws_access_key_id="AKID",
        aws_secret_access_key="s",
        aws_session_token="t",
        retry_mode="adaptive",
        max_attempts=0,
        connect_timeout=1,
        read_timeout=0.5,
    )
    assert options.connect_timeout == 1 and options.read_timeout == 0.5


def test_session_client_keywords_are_checked_as_client_options() -> None:
    with pytest.raises(ValidationError, match="retry_mode must be one of"):
        Session(retry_mode="eventually")
    with pytest.raises(ValidationError, match="read_timeout"):
        Session(read_timeout=-1)


# --- Session(transport=...) -----------------------------------------------------------------


def test_the_fake_satisfies_the_protocol() -> None:
    assert isinstance(FakeTransport(), Transport)
    assert isinstance(AiobotocoreTransport(), Transport)
    assert isinstance(RecordingTransport(FakeTransport()), Transport)


async def test_a_session_opens_sends_through_and_closes_its_transport() -> None:
    fake = FakeTransport({"GetItem": {"Item": WIRE_NOTE}})
    async with Session(transport=fake, table_prefix="t_") as db:
        assert fake.opened == 1 and fake.closed == 0
        note = await db.get(Note, owner="ada", n=1)
    assert note == Note(owner="ada", n=1, text="hello")
    assert fake.closed == 1
    ((operation, payload, table),) = fake.sent
    assert (operation, table) == ("GetItem", "t_notes")
    assert payload == {
        "TableName": "t_notes",
        "Key": {"owner": {"S": "ada"}, "n": {"N": "1"}},
        "ConsistentRead": False,
    }


async def test_a_transport_without_defers_items_never_receives_raw_items() -> None:
    wire = [{"owner": {"S": "ada"}, "n": {"N": str(n)}} for n in range(3)]
    fake = FakeTransport({"Query": {"Items": wire, "Count": 3}, "Scan": {"Items": wire}})
    async with Session(transport=fake, table_prefix="t_") as db:
        found = await db.query(Note).where(Note.owner == "ada").all()
        assert [note.n for note in found] == [0, 1, 2]
        await db.call("Scan", {"TableName": "t_notes"}, raw_items=True)
        await db.call("Scan", {"TableName": "t_notes"}, raw_items=False)
    # FakeTransport.call takes table and key only: a raw_items keyword would have raised.
    assert [operation for operation, _, _ in fake.sent] == ["Query", "Scan", "Scan"]


class RawJsonTransport(FakeTransport):
    """A FakeTransport that takes payloads holding encoded JSON texts (``takes_raw_json``)."""

    takes_raw_json = True

    def __init__(self) -> None:
        super().__init__()
        self.raw_json: list[bool] = []

    async def call(
        self, operation: str, payload: dict[str, Any], *, raw_json: bool = False, **where: Any
    ) -> dict[str, Any]:
        self.raw_json.append(raw_json)
        return await super().call(operation, payload, **where)


async def test_a_batch_sends_its_entries_as_json_texts_where_the_transport_takes_them() -> None:
    notes = [Note(owner="ada", n=n, text=f"t{n}") for n in range(3)]
    entries = [{"PutRequest": {"Item": model_info(Note).encode(note)}} for note in notes]
    taking, plain = RawJsonTransport(), FakeTransport()
    recording = RecordingTransport(RawJsonTransport())
    for transport in (taking, plain, recording):
        async with Session(transport=transport, table_prefix="t_") as db:
            await db.batch_put(notes)
    ((_, sent, _),) = taking.sent
    assert taking.raw_json == [True]
    assert isinstance(sent["RequestItems"]["t_notes"], msgspec.Raw)
    assert msgspec.json.decode(sent["RequestItems"]["t_notes"]) == entries
    # FakeTransport.call takes table and key only: a raw_json keyword would have raised.
    ((_, sent, _),) = plain.sent
    assert sent["RequestItems"] == {"t_notes": entries}
    # A recording records plain values, and sends them on as such.
    assert recording.payloads("BatchWriteItem") == [{"RequestItems": {"t_notes": entries}}]
    assert recording.takes_raw_json is False


async def test_delegating_transports_pass_on_what_the_inner_one_takes() -> None:
    observed = ObservedTransport(RawJsonTransport(), lambda event: None)
    assert takes_raw_json(observed) and not defers_items(observed)
    assert not takes_raw_json(ObservedTransport(FakeTransport(), lambda event: None))


async def test_executors_reach_dynamodb_only_through_the_transport() -> None:
    fake = FakeTransport(
        {
            "Query": {"Items": [WIRE_NOTE], "Count": 1},
            "PutItem": ConditionFailed("condition not met", code="ConditionalCheckFailedException"),
        }
    )
    async with Session(transport=fake) as db:
        found = await db.query(Note).where(Note.owner == "ada").all()
        assert found == [Note(owner="ada", n=1, text="hello")]
        assert await db.get_or_none(Note, owner="ada", n=2) is None
        with pytest.raises(ItemNotFound):
            await db.get(Note, owner="ada", n=2)
        with pytest.raises(ConditionFailed):
            await db.put(Note(owner="ada", n=3), condition=Note.text == "x")
    assert [operation for operation, _, _ in fake.sent] == [
        "Query",
        "GetItem",
        "GetItem",
        "PutItem",
    ]


async def test_client_keywords_and_a_transport_do_not_mix() -> None:
    with pytest.raises(
        ValidationError, match=r"takes no client options \(endpoint_url, retry_mode\)"
    ):
        Session(transport=FakeTransport(), endpoint_url="http://x", retry_mode="standard")
    with pytest.raises(ValidationError, match="must have async open"):
        Session(transport=object())  # type: ignore[arg-type]


async def test_calls_in_flight_are_bounded_by_max_concurrency() -> None:
    recording = RecordingTransport(FakeTransport(delay=0.01))

    async def read(db: Session, n: int) -> None:
        await db.get_or_none(Note, owner="ada", n=n)

    async with (
        Session(transport=recording, max_concurrency=3) as db,
        anyio.create_task_group() as tg,
    ):
        for n in range(12):
            tg.start_soon(read, db, n)
    assert recording.max_in_flight == 3 and recording.in_flight == 0
    assert len(recording.payloads("GetItem")) == 12


# --- the on_request hook on any transport ---------------------------------------------------


async def test_the_hook_reports_every_call_of_an_injected_transport() -> None:
    fake = FakeTransport(
        {
            "GetItem": {
                "Item": WIRE_NOTE,
                "ConsumedCapacity": {"TableName": "notes", "CapacityUnits": 0.5},
                "ResponseMetadata": {"RetryAttempts": 2},
            },
            "DescribeTable": {"Table": {"TableName": "notes"}},
        }
    )
    events: list[RequestEvent] = []
    async with Session(transport=fake, on_request=events.append) as db:
        await db.get(Note, owner="ada", n=1)
        await db.describe_table(Note)
    get, describe = events
    assert (get.operation, get.table, get.retries, get.error) == ("GetItem", "notes", 2, None)
    assert get.consumed_capacity == {"TableName": "notes", "CapacityUnits": 0.5}
    assert get.duration >= 0
    assert (describe.operation, describe.retries, describe.consumed_capacity) == (
        "DescribeTable",
        0,
        None,
    )
    # Item operations ask for capacity while a hook is set; table operations cannot.
    assert fake.sent[0][1]["ReturnConsumedCapacity"] == "TOTAL"
    assert "ReturnConsumedCapacity" not in fake.sent[1][1]


async def test_the_hook_reports_failures_with_the_retries_of_their_cause() -> None:
    class Throttled(Exception):
        """Shaped like botocore's ClientError: the parsed response rides on the exception."""

        def __init__(self) -> None:
            super().__init__("throttled")
            self.response = {"ResponseMetadata": {"RetryAttempts": 3}}

    error = DynamormError("throttled", code="ThrottlingException")
    error.__cause__ = Throttled()
    events: list[RequestEvent] = []
    async with Session(transport=FakeTransport({"GetItem": error}), on_request=events.append) as db:
        with pytest.raises(DynamormError) as caught:
            await db.get_or_none(Note, owner="ada", n=1)
    (event,) = events
    assert event.error is caught.value is error
    assert (event.retries, event.consumed_capacity) == (3, None)


async def test_a_session_without_a_hook_sends_payloads_unchanged() -> None:
    fake = FakeTransport()
    async with Session(transport=fake) as db:
        await db.get_or_none(Note, owner="ada", n=1)
        await db.call("GetItem", {"TableName": "notes", "ReturnConsumedCapacity": "NONE"})
    assert "ReturnConsumedCapacity" not in fake.sent[0][1]
    assert fake.sent[1][1]["ReturnConsumedCapacity"] == "NONE"


# --- the aiobotocore transport without a server ---------------------------------------------


async def test_the_aiobotocore_client_exists_only_while_open() -> None:
    transport = AiobotocoreTransport(
        ClientOptions(
            endpoint_url="http://127.0.0.1:9",
            region_name="us-east-1",
            aws_access_key_id="a",
            aws_secret_access_key="b",
        )
    )
    with pytest.raises(DynamormError, match="not open"):
        transport.client  # noqa: B018
    with pytest.raises(DynamormError, match="not open"):
        await transport.call("ListTables", {})
    async with transport:
        assert transport.client is transport.client
        await transport.open()  # idempotent
    with pytest.raises(DynamormError, match="not open"):
        transport.client  # noqa: B018
    await transport.aclose()  # idempotent
