"""Batch wire bookkeeping (pure: plain data in, plain data out, no I/O).

The batch executors compose these pieces around their awaited calls:

- :class:`WriteRequest` / :class:`GetKey`: one marshalled request, its key fingerprint
  (``_wire.values.key_fingerprint``: a key's identity that survives DynamoDB's re-rendering of
  numbers), its position in the caller's input and the object the caller passed (reported back
  on failure);
- :class:`Chunker` / :func:`chunked`: chunks bounded by request count and JSON bytes;
- :func:`dedupe`: first occurrence of each key, plus the duplicates found;
- :func:`write_payload` / :func:`get_payload`: BatchWriteItem / BatchGetItem request payloads;
- :func:`split_write_answer` / :func:`split_get_answer`: which requests an answer confirmed and
  which are still unprocessed.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from .._checks import whole_number
from .._errors import DynamormError, ValidationError
from .._wire.taggers import Item
from .._wire.values import key_fingerprint

__all__ = [
    "MAX_GET_KEYS",
    "MAX_REQUEST_BYTES",
    "MAX_WRITE_REQUESTS",
    "Chunker",
    "GetKey",
    "WriteRequest",
    "chunked",
    "dedupe",
    "delete_entry",
    "entry_body",
    "get_payload",
    "put_body",
    "put_entry",
    "split_get_answer",
    "split_write_answer",
    "write_payload",
]

MAX_WRITE_REQUESTS = 25
"""BatchWriteItem accepts at most 25 put/delete requests per call."""
MAX_GET_KEYS = 100
"""BatchGetItem accepts at most 100 keys per call."""
MAX_REQUEST_BYTES = 16 * 1024 * 1024 - 64 * 1024
"""DynamoDB's 16 MB request limit, less room for the envelope around the entries."""

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

_json_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


# --- requests ---------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class WriteRequest:
    """One PutRequest/DeleteRequest of a batch, ready to send as often as needed.

    ``body`` is the entry's JSON text. A batch keeps every entry from validation until it is
    confirmed, and bytes are not tracked by the garbage collector: as dicts, the entries of a
    few thousand items set off full collections of the caller's whole heap, which cost more
    than preparing the items. ``source`` is what the caller passed (an instance, or a key
    mapping) and is what failure reports hold; ``updates`` are field values to apply to a put
    instance once confirmed.
    """

    table: str
    body: bytes
    fingerprint: bytes
    index: int
    source: object
    updates: Mapping[str, Any] | None = None

    @property
    def entry(self) -> dict[str, Any]:
        """The entry, as sent."""
        entry: dict[str, Any] = _decode(self.body)
        return entry

    @property
    def size(self) -> int:
        """Bytes the entry adds to a request body (its JSON text and a separator)."""
        return len(self.body) + 1


@dataclass(slots=True, eq=False)
class GetKey:
    """One key of a BatchGetItem call: the wire key, its fingerprint, the caller's object."""

    key: Item
    fingerprint: bytes
    index: int
    source: object


def put_entry(item: Item) -> dict[str, Any]:
    """A BatchWriteItem put entry."""
    return {"PutRequest": {"Item": item}}


def delete_entry(key: Item) -> dict[str, Any]:
    """A BatchWriteItem delete entry."""
    return {"DeleteRequest": {"Key": key}}


def entry_body(entry: Mapping[str, Any]) -> bytes:
    """An entry's JSON text (:attr:`WriteRequest.body`)."""
    return _json_encode(entry)


def put_body(item_json: bytes) -> bytes:
    """The JSON text of :func:`put_entry` around an item's JSON text, without encoding the
    item again."""
    return b'{"PutRequest":{"Item":' + item_json + b"}}"


def write_payload(requests: Iterable[WriteRequest]) -> dict[str, Any]:
    """BatchWriteItem payload for one chunk (requests grouped by table).

    Each table's entries are one JSON text (``msgspec.Raw``) joined from the entries' own, so
    no item is encoded twice: send it with ``raw_json=True`` (:class:`.CallOptions`).
    """
    by_table: dict[str, list[bytes]] = {}
    for request in requests:
        bodies = by_table.get(request.table)
        if bodies is None:
            bodies = by_table[request.table] = []
        bodies.append(request.body)
    entries = {
        table: msgspec.Raw(b"[" + b",".join(bodies) + b"]") for table, bodies in by_table.items()
    }
    return {"RequestItems": entries}


def get_payload(
    table: str,
    keys: Iterable[GetKey],
    *,
    consistent: bool,
    projection: str | None = None,
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """BatchGetItem payload for one chunk of one table."""
    spec: dict[str, Any] = {"Keys": [k.key for k in keys], "ConsistentRead": consistent}
    if projection is not None:
        spec["ProjectionExpression"] = projection
        if names:
            spec["ExpressionAttributeNames"] = dict(names)
    return {"RequestItems": {table: spec}}


# --- answers ----------------------------------------------------------------------------------


def _unexpected(what: str, table: str) -> DynamormError:
    # Not a DynamoDBError: the executors retry those, and an answer that names a request this
    # chunk never sent would come back the same on every retry.
    return DynamormError(
        f"DynamoDB answered with an unprocessed {what} this call did not send",
        operation="BatchWriteItem" if what == "request" else "BatchGetItem",
        table=table,
    )


def split_write_answer(
    pending: Mapping[bytes, WriteRequest],
    response: Mapping[str, Any],
    table_keys: Mapping[str, Sequence[str]],
) -> tuple[list[WriteRequest], dict[bytes, WriteRequest]]:
    """Split the requests of one BatchWriteItem call into confirmed and still unprocessed.

    ``table_keys`` gives the key attribute names of every table in the call.
    """
    unprocessed = response.get("UnprocessedItems") or {}
    if not unprocessed:
        return list(pending.values()), {}
    remaining: dict[bytes, WriteRequest] = {}
    for table, entries in unprocessed.items():
        attributes = table_keys[table]
        for entry in entries:
            put = entry.get("PutRequest")
            target = put["Item"] if put is not None else entry["DeleteRequest"]["Key"]
            fingerprint = key_fingerprint(table, attributes, target)
            request = pending.get(fingerprint)
            if request is None:
                raise _unexpected("request", table)
            remaining[fingerprint] = request
    confirmed = [r for fp, r in pending.items() if fp not in remaining]
    return confirmed, remaining


def split_get_answer(
    pending: Mapping[bytes, GetKey],
    response: Mapping[str, Any],
    table: str,
    key_attributes: Sequence[str],
) -> tuple[list[tuple[GetKey, Item]], dict[bytes, GetKey]]:
    """Split one BatchGetItem answer into (key, item) pairs found and keys still unprocessed.

    Keys in neither have no item.
    """
    found: list[tuple[GetKey, Item]] = []
    for item in (response.get("Responses") or {}).get(table, ()):
        request = pending.get(key_fingerprint(table, key_attributes, item))
        if request is not None:
            found.append((request, item))
    remaining: dict[bytes, GetKey] = {}
    spec = (response.get("UnprocessedKeys") or {}).get(table)
    for key in spec.get("Keys", ()) if spec else ():
        fingerprint = key_fingerprint(table, key_attributes, key)
        request = pending.get(fingerprint)
        if request is None:
            raise _unexpected("key", table)
        remaining[fingerprint] = request
    return found, remaining


# --- chunking and dedup -------------------------------------------------------------------------


class Chunker(Generic[T]):
    """Groups items into chunks of at most ``max_count`` items and ``max_bytes`` bytes.

    ``add`` returns the chunks completed by the new item (usually none); ``flush`` returns the
    partial chunk left over. A chunk is closed as soon as it is full by count, so a caller
    streaming items can send it without waiting for the next one. With ``unique``, an item
    whose ``unique(item)`` is already in the open chunk is dropped: DynamoDB rejects a batch
    that names one key twice.
    """

    __slots__ = ("_bytes", "_current", "_keys", "_size", "_unique", "max_bytes", "max_count")

    def __init__(
        self,
        *,
        max_count: int,
        max_bytes: int | None = None,
        size: Callable[[T], int] | None = None,
        unique: Callable[[T], Hashable] | None = None,
    ) -> None:
        whole_number("max_count", max_count)
        if max_bytes is not None and size is None:
            raise ValidationError("a byte limit needs a size function")
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._size = size
        self._unique = unique
        self._keys: set[Hashable] = set()
        self._current: list[T] = []
        self._bytes = 0

    def add(self, item: T) -> list[list[T]]:
        """Add one item; returns the chunks that are complete now."""
        done: list[list[T]] = []
        key: Hashable = None
        if self._unique is not None:
            key = self._unique(item)
            if key in self._keys:
                return done
        if self.max_bytes is not None:
            assert self._size is not None
            size = self._size(item)
            if size > self.max_bytes:
                raise ValidationError(
                    f"one request is {size} bytes, over the {self.max_bytes}-byte batch limit"
                )
            if self._current and self._bytes + size > self.max_bytes:
                done.append(self._take())
            self._bytes += size
        self._current.append(item)
        if self._unique is not None:
            self._keys.add(key)
        if len(self._current) >= self.max_count:
            done.append(self._take())
        return done

    def flush(self) -> list[T] | None:
        """The partial chunk, if any (the chunker is empty afterwards)."""
        return self._take() if self._current else None

    def _take(self) -> list[T]:
        chunk, self._current, self._bytes = self._current, [], 0
        self._keys.clear()
        return chunk


def chunked(
    items: Iterable[T],
    *,
    max_count: int,
    max_bytes: int | None = None,
    size: Callable[[T], int] | None = None,
) -> Iterator[list[T]]:
    """Split ``items`` into chunks in order, each within ``max_count`` items and ``max_bytes``."""
    chunker = Chunker(max_count=max_count, max_bytes=max_bytes, size=size)
    for item in items:
        yield from chunker.add(item)
    rest = chunker.flush()
    if rest is not None:
        yield rest


def dedupe(items: Iterable[T], key: Callable[[T], K]) -> tuple[list[T], list[tuple[T, T]]]:
    """First occurrence of every key, in order, and each later duplicate as ``(first, later)``."""
    seen: dict[K, T] = {}
    duplicates: list[tuple[T, T]] = []
    for item in items:
        k = key(item)
        first = seen.get(k)
        if first is None:
            seen[k] = item
        else:
            duplicates.append((first, item))
    return list(seen.values()), duplicates
