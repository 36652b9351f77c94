"""Progress rendering of the command line: a bar on a terminal, log lines otherwise."""

from __future__ import annotations

import io

import pytest

from dynamorm_async._migrate.cli import ProgressPrinter
from dynamorm_async._migrate.report import MigrationProgress

pytestmark = pytest.mark.timeout(30)


def progress(
    scanned: int, *, done: int = 0, failed: int = 0, completed: int | None = None
) -> MigrationProgress:
    return MigrationProgress(
        scanned=scanned,
        completed=scanned if completed is None else completed,
        transformed=scanned,
        written=scanned - failed,
        skipped=0,
        failed=failed,
        segments_done=done,
        segments=4,
        elapsed=2.0,
    )


def test_rate() -> None:
    assert progress(500).rate == 250.0
    assert MigrationProgress(0, 0, 0, 0, 0, 0, 0, 1, 0.0).rate == 0.0


def test_bar_with_an_estimated_total() -> None:
    printer = ProgressPrinter(io.StringIO(), tty=True, total=1000)
    assert printer.bar(progress(500, completed=400)) == (
        "[##########--------------]  40% 400/~1,000 done · 500 scanned · 500 written · "
        "0 skipped · 250 items/s · segments 0/4"
    )
    # The estimate is only an estimate: a finished run shows a full bar.
    assert printer.bar(progress(900, done=4)).startswith("[########################] 100%")
    assert printer.bar(progress(1200)).startswith("[########################] 100%")
    assert "· 3 failed ·" in printer.bar(progress(10, failed=3))


def test_bar_without_a_total_follows_segments() -> None:
    printer = ProgressPrinter(io.StringIO(), tty=True, total=0)
    bar = printer.bar(progress(1234, done=1))
    assert bar.startswith("[######------------------]  25% 1,234 done · 1,234 scanned")


def test_terminal_output_redraws_one_line() -> None:
    stream = io.StringIO()
    printer = ProgressPrinter(stream, tty=True, total=100)
    printer(progress(10))
    printer(progress(20))  # within the redraw interval: skipped
    printer(progress(100, done=4))  # the final state is always drawn
    printer.close()
    text = stream.getvalue()
    assert text.count("\r\x1b[K") == 2
    assert text.endswith("segments 4/4\n")


def test_log_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    printer = ProgressPrinter(stream, tty=False)
    printer(progress(10))
    printer(progress(20))  # within the log interval: skipped
    printer(progress(40, done=4))
    printer.close()
    assert stream.getvalue().splitlines() == [
        "progress: scanned=10 completed=10 written=10 skipped=0 failed=0 rate=5/s "
        "segments=0/4 elapsed=2.0s",
        "progress: scanned=40 completed=40 written=40 skipped=0 failed=0 rate=20/s "
        "segments=4/4 elapsed=2.0s",
    ]
    assert "\r" not in stream.getvalue()
