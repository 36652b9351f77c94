"""What a read does with a stored item that does not fit its model: ``on_invalid()``.

``"raise"`` (the default) raises its ItemDecodeError; ``"skip"`` logs it at WARNING and leaves
the item out. Streams leave out whatever a converter returns :data:`SKIP` for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

from .._errors import ItemDecodeError, ValidationError

__all__ = [
    "SKIP",
    "OnInvalid",
    "Skip",
    "check_on_invalid",
    "decode_page",
    "log_skipped",
    "skipping",
]

logger = logging.getLogger("dynamorm_async")

R = TypeVar("R")

OnInvalid = Literal["raise", "skip"]
"""What a read does with a stored item that does not fit its model."""


class Skip:
    """The type of :data:`SKIP`."""

    __slots__ = ()


SKIP = Skip()
"""What a stream's converter returns for an item to leave out (not counted against a limit)."""


def check_on_invalid(mode: object) -> OnInvalid:
    """``mode`` itself when it is ``"raise"`` or ``"skip"``; a ValidationError otherwise."""
    if mode == "raise" or mode == "skip":
        return mode
    raise ValidationError(f"on_invalid() takes 'raise' or 'skip', got {mode!r}")


def log_skipped(error: ItemDecodeError) -> None:
    """Log one item that ``on_invalid("skip")`` left out, with its key."""
    logger.warning(
        "skipped a stored item that does not fit %s (key %s, table %s): %s",
        error.model.__name__ if error.model is not None else "its model",
        error.key,
        error.table,
        error.message,
    )


def skipping(decode: Callable[[Any], R], on_invalid: OnInvalid) -> Callable[[Any], R | Skip]:
    """``decode`` itself for ``"raise"``; for ``"skip"`` a decoder that logs an item that does
    not fit and returns :data:`SKIP` for it."""
    if on_invalid == "raise":
        return decode

    def decode_or_skip(item: Any) -> R | Skip:
        try:
            return decode(item)
        except ItemDecodeError as exc:
            log_skipped(exc)
            return SKIP

    return decode_or_skip


def decode_page(
    items: Sequence[Any], decode: Callable[[Any], R], on_invalid: OnInvalid
) -> tuple[list[R], list[ItemDecodeError]]:
    """A page's results, and (``"skip"``) the errors of the items left out, each logged."""
    if on_invalid == "raise":
        return [decode(item) for item in items], []
    results: list[R] = []
    invalid: list[ItemDecodeError] = []
    for item in items:
        try:
            results.append(decode(item))
        except ItemDecodeError as exc:
            log_skipped(exc)
            invalid.append(exc)
    return results, invalid
