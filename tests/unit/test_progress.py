"""Progress: counters, the line, the bar, the style choice, and a cheap coordinator hook."""

from __future__ import annotations

import io
import time

import pytest

from ezpipe.observe.progress import Progress, choose_style, format_seconds
from ezpipe.options import RunOptions
from ezpipe.records import RunTally, Status, StepOutcome


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_style_follows_the_stream_and_the_environment() -> None:
    assert choose_style(True, _Tty()) == "bar"
    assert choose_style(True, io.StringIO()) == "lines"
    assert choose_style(False, _Tty()) == "off"
    assert choose_style("lines", _Tty()) == "lines"
    off = RunOptions(progress=True).with_environment({"EZPIPE_PROGRESS": "off"})
    assert choose_style(off.progress, _Tty()) == "off"
    bar = RunOptions(progress=False).with_environment({"EZPIPE_PROGRESS": "bar"})
    assert choose_style(bar.progress, io.StringIO()) == "bar"
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
    """Driven by the coordinator's events, as in a run."""
    stream = io.StringIO()
    progress = Progress(0, style="lines", stream=stream, interval=0.05)
    progress.run_started(4)
    progress.steps_assigned((0, 1, 2), rank=1)
    progress.step_settled(0, StepOutcome(status=Status.PASSED), ())
    time.sleep(0.3)
    progress.step_settled(1, StepOutcome(status=Status.PASSED), ())
    progress.run_finished(RunTally())
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3
    assert all(line.startswith("ezpipe progress: ") for line in lines)
    assert "2 running" in lines[0]
    assert lines[-1].startswith("ezpipe progress: 2/4 steps done (50%)")
    assert "1 running" in lines[-1]
    assert progress._thread is None  # run_finished stopped it


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


def test_settled_does_no_io() -> None:
    """The coordinator calls it per outcome: counters only, nothing written."""
    stream = io.StringIO()
    progress = Progress(10, style="lines", stream=stream)
    for _ in range(5):
        progress.settled(Status.PASSED, False, 0)
    assert stream.getvalue() == "" and progress.done == 5
