"""Checks of caller arguments shared by every builder and executor (pure)."""

from __future__ import annotations

import math

from ._errors import ValidationError

__all__ = ["seconds", "whole_number"]


def whole_number(what: str, value: object, *, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]``; ValidationError naming ``what`` otherwise.

    A bool is refused although it is an int: ``limit(True)`` is a bug, not a 1.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ValidationError(f"{what} must be an int {bound}, got {value!r}")
    return value


def seconds(what: str, value: object, *, zero: bool = False) -> float:
    """``value`` as a finite number of seconds above zero (or zero too, with ``zero``);
    ValidationError naming ``what`` otherwise."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not zero)
    ):
        bound = ">= 0" if zero else "> 0"
        raise ValidationError(f"{what} must be a finite number of seconds {bound}, got {value!r}")
    return float(value)
