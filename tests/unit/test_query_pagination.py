"""Cutting pages and signing cursor states (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from dynamorm_async import InvalidCursor
from dynamorm_async._read.cursor import CursorCodec
from dynamorm_async._read.pages import (
    CursorSigner,
    CursorState,
    cut_page,
    page_reads_needed,
    resume_key,
)

pytestmark = pytest.mark.timeout(30)

KEYS = ("pk", "sk")
BINDING = CursorCodec.binding_for("Query", {"TableName": "t"})


def items(*names: int) -> list[dict[str, Any]]:
    return [{"pk": {"S": "p"}, "sk": {"N": str(n)}} for n in names]


def state(n: int, *, backward: bool = False, offset: int = 0) -> CursorState:
    return CursorState({"pk": {"S": "p"}, "sk": {"N": str(n)}}, backward, offset)


def test_first_page_with_more_results() -> None:
    window = cut_page(items(1, 2, 3), size=2, state=None, limit=None)
    assert window.items == items(1, 2)
    assert window.has_next and not window.has_prev and window.offset == 0


def test_last_page_is_detected_without_an_empty_page() -> None:
    window = cut_page(items(1, 2), size=2, state=None, limit=None)
    assert window.items == items(1, 2) and not window.has_next


def test_next_page_has_a_previous_page() -> None:
    window = cut_page(items(3, 4), size=2, state=state(2, offset=2), limit=None)
    assert window.has_prev and not window.has_next and window.offset == 2


def test_backward_page_is_returned_in_query_order() -> None:
    # Read backward from item 5: 4, 3, then 2 proves there is a page before.
    window = cut_page(items(4, 3, 2), size=2, state=state(5, backward=True, offset=4), limit=None)
    assert window.items == items(3, 4)
    assert window.has_prev and window.has_next and window.offset == 2
    first = cut_page(items(2, 1), size=2, state=state(3, backward=True, offset=2), limit=None)
    assert first.items == items(1, 2) and not first.has_prev and first.offset == 0


def test_empty_pages_have_no_neighbours() -> None:
    for s in (None, state(1, offset=1), state(1, backward=True, offset=1)):
        window = cut_page([], size=3, state=s, limit=None)
        assert window.items == [] and not window.has_next and not window.has_prev


def test_limit_ends_the_walk() -> None:
    assert page_reads_needed(5, None, None) == 6
    assert page_reads_needed(5, None, 3) == 3
    assert page_reads_needed(5, state(1, offset=4), 7) == 3
    assert page_reads_needed(5, state(1, offset=7), 7) == 0
    assert page_reads_needed(5, state(1, backward=True, offset=7), 7) == 6
    window = cut_page(items(5, 6, 7), size=5, state=state(4, offset=4), limit=7)
    assert window.items == items(5, 6, 7) and not window.has_next
    window = cut_page(items(3, 4, 5), size=2, state=state(2, offset=2), limit=7)
    assert window.has_next


def test_resume_key_keeps_only_key_attributes() -> None:
    item = {"pk": {"S": "p"}, "sk": {"N": "1"}, "other": {"S": "x"}}
    assert resume_key(item, KEYS) == {"pk": {"S": "p"}, "sk": {"N": "1"}}


def test_signer_round_trip() -> None:
    signer = CursorSigner(CursorCodec(b"secret"), BINDING, KEYS)
    token = signer.encode(state(3, backward=True, offset=9))
    assert signer.decode(token) == state(3, backward=True, offset=9)


@pytest.mark.parametrize(
    "raw",
    [
        {"k": {"pk": {"S": "p"}}, "b": False, "o": 0},
        {"k": {"pk": {"S": "p"}, "sk": {"N": 1}}, "b": False, "o": 0},
        {"k": {"pk": {"S": "p"}, "sk": {"BOOL": "1"}}, "b": False, "o": 0},
        {"k": {"pk": {"S": "p"}, "sk": {"N": "1", "S": "x"}}, "b": False, "o": 0},
        {"k": {"pk": {"S": "p"}, "sk": {"N": "1"}}, "b": 0, "o": 0},
        {"k": {"pk": {"S": "p"}, "sk": {"N": "1"}}, "b": False, "o": -1},
        {"k": {"pk": {"S": "p"}, "sk": {"N": "1"}}, "b": False, "o": True},
        {"k": [], "b": False, "o": 0},
        {},
    ],
)
def test_signed_but_malformed_states_are_rejected(raw: dict[str, Any]) -> None:
    codec = CursorCodec(b"secret")
    signer = CursorSigner(codec, BINDING, KEYS)
    with pytest.raises(InvalidCursor, match="malformed"):
        signer.decode(codec.encode(BINDING, raw))


def test_a_cursor_of_another_binding_is_foreign() -> None:
    codec = CursorCodec(b"secret")
    token = CursorSigner(codec, BINDING, KEYS).encode(state(1))
    other = CursorSigner(codec, CursorCodec.binding_for("Query", {"TableName": "u"}), KEYS)
    with pytest.raises(InvalidCursor, match="signature"):
        other.decode(token)
