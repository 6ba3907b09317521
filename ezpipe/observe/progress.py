"""Rank 0's progress report: a live bar on a terminal, plain periodic lines otherwise.

The coordinator only bumps counters (:meth:`Progress.settled`, a few integer
additions, no I/O, no clock), so dispatch throughput does not depend on how
often progress is shown. A daemon thread named ``ezpipe-progress`` renders the
counters every ``interval`` seconds: a tqdm bar when the stream is a terminal,
or one line per interval when it is a file (a Slurm output file), where a bar's
carriage returns would pile up into one unreadable line.

Why tqdm rather than rich: tqdm is a single small pure-Python package with no
dependencies, writes to any file object from any thread, and its bar degrades
to nothing surprising in a narrow terminal; rich would bring its own console,
markup and a dozen transitive packages to draw one bar.

``EZPIPE_PROGRESS`` (``bar``, ``lines`` or ``off``, read into the run's options)
overrides the choice; ``EZPIPE_PROGRESS_INTERVAL`` sets the seconds between
lines (default 30). It subscribes to the coordinator's events: ``run_started``
shows it, ``steps_assigned`` and ``step_settled`` move it, ``run_finished``
closes it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, TextIO

from ..events import Observer
from ..options import PROGRESS_STYLES, env
from ..records import RunTally, Status, StepOutcome
from .terminal import Screen

STYLES = PROGRESS_STYLES
BAR_INTERVAL = 0.2  # seconds between bar refreshes (a few per second at most)
LINE_INTERVAL = 30.0  # seconds between plain lines


def choose_style(requested: bool | str | None, stream: TextIO) -> str:
    """``bar``, ``lines`` or ``off``: the request, else what suits the stream."""
    if requested is False:
        return "off"
    if isinstance(requested, str):
        if requested not in STYLES:
            raise ValueError(f"unknown progress style {requested!r}; use one of {STYLES}")
        return requested
    isatty = getattr(stream, "isatty", None)
    return "bar" if isatty is not None and isatty() else "lines"


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class Progress(Observer):
    """Counters of a run's outcomes and the thread that shows them."""

    def __init__(
        self,
        total: int,
        *,
        style: str = "lines",
        stream: TextIO | None = None,
        interval: float | None = None,
        name: str = "",
        screen: Screen | None = None,
    ) -> None:
        self.total = total
        self.screen = screen  # a bar shares it with the lines written above the bar
        self.style = style
        if stream is None:
            stream = screen.stream if screen is not None else sys.stderr
        self.stream = stream
        if interval is None:
            interval = env("EZPIPE_PROGRESS_INTERVAL")
        if interval is None:
            interval = BAR_INTERVAL if style == "bar" else LINE_INTERVAL
        self.interval = interval
        self.name = name
        self.done = self.passed = self.failed = self.skipped = self.cached = 0
        self.started = time.monotonic()
        self.lines_written = 0
        self.running = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar: Any = None

    # -- coordinator side: cheap --------------------------------------------------------------
    def settled(self, status: int, cached: bool, skipped: int = 0) -> None:
        """One step finished (and ``skipped`` dependents were skipped because of it)."""
        self.done += 1 + skipped
        self.skipped += skipped
        if status == Status.PASSED:
            self.passed += 1
        elif status == Status.FAILED:
            self.failed += 1
        elif status == Status.SKIPPED:
            self.skipped += 1
        if cached:
            self.cached += 1

    # -- events -------------------------------------------------------------------------------
    def run_started(self, total: int) -> None:
        self.total = total
        self.start()

    def steps_assigned(self, indices: Sequence[int], rank: int) -> None:
        self.running += len(indices)

    def step_settled(self, index: int, outcome: StepOutcome, skipped: Sequence[int]) -> None:
        self.running -= 1
        self.settled(outcome.status, outcome.cached, len(skipped))

    def run_finished(self, tally: RunTally) -> None:
        self.close()

    # -- what is shown ------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def estimate(self) -> float | None:
        """Seconds left at the rate so far (None before the first outcome)."""
        if self.done == 0:
            return None
        return self.elapsed() / self.done * (self.total - self.done)

    def counts(self) -> str:
        parts = [f"{self.failed} failed", f"{self.skipped} skipped", f"{self.running} running"]
        if self.cached:
            parts.append(f"{self.cached} from cache")
        return ", ".join(parts)

    def line(self) -> str:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (
            f"ezpipe progress{' ' + self.name if self.name else ''}: {self.done}/{self.total} "
            f"steps done ({pct:.0f}%), {self.counts()}; elapsed "
            f"{format_seconds(self.elapsed())}, about {format_seconds(self.estimate())} left"
        )

    def render(self) -> None:
        if self.style == "bar":
            with self._lock():
                bar = self._bar
                if bar is None:
                    return
                bar.update(self.done - bar.n)
                bar.set_postfix_str(self.counts(), refresh=False)
                bar.refresh()
        elif self.style == "lines":
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self.lines_written += 1

    def _lock(self) -> Any:
        return self.screen.lock if self.screen is not None else contextlib.nullcontext()

    # -- the thread ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start showing."""
        self.started = time.monotonic()
        if self.style == "off":
            return
        if self.style == "bar":
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.total,
                desc=self.name or "ezpipe",
                unit="step",
                file=self.stream,
                dynamic_ncols=True,
                mininterval=0,
                leave=True,
            )
            if self.screen is not None:
                with self.screen.lock:
                    self.screen.bar = self._bar
        self._thread = threading.Thread(target=self._loop, name="ezpipe-progress", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.render()

    def close(self) -> None:
        """Stop the thread; show the final state (lines: only if any line was shown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.style == "bar" and self._bar is not None:
            self.render()
            with self._lock():
                if self.screen is not None:
                    self.screen.bar = None
                self._bar.close()
                self._bar = None
        elif self.style == "lines" and self.lines_written:
            self.render()
