"""Batch progress, results and the BatchWriteError a write batch ends in (pure, no server)."""

from __future__ import annotations

import pytest

from dynamorm_async import BatchWriteError, DynamormError, TableError, ThrottledError
from dynamorm_async._batch.progress import BatchProgress, BatchResult, write_error
from dynamorm_async._batch.retry import RetryPolicy

pytestmark = pytest.mark.timeout(30)

POLICY = RetryPolicy(max_attempts=4, deadline=5.0)


def test_progress_reports_items_in_input_order_and_keeps_the_first_error() -> None:
    progress = BatchProgress()
    progress.submitted = 5
    for index in (3, 0, 4):
        progress.confirm(index, f"item{index}")
    first = DynamormError("first")
    progress.give_up(2, "item2", None)
    progress.give_up(1, "item1", first)
    progress.give_up(5, "item5", DynamormError("second"))
    assert progress.processed == 3
    assert progress.processed_items == ["item0", "item3", "item4"]
    assert progress.unprocessed == ["item1", "item2", "item5"]
    assert progress.error is first
    result = progress.result()
    assert result.processed == 3
    assert result.unprocessed == ("item1", "item2", "item5")
    assert not result.ok
    assert result.duration >= 0


def test_progress_without_items_counts_only() -> None:
    progress = BatchProgress(keep_items=False)
    for index in range(1000):
        progress.confirm(index, object())
    assert progress.processed == 1000
    assert progress.processed_items == []


def test_result_of_a_clean_batch_is_ok() -> None:
    result = BatchResult(processed=10, retries=2, throttled=1, duration=0.5)
    assert result.ok
    assert result.unprocessed == ()




# --- the error report ---------------------------------------------------------------------------


def test_write_error_names_the_budget_the_count_and_the_last_error() -> None:
    progress = BatchProgress()
    progress.submitted = 10
    for index in range(8):
        progress.confirm(index, f"ok{index}")
    throttle = ThrottledError("slow down", table="rows", code="ThrottlingException")
    progress.give_up(9, "late", throttle)
    progress.give_up(8, "early", None)
    error = write_error(POLICY, progress)
    assert isinstance(error, BatchWriteError)
    assert error.unprocessed == ["early", "late"]
    assert error.processed == 8
    assert error.processed_items == [f"ok{i}" for i in range(8)]
    assert (error.table, error.code) == ("rows", "ThrottlingException")
    text = str(error)
    assert "2 of 10 write requests were not written" in text
    assert "4 attempts or 5s per chunk" in text
    assert "slow down" in text


def test_write_error_without_a_deadline_names_the_attempts_only() -> None:
    progress = BatchProgress()
    progress.submitted = 1
    progress.give_up(0, "x", None)
    text = str(write_error(RetryPolicy(max_attempts=2, deadline=None), progress))
    assert "the retry budget (2 attempts per chunk) ran out." in text


def test_write_error_after_a_rejection_says_so() -> None:
    progress = BatchProgress()
    progress.submitted = 1
    progress.give_up(0, "x", TableError("no table", code="ResourceNotFoundException"))
    assert "DynamoDB rejected them: no table" in str(write_error(POLICY, progress))
