"""Signed pagination cursors: round trips, and rejection of every kind of forgery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamorm_async._errors import InvalidCursor, ValidationError
from dynamorm_async._read.cursor import CursorCodec

SECRET = b"s3cret-key-for-tests-0123456789ab"
STATE: dict[str, Any] = {
    "k": {"customer": {"S": "c1"}, "order_id": {"S": "2025-01-01#o9"}},
    "d": "f",
}
URLSAFE = string.ascii_letters + string.digits + "-_"


@pytest.fixture
def codec() -> CursorCodec:
    return CursorCodec(SECRET)


@pytest.fixture
def binding() -> bytes:
    return CursorCodec.binding_for("orders", None, "#n0 = :v0", {":v0": {"S": "c1"}}, "f")


def test_round_trip(codec: CursorCodec, binding: bytes) -> None:
    token = codec.encode(binding, STATE)
    assert codec.decode(binding, token) == STATE


def test_token_is_url_safe_without_padding(codec: CursorCodec, binding: bytes) -> None:
    for n in range(12):
        token = codec.encode(binding, {"k": {"id": {"S": "x" * n}}, "d": "b"})
        assert set(token) <= set(URLSAFE)
        assert "=" not in token


def test_encoding_is_deterministic(codec: CursorCodec, binding: bytes) -> None:
    reordered = {"d": "f", "k": dict(reversed(list(STATE["k"].items())))}
    assert codec.encode(binding, STATE) == codec.encode(binding, reordered)


def test_large_repetitive_state_is_compressed(codec: CursorCodec, binding: bytes) -> None:
    state = {"k": {"id": {"S": "a" * 1500}}, "d": "f"}
    token = codec.encode(binding, state)
    assert len(token) < 200
    assert codec.decode(binding, token) == state


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(state=st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_round_trip_random_states(state: dict[str, Any]) -> None:
    codec = CursorCodec(SECRET)
    binding = CursorCodec.binding_for("t", "idx", state.get("x"))
    token = codec.encode(binding, state)
    assert codec.decode(binding, token) == state


def _tokens(codec: CursorCodec, binding: bytes) -> list[str]:
    # A raw-JSON token and a compressed one, of lengths covering every base64 tail shape.
    tokens = [codec.encode(binding, {"k": {"id": {"S": "x" * n}}, "d": "f"}) for n in (1, 2, 3)]
    tokens.append(codec.encode(binding, {"k": {"id": {"S": "ab" * 300}}, "d": "b"}))
    assert {len(t) % 4 for t in tokens} >= {0, 2, 3}
    return tokens


def test_every_single_character_substitution_is_rejected(
    codec: CursorCodec, binding: bytes
) -> None:
    alphabet = URLSAFE + "=+/ .~\u00e9"
    for token in _tokens(codec, binding):
        for position in range(len(token)):
            for char in alphabet:
                if char == token[position]:
                    continue
                forged = token[:position] + char + token[position + 1 :]
                with pytest.raises(InvalidCursor):
                    codec.decode(binding, forged)


def test_every_truncation_is_rejected(codec: CursorCodec, binding: bytes) -> None:
    for token in _tokens(codec, binding):
        for length in range(len(token)):
            with pytest.raises(InvalidCursor):
                codec.decode(binding, token[:length])


def test_insertions_and_padding_are_rejected(codec: CursorCodec, binding: bytes) -> None:
    token = codec.encode(binding, STATE)
    for forged in (token + "A", "A" + token, token + "=", token + "==", token + "\n", " " + token):
        with pytest.raises(InvalidCursor):
            codec.decode(binding, forged)


def test_non_canonical_last_character_is_rejected(codec: CursorCodec, binding: bytes) -> None:
    token = next(t for t in _tokens(codec, binding) if len(t) % 4 == 2)
    data = base64.urlsafe_b64decode(token + "==")
    # Same bytes, different spelling: the final character's unused low bits are set.
    variants = {token[:-1] + c for c in URLSAFE} - {token}
    decodable = [v for v in variants if base64.urlsafe_b64decode(v + "==") == data]
    assert len(decodable) == 15
    for forged in decodable:
        with pytest.raises(InvalidCursor, match="canonical"):
            codec.decode(binding, forged)


def test_foreign_secret_is_rejected(binding: bytes) -> None:
    token = CursorCodec(b"another secret").encode(binding, STATE)
    with pytest.raises(InvalidCursor, match="another query or another cursor_secret"):
        CursorCodec(SECRET).decode(binding, token)


def test_cursor_from_another_query_is_rejected(codec: CursorCodec, binding: bytes) -> None:
    token = codec.encode(binding, STATE)
    for other in (
        CursorCodec.binding_for("orders", None, "#n0 = :v0", {":v0": {"S": "c2"}}, "f"),
        CursorCodec.binding_for("orders", None, "#n0 = :v0", {":v0": {"S": "c1"}}, "b"),
        CursorCodec.binding_for("orders", "by_status", "#n0 = :v0", {":v0": {"S": "c1"}}, "f"),
        b"",
        binding[:-1],
    ):
        with pytest.raises(InvalidCursor):
            codec.decode(other, token)


def test_binding_length_is_signed(codec: CursorCodec) -> None:
    # Moving bytes between binding and payload must not yield a valid MAC.
    token = codec.encode(b"ab", {"x": 1})
    with pytest.raises(InvalidCursor):
        codec.decode(b"a", token)


def test_binding_for_is_stable_and_sensitive() -> None:
    a = CursorCodec.binding_for("t", {"b": 1, "a": [1, 2]}, None)
    assert a == CursorCodec.binding_for("t", {"a": [1, 2], "b": 1}, None)
    assert len(a) == 32
    assert a != CursorCodec.binding_for("t", {"a": [2, 1], "b": 1}, None)
    assert a != CursorCodec.binding_for("t", {"a": [1, 2], "b": 1})
    assert CursorCodec.binding_for("ab") != CursorCodec.binding_for("a", "b")
    with pytest.raises(ValidationError, match="cannot bind"):
        CursorCodec.binding_for(object())


def test_oversized_token_is_rejected_before_decoding(binding: bytes) -> None:
    codec = CursorCodec(SECRET, max_length=100)
    with pytest.raises(InvalidCursor, match="max_length=100"):
        codec.decode(binding, "A" * 101)
    big = CursorCodec(SECRET, max_length=4096)
    token = big.encode(binding, {"k": {"id": {"S": base64.b64encode(bytes(range(256))).decode()}}})
    assert len(token) > 100
    with pytest.raises(InvalidCursor, match="over max_length"):
        codec.decode(binding, token)


def test_encode_refuses_token_over_max_length(binding: bytes) -> None:
    codec = CursorCodec(SECRET, max_length=64)
    noise = base64.b64encode(bytes(range(200))).decode()
    with pytest.raises(ValidationError, match="raise max_length"):
        codec.encode(binding, {"k": noise})


@pytest.mark.parametrize("token", [None, 42, b"AQB7fQ", ["x"], ""])
def test_non_str_or_empty_token_is_rejected(
    codec: CursorCodec, binding: bytes, token: object
) -> None:
    with pytest.raises(InvalidCursor):
        codec.decode(binding, token)  # type: ignore[arg-type]


@pytest.mark.parametrize("token", ["ab!c", "ab cd", "abc\u00e9", "a+bc", "a/bc", "abcde"])
def test_bad_base64_is_rejected(codec: CursorCodec, binding: bytes, token: str) -> None:
    with pytest.raises(InvalidCursor):
        codec.decode(binding, token)


def _forge(binding: bytes, header: bytes, payload: bytes) -> str:
    # Signed with the real secret in the documented layout, so only the checks that follow
    # the MAC can reject the token.
    message = header + len(binding).to_bytes(4, "big") + binding + payload
    mac = hmac.new(SECRET, message, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(header + payload + mac).rstrip(b"=").decode()


def test_forged_layout_matches_real_tokens(codec: CursorCodec, binding: bytes) -> None:
    assert _forge(binding, bytes((1, 0)), b'{"d":"f"}') == codec.encode(binding, {"d": "f"})


def test_wrong_version_is_rejected(codec: CursorCodec, binding: bytes) -> None:
    token = _forge(binding, bytes((2, 0)), b"{}")
    with pytest.raises(InvalidCursor, match="version 2"):
        codec.decode(binding, token)


@pytest.mark.parametrize(
    ("header", "payload", "match"),
    [
        (bytes((1, 7)), b"{}", "unknown flags"),
        (bytes((1, 0)), b"[1, 2]", "not a JSON object"),
        (bytes((1, 0)), b'{"a":', "not a JSON object"),
        (bytes((1, 1)), b"not zlib", "does not decompress"),
        (bytes((1, 1)), b"x\x9c\xabV", "truncated"),
    ],
)
def test_undecodable_payload_is_rejected(
    codec: CursorCodec, binding: bytes, header: bytes, payload: bytes, match: str
) -> None:
    with pytest.raises(InvalidCursor, match=match):
        codec.decode(binding, _forge(binding, header, payload))


def test_decompression_bomb_is_rejected(codec: CursorCodec, binding: bytes) -> None:
    bomb = zlib.compress(b'{"a":"' + b"x" * (codec.max_length * 64) + b'"}', 9)
    token = _forge(binding, bytes((1, 1)), bomb)
    assert len(token) <= codec.max_length
    with pytest.raises(InvalidCursor, match="oversized"):
        codec.decode(binding, token)


def test_state_must_be_json_native(codec: CursorCodec, binding: bytes) -> None:
    with pytest.raises(ValidationError, match="JSON-native"):
        codec.encode(binding, {"k": ("a", "b")})
    with pytest.raises(ValidationError, match="JSON-native"):
        codec.encode(binding, {"k": float("nan")})
    with pytest.raises(ValidationError, match="not JSON-encodable"):
        codec.encode(binding, {"k": {1: "a"}})
    with pytest.raises(ValidationError, match="not JSON-encodable"):
        codec.encode(binding, {"k": object()})
    with pytest.raises(ValidationError, match="mapping"):
        codec.encode(binding, ["k"])  # type: ignore[arg-type]


def test_binding_must_be_bytes(codec: CursorCodec) -> None:
    with pytest.raises(ValidationError, match="binding"):
        codec.encode("orders", STATE)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="binding"):
        codec.decode("orders", "AAAA")  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", [b"", "text", None])
def test_secret_must_be_non_empty_bytes(secret: object) -> None:
    with pytest.raises(ValidationError, match="cursor_secret"):
        CursorCodec(secret)  # type: ignore[arg-type]


@pytest.mark.parametrize("max_length", [0, 63, True, 100.0])
def test_max_length_is_validated(max_length: object) -> None:
    with pytest.raises(ValidationError, match="max_length"):
        CursorCodec(SECRET, max_length=max_length)  # type: ignore[arg-type]
