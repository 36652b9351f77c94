"""What batches retry and when: transient failures, jitter bounds, growth and cap, attempt and
deadline exhaustion (pure, no server)."""

from __future__ import annotations

import random

import pytest

from dynamorm_async import (
    ConditionFailed,
    DynamoDBError,
    DynamormError,
    RequestRejected,
    TableError,
    ThrottledError,
    ValidationError,
)
from dynamorm_async._batch.retry import (
    RETRYABLE_ERROR_CODES,
    RetryBudget,
    RetryPolicy,
    is_retryable_error_code,
    is_transient,
)
from dynamorm_async._errors import map_client_error

pytestmark = pytest.mark.timeout(30)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.base_delay, policy.max_delay, policy.deadline) == (
        10,
        0.05,
        2.0,
        60.0,
    )


def test_delay_cap_grows_exponentially_then_caps() -> None:
    policy = RetryPolicy(base_delay=0.05, max_delay=2.0)
    caps = [policy.delay_cap(n) for n in range(8)]
    assert caps == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert policy.delay_cap(10_000) == 2.0
    assert policy.delay_cap(10**9) == 2.0


def budget_at(policy: RetryPolicy, attempts: int, rng: random.Random) -> RetryBudget:
    """A budget (without a deadline) that has recorded ``attempts`` attempts."""
    budget = RetryBudget(policy, FakeClock(), rng)
    for _ in range(attempts):
        budget.record_attempt()
    return budget


def test_zero_base_delay_never_waits() -> None:
    policy = RetryPolicy(max_attempts=10_000, base_delay=0.0, max_delay=0.0, deadline=None)
    delays = [budget_at(policy, n, random.Random(0)).next_delay() for n in (1, 6, 5001)]
    assert delays == [0.0, 0.0, 0.0]


def test_delays_are_full_jitter_within_bounds() -> None:
    policy = RetryPolicy(max_attempts=100, base_delay=0.1, max_delay=1.0, deadline=None)
    for attempt in range(12):
        cap = policy.delay_cap(attempt)
        budget = budget_at(policy, attempt + 1, random.Random(42))
        draws = [budget.next_delay() for _ in range(500)]
        assert all(d is not None and 0.0 <= d <= cap for d in draws)
        # Full jitter spreads over the whole window, not just near the cap.
        assert min(d for d in draws if d is not None) < cap * 0.1
        assert max(d for d in draws if d is not None) > cap * 0.9


def test_delays_are_reproducible_with_a_seeded_rng() -> None:
    policy = RetryPolicy(deadline=None)
    first = [budget_at(policy, n, random.Random(7)).next_delay() for n in range(1, 6)]
    assert first == [budget_at(policy, n, random.Random(7)).next_delay() for n in range(1, 6)]


@pytest.mark.parametrize("attempt", [-1, True, 1.0, "1"])
def test_delay_cap_rejects_bad_attempt(attempt: object) -> None:
    with pytest.raises(ValidationError, match="attempt"):
        RetryPolicy().delay_cap(attempt)  # type: ignore[arg-type]


def test_budget_counts_attempts() -> None:
    budget = RetryBudget(RetryPolicy(max_attempts=3, deadline=None), rng=random.Random(0))
    assert budget.attempts == 0
    assert budget.next_delay() == 0.0
    budget.record_attempt()
    assert budget.attempts == 1
    budget.record_attempt()
    assert budget.attempts == 2


def test_budget_exhausts_after_max_attempts() -> None:
    clock = FakeClock()
    budget = RetryBudget(RetryPolicy(max_attempts=4, deadline=None), clock, random.Random(1))
    delays = []
    while True:
        budget.record_attempt()
        delay = budget.next_delay()
        if delay is None:
            break
        delays.append(delay)
        clock.advance(delay)
    assert budget.attempts == 4
    assert len(delays) == 3
    assert [d <= RetryPolicy().delay_cap(n) for n, d in enumerate(delays)] == [True] * 3
    assert budget.next_delay() is None


def test_single_attempt_policy_never_retries() -> None:
    budget = RetryBudget(RetryPolicy(max_attempts=1), FakeClock(), random.Random(0))
    budget.record_attempt()
    assert budget.next_delay() is None


def test_budget_delays_are_drawn_up_to_the_policy_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, deadline=None)
    budget = RetryBudget(policy, FakeClock(), random.Random(3))
    reference = random.Random(3)
    for attempt in range(6):
        budget.record_attempt()
        assert budget.next_delay() == reference.uniform(0.0, policy.delay_cap(attempt))


def test_budget_exhausts_at_the_deadline() -> None:
    clock = FakeClock()
    budget = RetryBudget(RetryPolicy(max_attempts=1000, deadline=5.0), clock, random.Random(0))
    budget.record_attempt()
    clock.advance(4.0)
    assert budget.remaining == pytest.approx(1.0)
    assert budget.next_delay() is not None
    clock.advance(1.0)
    assert budget.remaining == 0.0
    assert budget.next_delay() is None
    clock.advance(100.0)
    assert budget.remaining == 0.0
    assert budget.next_delay() is None


def test_delay_never_sleeps_past_the_deadline() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=1000, base_delay=1.0, max_delay=30.0, deadline=10.0)
    budget = RetryBudget(policy, clock, random.Random(5))
    slept = 0.0
    while True:
        budget.record_attempt()
        delay = budget.next_delay()
        if delay is None:
            break
        remaining = budget.remaining
        assert remaining is not None
        assert 0.0 <= delay <= remaining
        clock.advance(delay + 0.01)  # the attempt itself takes a little time
        slept += delay
    assert slept <= 10.0
    assert budget.elapsed >= 10.0 or budget.attempts == 1000


def test_remaining_and_elapsed_follow_the_clock() -> None:
    clock = FakeClock(50.0)
    budget = RetryBudget(RetryPolicy(deadline=2.0), clock)
    assert budget.elapsed == 0.0
    clock.advance(0.5)
    assert budget.elapsed == 0.5
    assert budget.remaining == 1.5
    assert RetryBudget(RetryPolicy(deadline=None), clock).remaining is None


def test_start_without_rng_gives_independent_budgets() -> None:
    policy = RetryPolicy(deadline=None)
    budget = RetryBudget(policy)
    assert isinstance(budget, RetryBudget)
    budget.record_attempt()
    delay = budget.next_delay()
    assert delay is not None and 0.0 <= delay <= policy.base_delay
    assert "attempts=1" in repr(budget)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": -3}, "max_attempts"),
        ({"max_attempts": 2.5}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"base_delay": -0.1}, "base_delay"),
        ({"base_delay": float("nan")}, "base_delay"),
        ({"base_delay": "1"}, "base_delay"),
        ({"max_delay": float("inf")}, "max_delay"),
        ({"base_delay": 1.0, "max_delay": 0.5}, "must not be below base_delay"),
        ({"deadline": 0}, "deadline"),
        ({"deadline": -1.0}, "deadline"),
        ({"deadline": float("inf")}, "deadline"),
        ({"deadline": False}, "deadline"),
    ],
)
def test_policy_validation(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_is_frozen() -> None:
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.max_attempts = 3  # type: ignore[misc]


# --- what is retried ------------------------------------------------------------------------

THROTTLE_CODES = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
]


class ClientFailure(Exception):
    """What a botocore ClientError looks like to the error mapper: a parsed ``response``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code, "Message": f"{code} happened"}}


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (ThrottledError("slow down", code="ProvisionedThroughputExceededException"), True),
        (ThrottledError("slow down", code="ThrottlingException"), True),
        (DynamoDBError("boom", code="InternalServerError"), True),
        (DynamoDBError("unavailable", code="ServiceUnavailable"), True),
        (DynamoDBError("bad gateway", code="502"), True),
        (DynamoDBError("connection reset by peer"), True),
        (DynamoDBError("denied", code="AccessDeniedException"), False),
        (DynamoDBError("teapot", code="418"), False),
        (DynamoDBError("not a status", code="5xx"), False),
        (RequestRejected("bad", code="ValidationException"), False),
        (TableError("gone", code="ResourceNotFoundException"), False),
        (ConditionFailed("no"), False),
        (DynamormError("answer named a request this call did not send"), False),
    ],
)
def test_only_throttling_5xx_and_lost_connections_are_retried(
    error: DynamormError, retried: bool
) -> None:
    assert is_transient(error) is retried


@pytest.mark.parametrize("code", THROTTLE_CODES)
def test_throttling_reaches_batches_as_a_throttled_error_not_as_a_code(code: str) -> None:
    error = map_client_error(ClientFailure(code), operation="BatchWriteItem", table="t")
    assert isinstance(error, ThrottledError)
    assert is_transient(error)
    # The code table need not (and does not) list what the transport maps to ThrottledError.
    assert not is_retryable_error_code(code)


@pytest.mark.parametrize("code", sorted(RETRYABLE_ERROR_CODES))
def test_every_retryable_code_reaches_the_code_check_as_a_plain_dynamodb_error(
    code: str,
) -> None:
    error = map_client_error(ClientFailure(code), operation="BatchGetItem", table="t")
    assert type(error) is DynamoDBError
    assert error.code == code
    assert is_transient(error)


@pytest.mark.parametrize("code", ["InternalServerError", "ServiceUnavailable"])
def test_retryable_codes(code: str) -> None:
    assert is_retryable_error_code(code)
    assert code in RETRYABLE_ERROR_CODES


@pytest.mark.parametrize(
    "code",
    [
        "ConditionalCheckFailedException",
        "ValidationException",
        "ResourceNotFoundException",
        "TransactionCanceledException",
        "",
        "throttlingexception",
    ],
)
def test_non_retryable_codes(code: str) -> None:
    assert not is_retryable_error_code(code)
