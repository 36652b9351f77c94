"""When to retry a batch chunk and how long to wait (pure: no sleeping, no I/O).

:func:`is_transient` says which failures of a whole call are worth retrying. A
:class:`RetryPolicy` is configuration; a :class:`RetryBudget` started from one tracks one
operation's attempts against it. The executor owns
the loop and the sleeping::

    budget = RetryBudget(policy)
    while True:
        budget.record_attempt()
        pending = await send(pending)
        if not pending:
            break
        delay = budget.next_delay()
        if delay is None:
            raise BatchWriteError(...)
        await anyio.sleep(delay)

Delays use "full jitter" (uniform between zero and an exponentially growing cap), which spreads
the retries of concurrent chunks apart instead of letting them throttle in lockstep.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from .._checks import seconds, whole_number
from .._errors import DynamoDBError, DynamormError, ThrottledError, ValidationError
from .._random import process_random

# One generator jitters every budget: seeding one per chunk cost a system call per request.
_JITTER = process_random()

__all__ = [
    "RETRYABLE_ERROR_CODES",
    "RetryBudget",
    "RetryPolicy",
    "is_retryable_error_code",
    "is_transient",
]

RETRYABLE_ERROR_CODES = frozenset({"InternalServerError", "ServiceUnavailable"})
"""DynamoDB's 5xx codes. Throttling codes are not here: the transport raises ThrottledError
for them (``_errors.map_client_error``), so they never reach a code check."""


def is_retryable_error_code(code: str) -> bool:
    """True for the codes of a plain DynamoDBError that mean "try again later" (5xx)."""
    return code in RETRYABLE_ERROR_CODES


def is_transient(exc: DynamormError) -> bool:
    """True for failures of a whole call that are worth retrying: throttling, 5xx, no answer."""
    if isinstance(exc, ThrottledError):
        return True
    if not isinstance(exc, DynamoDBError):
        return False
    code = exc.code
    # Without an AWS error code the call never got DynamoDB's answer: the connection was
    # refused, reset or timed out (botocore's own retries for those are spent by now). A bare
    # status code is what botocore reports for a 5xx whose body it could not parse.
    return (
        code is None
        or is_retryable_error_code(code)
        or (len(code) == 3 and code.startswith("5") and code.isdigit())
    )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry.

    ``max_attempts`` counts every attempt including the first (1 disables retrying);
    ``base_delay`` and ``max_delay`` bound the jittered backoff in seconds; ``deadline`` caps the
    whole operation in seconds from :meth:`start` (``None``: attempts are the only limit).
    """

    max_attempts: int = 10
    base_delay: float = 0.05
    max_delay: float = 2.0
    deadline: float | None = 60.0

    def __post_init__(self) -> None:
        # max_attempts counts the first attempt too.
        whole_number("max_attempts", self.max_attempts)
        seconds("base_delay", self.base_delay, zero=True)
        seconds("max_delay", self.max_delay, zero=True)
        if self.max_delay < self.base_delay:
            raise ValidationError(
                f"max_delay ({self.max_delay}) must not be below base_delay ({self.base_delay})"
            )
        if self.deadline is not None:
            seconds("deadline", self.deadline)

    def delay_cap(self, attempt: int) -> float:
        """Upper bound of the backoff before retry number ``attempt`` (0 for the first retry):
        ``min(max_delay, base_delay * 2**attempt)``."""
        whole_number("attempt", attempt, minimum=0)
        try:
            grown = math.ldexp(self.base_delay, attempt)
        except OverflowError:
            grown = math.inf
        return min(self.max_delay, grown)


class RetryBudget:
    """Attempts and time left for one operation under a :class:`RetryPolicy`.

    Not shared between tasks: each operation (e.g. each batch chunk) starts its own.
    """

    __slots__ = ("_attempts", "_clock", "_rng", "_started", "policy")

    def __init__(
        self,
        policy: RetryPolicy,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        """Begin one operation's budget; the deadline counts from now on ``clock``."""
        self.policy = policy
        self._clock = clock
        self._rng = rng if rng is not None else _JITTER
        self._started = clock()
        self._attempts = 0

    @property
    def attempts(self) -> int:
        """Attempts recorded so far (the first one included)."""
        return self._attempts

    @property
    def elapsed(self) -> float:
        """Seconds since the budget started."""
        return self._clock() - self._started

    @property
    def remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or None without a deadline."""
        if self.policy.deadline is None:
            return None
        return max(0.0, self.policy.deadline - self.elapsed)

    def record_attempt(self) -> None:
        """Count one attempt; call it right before sending each request."""
        self._attempts += 1

    def next_delay(self) -> float | None:
        """Seconds to wait before the next attempt, or None when the budget is exhausted.

        Before any attempt this is ``0.0``. With a deadline, the jitter window is clamped to the
        time left, so a returned delay never ends after the deadline.
        """
        if self._attempts >= self.policy.max_attempts:
            return None
        remaining = self.remaining  # read the clock once: the check and the clamp agree
        if remaining is not None and remaining <= 0:
            return None
        if self._attempts == 0:
            return 0.0
        cap = self.policy.delay_cap(self._attempts - 1)
        if remaining is not None:
            cap = min(cap, remaining)
        return self._rng.uniform(0.0, cap)

    def __repr__(self) -> str:
        return (
            f"RetryBudget(attempts={self._attempts}, max_attempts={self.policy.max_attempts}, "
            f"remaining={self.remaining!r})"
        )
