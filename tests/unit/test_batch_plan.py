"""Pure batch wire bookkeeping: fingerprints, chunking by count and size, dedup, answers."""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import pytest

from dynamorm_async import DynamormError, ValidationError
from dynamorm_async._batch.plan import (
    MAX_GET_KEYS,
    MAX_REQUEST_BYTES,
    MAX_WRITE_REQUESTS,
    Chunker,
    GetKey,
    WriteRequest,
    chunked,
    dedupe,
    delete_entry,
    entry_body,
    get_payload,
    put_body,
    put_entry,
    split_get_answer,
    split_write_answer,
    write_payload,
)
from dynamorm_async._transport.protocol import plain_payload
from dynamorm_async._wire.values import key_fingerprint

pytestmark = pytest.mark.timeout(30)

KEYS = ("pk", "sk")


def put(table: str, pk: str, sk: int, index: int = 0, **extra: Any) -> WriteRequest:
    item = {"pk": {"S": pk}, "sk": {"N": str(sk)}, **extra}
    return WriteRequest(
        table=table,
        body=entry_body(put_entry(item)),
        fingerprint=key_fingerprint(table, KEYS, item),
        index=index,
        source=(pk, sk),
    )


def get(pk: str, sk: int, index: int = 0) -> GetKey:
    key = {"pk": {"S": pk}, "sk": {"N": str(sk)}}
    return GetKey(key, key_fingerprint("t", KEYS, key), index, {"pk": pk, "sk": sk})


# --- fingerprints ---------------------------------------------------------------------------


def test_fingerprint_ignores_non_key_attributes_and_attribute_order() -> None:
    a = key_fingerprint("t", KEYS, {"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"S": "y"}})
    b = key_fingerprint("t", KEYS, {"sk": {"N": "1"}, "pk": {"S": "a"}})
    assert a == b


def test_fingerprint_survives_dynamodbs_rendering_of_numbers() -> None:
    sent = key_fingerprint("t", KEYS, {"pk": {"S": "a"}, "sk": {"N": "1.50"}})
    answered = key_fingerprint("t", KEYS, {"pk": {"S": "a"}, "sk": {"N": "1.5"}})
    assert sent == answered
    assert key_fingerprint("t", ("n",), {"n": {"N": "100"}}) == key_fingerprint(
        "t", ("n",), {"n": {"N": "1E+2"}}
    )
    assert key_fingerprint("t", ("n",), {"n": {"N": "100"}}) != key_fingerprint(
        "t", ("n",), {"n": {"N": "10"}}
    )


def test_fingerprint_normalises_binary_keys() -> None:
    raw = b"\x00\xffkey"
    assert key_fingerprint("t", ("b",), {"b": {"B": base64.b64encode(raw).decode()}}) == (
        key_fingerprint("t", ("b",), {"b": {"B": base64.b64encode(raw).decode()}})
    )


def test_fingerprint_tells_tables_types_and_values_apart() -> None:
    base = key_fingerprint("t", ("k",), {"k": {"S": "1"}})
    assert base != key_fingerprint("u", ("k",), {"k": {"S": "1"}})
    assert base != key_fingerprint("t", ("k",), {"k": {"N": "1"}})
    assert base != key_fingerprint("t", ("k",), {"k": {"S": "2"}})


def test_fingerprint_of_an_item_without_its_key_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="'sk' is missing"):
        key_fingerprint("t", KEYS, {"pk": {"S": "a"}})


# --- chunking -------------------------------------------------------------------------------


def test_chunks_by_count_keep_input_order() -> None:
    chunks = list(chunked(range(60), max_count=25))
    assert [len(c) for c in chunks] == [25, 25, 10]
    assert [x for c in chunks for x in c] == list(range(60))


def test_chunk_is_closed_as_soon_as_it_is_full() -> None:
    chunker = Chunker[int](max_count=3)
    assert chunker.add(1) == []
    assert chunker.add(2) == []
    assert chunker.add(3) == [[1, 2, 3]]
    assert chunker.flush() is None


def test_chunks_by_size_never_exceed_the_byte_limit() -> None:
    sizes = [40, 30, 50, 10, 100, 1, 99]
    chunks = list(chunked(sizes, max_count=25, max_bytes=100, size=lambda n: n))
    assert chunks == [[40, 30], [50, 10], [100], [1, 99]]
    assert all(sum(c) <= 100 for c in chunks)


def test_size_and_count_limits_combine() -> None:
    chunks = list(chunked([1] * 7, max_count=3, max_bytes=2, size=lambda n: n))
    assert [len(c) for c in chunks] == [2, 2, 2, 1]
    chunks = list(chunked([1] * 7, max_count=1, max_bytes=5, size=lambda n: n))
    assert [len(c) for c in chunks] == [1] * 7


def test_an_item_over_the_byte_limit_is_rejected() -> None:
    with pytest.raises(ValidationError, match="over the 10-byte batch limit"):
        list(chunked([5, 11], max_count=25, max_bytes=10, size=lambda n: n))


def test_chunker_rejects_bad_limits() -> None:
    with pytest.raises(ValidationError):
        Chunker[int](max_count=0)
    with pytest.raises(ValidationError, match="size function"):
        Chunker[int](max_count=1, max_bytes=10)


def test_unique_chunker_drops_a_key_repeated_in_the_open_chunk_only() -> None:
    chunker = Chunker[str](max_count=3, unique=str.lower)
    out: list[list[str]] = []
    for item in ["a", "A", "b", "c", "a", "a"]:
        out.extend(chunker.add(item))
    rest = chunker.flush()
    assert out == [["a", "b", "c"]]
    assert rest == ["a"]


def test_write_requests_chunk_by_the_real_limits() -> None:
    requests = [put("t", "p", i, index=i) for i in range(60)]
    chunks = list(
        chunked(requests, max_count=MAX_WRITE_REQUESTS, max_bytes=MAX_REQUEST_BYTES,
                size=lambda r: r.size)
    )
    assert [len(c) for c in chunks] == [25, 25, 10]
    big = "x" * 390_000
    heavy = [put("t", "p", i, index=i, body={"S": big}) for i in range(60)]
    chunks = list(
        chunked(heavy, max_count=MAX_WRITE_REQUESTS, max_bytes=MAX_REQUEST_BYTES,
                size=lambda r: r.size)
    )
    # 25 items of 390 KB fit in 16 MB (DynamoDB's item limit makes that so); the JSON text of
    # values like number sets or base64 binaries is larger than DynamoDB counts them, which is
    # what the byte limit is for (simulated here with 700 KB of text per request).
    assert [len(c) for c in chunks] == [25, 25, 10]
    wide = [put("t", "p", i, index=i, body={"S": "x" * 700_000}) for i in range(30)]
    chunks = list(
        chunked(wide, max_count=MAX_WRITE_REQUESTS, max_bytes=MAX_REQUEST_BYTES,
                size=lambda r: r.size)
    )
    assert all(sum(r.size for r in c) <= MAX_REQUEST_BYTES for c in chunks)
    assert len(chunks[0]) < MAX_WRITE_REQUESTS
    assert sum(len(c) for c in chunks) == 30
    assert list(chunked([get("p", i) for i in range(250)], max_count=MAX_GET_KEYS)).__len__() == 3


# --- dedup ----------------------------------------------------------------------------------


def test_dedupe_keeps_first_occurrence_in_order_and_reports_later_ones() -> None:
    unique, duplicates = dedupe(["a", "b", "A", "c", "B", "a"], str.lower)
    assert unique == ["a", "b", "c"]
    assert duplicates == [("a", "A"), ("b", "B"), ("a", "a")]


def test_dedupe_of_requests_by_fingerprint() -> None:
    requests = [put("t", "p", 1, 0), put("t", "p", 2, 1), put("t", "p", 1, 2), put("u", "p", 1, 3)]
    unique, duplicates = dedupe(requests, lambda r: r.fingerprint)
    assert [r.index for r in unique] == [0, 1, 3]
    assert [(a.index, b.index) for a, b in duplicates] == [(0, 2)]


# --- payloads and answers -------------------------------------------------------------------


def test_write_payload_groups_requests_by_table() -> None:
    requests = [put("a", "p", 1), put("b", "p", 1), put("a", "p", 2)]
    payload = write_payload(requests)
    assert list(payload["RequestItems"]) == ["a", "b"]
    # Each table's entries are one JSON text joined from the entries' own, not encoded again.
    assert all(isinstance(v, msgspec.Raw) for v in payload["RequestItems"].values())
    assert plain_payload(payload) == {
        "RequestItems": {
            "a": [requests[0].entry, requests[2].entry],
            "b": [requests[1].entry],
        }
    }
    assert delete_entry({"pk": {"S": "p"}}) == {"DeleteRequest": {"Key": {"pk": {"S": "p"}}}}


def test_get_payload_with_and_without_projection() -> None:
    keys = [get("p", 1), get("p", 2)]
    plain = get_payload("t", keys, consistent=True)
    assert plain == {"RequestItems": {"t": {"Keys": [k.key for k in keys], "ConsistentRead": True}}}
    projected = get_payload("t", keys, consistent=False, projection="#n0, #n1",
                            names={"#n0": "pk", "#n1": "sk"})
    spec = projected["RequestItems"]["t"]
    assert spec["ProjectionExpression"] == "#n0, #n1"
    assert spec["ExpressionAttributeNames"] == {"#n0": "pk", "#n1": "sk"}


def test_split_write_answer_confirms_everything_without_unprocessed_items() -> None:
    pending = {r.fingerprint: r for r in (put("t", "p", i) for i in range(3))}
    confirmed, remaining = split_write_answer(pending, {"UnprocessedItems": {}}, {"t": KEYS})
    assert confirmed == list(pending.values())
    assert remaining == {}


def test_split_write_answer_maps_unprocessed_entries_back_to_requests() -> None:
    requests = [put("t", "p", i, index=i) for i in range(4)] + [put("u", "p", 9, index=4)]
    pending = {r.fingerprint: r for r in requests}
    unprocessed = {
        # DynamoDB renders numbers its own way; the mapping must not depend on the text.
        "t": [{"PutRequest": {"Item": {"pk": {"S": "p"}, "sk": {"N": "1.0"}}}}],
        "u": [{"DeleteRequest": {"Key": {"pk": {"S": "p"}, "sk": {"N": "9"}}}}],
    }
    confirmed, remaining = split_write_answer(
        pending, {"UnprocessedItems": unprocessed}, {"t": KEYS, "u": KEYS}
    )
    assert sorted(r.index for r in confirmed) == [0, 2, 3]
    assert sorted(r.index for r in remaining.values()) == [1, 4]


def test_split_write_answer_refuses_an_entry_it_never_sent() -> None:
    pending = {r.fingerprint: r for r in [put("t", "p", 1)]}
    answer = {"UnprocessedItems": {"t": [{"PutRequest": {"Item": {"pk": {"S": "x"},
                                                                   "sk": {"N": "1"}}}}]}}
    with pytest.raises(DynamormError, match="did not send") as caught:
        split_write_answer(pending, answer, {"t": KEYS})
    assert type(caught.value) is DynamormError


def test_split_get_answer_finds_items_and_unprocessed_keys() -> None:
    keys = [get("p", i, index=i) for i in range(4)]
    pending = {k.fingerprint: k for k in keys}
    response = {
        "Responses": {"t": [
            {"pk": {"S": "p"}, "sk": {"N": "2"}, "v": {"S": "two"}},
            {"pk": {"S": "p"}, "sk": {"N": "0"}},
            {"pk": {"S": "zz"}, "sk": {"N": "0"}},
        ]},
        "UnprocessedKeys": {"t": {"Keys": [keys[3].key], "ConsistentRead": False}},
    }
    found, remaining = split_get_answer(pending, response, "t", KEYS)
    assert sorted((k.index, item.get("v")) for k, item in found) == [(0, None), (2, {"S": "two"})]
    assert list(remaining.values()) == [keys[3]]
    with pytest.raises(DynamormError, match="did not send"):
        split_get_answer(
            pending, {"UnprocessedKeys": {"t": {"Keys": [get("x", 1).key]}}}, "t", KEYS
        )
    assert split_get_answer(pending, {}, "t", KEYS) == ([], {})


def test_put_body_around_the_item_json_is_the_json_of_the_put_entry() -> None:
    wide = {"pk": {"S": "é" * 50}, "n": {"N": "1.5"}, "l": {"L": []}}
    for item in ({}, {"pk": {"S": "a"}}, wide):
        body = put_body(msgspec.json.encode(item))
        assert body == entry_body(put_entry(item))
        request = WriteRequest("t", body, b"", 0, None)
        assert request.entry == put_entry(item)
        assert request.size == len(msgspec.json.encode(put_entry(item))) + 1
