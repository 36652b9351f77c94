"""Signed, opaque pagination cursors (pure: no I/O, plain data in and out).

A cursor carries a small JSON state (the wire-format key to resume from and a direction flag)
and is bound to the query it came from, so it cannot be replayed against another query::

    token = urlsafe_b64(version | flags | payload | mac)        ("=" padding stripped)
    mac   = HMAC-SHA256(secret, version | flags | len(binding) | binding | payload)[:16]

``flags`` says whether ``payload`` is zlib-compressed JSON (used only when that is shorter).
The binding is hashed into the MAC but never stored in the token, so a cursor reveals nothing
about the query except the resume key it carries. Decoding accepts only the canonical encoding
of the bytes, so every change to a token, including the unused low bits of its last character,
is rejected with :class:`InvalidCursor`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import zlib
from collections.abc import Mapping
from typing import Any

import msgspec

from .._errors import InvalidCursor, ValidationError

__all__ = ["CursorCodec"]

_VERSION = 1
_FLAG_JSON = 0
_FLAG_ZLIB = 1
_MAC_BYTES = 16
_HEADER_BYTES = 2
_MIN_MAX_LENGTH = 64
_BINDING_DOMAIN = b"dynamorm-async/cursor-binding/v1\x00"
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_-]+")

_json_encode = msgspec.json.Encoder(order="deterministic").encode
_json_decode = msgspec.json.Decoder(dict[str, Any]).decode


class CursorCodec:
    """Encode and verify pagination cursors signed with ``secret``.

    ``max_length`` caps the token length in characters on both sides: ``encode`` refuses to
    produce a longer token and ``decode`` rejects one before doing any work. Instances hold no
    mutable state and are safe to share between tasks.
    """

    __slots__ = ("_max_inflated", "_secret", "max_length")

    def __init__(self, secret: bytes, *, max_length: int = 2048) -> None:
        if not isinstance(secret, bytes | bytearray) or not secret:
            raise ValidationError(
                "cursor_secret must be non-empty bytes; use secrets.token_bytes(32) and keep it "
                "stable across processes that share cursors"
            )
        if isinstance(max_length, bool) or not isinstance(max_length, int):
            raise ValidationError(f"max_length must be an int, got {max_length!r}")
        if max_length < _MIN_MAX_LENGTH:
            raise ValidationError(
                f"max_length must be at least {_MIN_MAX_LENGTH} characters, got {max_length}"
            )
        self._secret = bytes(secret)
        self.max_length = max_length
        # Bounds what a verified compressed payload may inflate to; encode enforces the same
        # bound, so only a forged token (impossible without the secret) could exceed it.
        self._max_inflated = max_length * 64

    @staticmethod
    def binding_for(*parts: object) -> bytes:
        """A stable 32-byte digest of what a cursor is bound to (table, index, key condition,
        filter, direction...).

        Parts must be JSON-encodable by msgspec (str, numbers, None, lists, dicts, structs...);
        dict keys and sets are ordered deterministically, so equal parts give equal digests in
        every process.
        """
        try:
            encoded = _json_encode(list(parts))
        except (TypeError, msgspec.EncodeError) as exc:
            raise ValidationError(f"cannot bind a cursor to {parts!r}: {exc}") from exc
        return hashlib.sha256(_BINDING_DOMAIN + encoded).digest()

    def encode(self, binding: bytes, state: Mapping[str, Any]) -> str:
        """Sign ``state`` for the query identified by ``binding`` and return the token.

        ``state`` must be JSON-native (dict with str keys, list, str, int, float, bool, None) so
        that ``decode`` returns an equal dict; anything else raises ``ValidationError``.
        """
        _check_binding(binding)
        if not isinstance(state, Mapping):
            raise ValidationError(f"cursor state must be a mapping, got {type(state).__name__}")
        plain = dict(state)
        try:
            raw = _json_encode(plain)
        except (TypeError, msgspec.EncodeError) as exc:
            raise ValidationError(f"cursor state is not JSON-encodable: {exc}") from exc
        if _json_decode(raw) != plain:
            raise ValidationError(
                "cursor state must hold only JSON-native values (dict, list, str, int, float, "
                "bool, None) so it decodes back unchanged"
            )
        if len(raw) > self._max_inflated:
            raise ValidationError(
                f"cursor state is {len(raw)} bytes; the limit for max_length={self.max_length} "
                f"is {self._max_inflated}"
            )
        flags, payload = _FLAG_JSON, raw
        compressed = zlib.compress(raw, 9)
        if len(compressed) < len(raw):
            flags, payload = _FLAG_ZLIB, compressed
        header = bytes((_VERSION, flags))
        data = header + payload + self._mac(header, binding, payload)
        token = base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
        if len(token) > self.max_length:
            raise ValidationError(
                f"cursor would be {len(token)} characters, over max_length={self.max_length}; "
                "the resume key is unusually large, raise max_length"
            )
        return token

    def decode(self, binding: bytes, token: str) -> dict[str, Any]:
        """Verify ``token`` against ``binding`` and return the state it carries.

        Raises :class:`InvalidCursor` for anything but an unmodified token this codec's secret
        produced for the same binding.
        """
        _check_binding(binding)
        data = self._verified_bytes(token)
        header = data[:_HEADER_BYTES]
        payload = data[_HEADER_BYTES:-_MAC_BYTES]
        mac = data[-_MAC_BYTES:]
        if header[0] != _VERSION:
            raise InvalidCursor(
                f"cursor has format version {header[0]}, expected {_VERSION}; request the first "
                "page again"
            )
        if not hmac.compare_digest(mac, self._mac(header, binding, payload)):
            raise InvalidCursor(
                "cursor signature does not match: it was modified, or it belongs to another "
                "query or another cursor_secret; request the first page again"
            )
        flags = header[1]
        if flags == _FLAG_ZLIB:
            payload = self._inflate(payload)
        elif flags != _FLAG_JSON:
            raise InvalidCursor(f"cursor has unknown flags {flags}")
        try:
            return _json_decode(payload)
        except msgspec.DecodeError as exc:
            raise InvalidCursor("cursor payload is not a JSON object") from exc

    def _verified_bytes(self, token: object) -> bytes:
        if not isinstance(token, str):
            raise InvalidCursor(f"a cursor is a str, got {type(token).__name__}")
        if not token:
            raise InvalidCursor("cursor is empty")
        if len(token) > self.max_length:
            raise InvalidCursor(
                f"cursor is {len(token)} characters, over max_length={self.max_length}"
            )
        if _TOKEN_CHARS.fullmatch(token) is None:
            raise InvalidCursor("cursor holds characters outside URL-safe base64")
        if len(token) % 4 == 1:
            raise InvalidCursor("cursor has an impossible length (truncated?)")
        try:
            data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise InvalidCursor("cursor is not valid base64") from exc
        # Unpadded base64 leaves unused low bits in the last character; only the canonical
        # spelling is accepted, so no two tokens decode to the same bytes.
        if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != token:
            raise InvalidCursor("cursor is not canonically encoded")
        if len(data) < _HEADER_BYTES + _MAC_BYTES + 1:
            raise InvalidCursor("cursor is too short (truncated?)")
        return data

    def _mac(self, header: bytes, binding: bytes, payload: bytes) -> bytes:
        # The binding's length is signed too, so binding and payload cannot trade bytes.
        message = b"".join((header, len(binding).to_bytes(4, "big"), binding, payload))
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def _inflate(self, payload: bytes) -> bytes:
        inflater = zlib.decompressobj()
        try:
            raw = inflater.decompress(payload, self._max_inflated)
        except zlib.error as exc:
            raise InvalidCursor("cursor payload does not decompress") from exc
        if not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
            raise InvalidCursor("cursor payload is truncated or oversized")
        return raw


def _check_binding(binding: object) -> None:
    if not isinstance(binding, bytes):
        raise ValidationError(
            "a cursor binding is bytes (from CursorCodec.binding_for), got "
            f"{type(binding).__name__}"
        )
