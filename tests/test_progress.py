"""Progress: counters, the line, the bar, the style choice, and a cheap coordinator hook."""

from __future__ import annotations

import io
import time

import pytest

from ezpipe.progress import Progress, choose_style, format_seconds
from ezpipe.records import Status


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_style_follows_the_stream_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EZPIPE_PROGRESS", raising=False)
    assert choose_style(True, _Tty()) == "bar"
    assert choose_style(True, io.StringIO()) == "lines"
    assert choose_style(False, _Tty()) == "off"
    assert choose_style("lines", _Tty()) == "lines"
    monkeypatch.setenv("EZPIPE_PROGRESS", "off")
    assert choose_style(True, _Tty()) == "off"
    monkeypatch.setenv("EZPIPE_PROGRESS", "bar")
    assert choose_style(False, io.StringIO()) == "bar"
    monkeypatch.delenv("EZPIPE_PROGRESS")
    with pytest.raises(ValueError, match="unknown progress style"):
        choose_style("fancy", io.StringIO())


def test_counters_and_the_line() -> None:
    progress = Progress(10, style="lines", stream=io.StringIO(), name="demo")
    progress.settled(Status.PASSED, cached=True)
    progress.settled(Status.PASSED, cached=False)
    progress.settled(Status.FAILED, cached=False, skipped=3)
    assert (progress.done, progress.passed, progress.failed) == (6, 2, 1)
    assert (progress.skipped, progress.cached) == (3, 1)
    line = progress.line()
    assert "ezpipe progress demo: 6/10 steps done (60%)" in line
    assert "1 failed, 3 skipped, 0 running, 1 from cache" in line
    assert "elapsed 0:00:00" in line and "left" in line
    assert format_seconds(3725) == "1:02:05" and format_seconds(None) == "?"


def test_lines_are_written_periodically_and_a_final_one() -> None:
    stream = io.StringIO()
    progress = Progress(4, style="lines", stream=stream, interval=0.05)
    running = [1, 2]
    progress.start(running)
    progress.settled(Status.PASSED, cached=False)
    time.sleep(0.3)
    progress.settled(Status.PASSED, cached=False)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3
    assert all(line.startswith("ezpipe progress: ") for line in lines)
    assert "2 running" in lines[0]
    assert lines[-1].startswith("ezpipe progress: 2/4 steps done (50%)")


def test_a_short_run_prints_no_lines() -> None:
    stream = io.StringIO()
    progress = Progress(2, style="lines", stream=stream, interval=30)
    progress.start()
    progress.settled(Status.PASSED, cached=False)
    progress.close()
    assert stream.getvalue() == ""


def test_the_bar_is_drawn_with_tqdm() -> None:
    stream = io.StringIO()
    progress = Progress(3, style="bar", stream=stream, interval=0.02, name="bar")
    progress.start()
    progress.settled(Status.PASSED, cached=False)
    progress.settled(Status.FAILED, cached=False, skipped=1)
    time.sleep(0.1)
    progress.close()
    text = stream.getvalue()
    assert "bar:" in text and "3/3" in text and "1 failed, 1 skipped" in text


def test_off_starts_no_thread() -> None:
    progress = Progress(1, style="off", stream=io.StringIO())
    progress.start()
    assert progress._thread is None
    progress.close()


def test_settled_is_cheap_enough_for_20000_dispatches_per_second() -> None:
    progress = Progress(200_000, style="off")
    start = time.perf_counter()
    for _ in range(100_000):
        progress.settled(Status.PASSED, False, 0)
    per_call = (time.perf_counter() - start) / 100_000
    assert per_call < 5e-6, f"settled() costs {per_call * 1e6:.2f} us"
