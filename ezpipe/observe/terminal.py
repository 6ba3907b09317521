"""One terminal, one writer: lines scroll above rank 0's live bar.

A tqdm bar redraws its line with a carriage return; any other write that
reaches the terminal while the bar sits there lands on the bar's line. Under
``mpiexec`` every rank's stdout and stderr reach the terminal through the
launcher, so rank 0 cannot interpose. While a bar is shown the session therefore:

* on rank 0, replaces ``sys.stdout`` and ``sys.stderr`` by :class:`LineStream`
  objects that hand each complete line to :meth:`Screen.write`, which clears the
  bar, writes the line and redraws the bar under the lock the bar's renderer
  also takes;
* on every other rank, replaces them by line streams into a :class:`Relay`,
  whose lines the worker attaches to each step's outcome
  (:attr:`ezpipe.records.StepOutcome.lines`); rank 0's console writes them on
  the screen when the outcome arrives. A worker's lines thus appear when its
  step ends, never on the bar's line.

Without a bar (a file, a Slurm output) nothing here is used: each rank writes
its own lines, flushed one at a time, as ezpyp did.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TextIO

from ..events import Observer

RELAY_LIMIT = 200  # lines one step may send rank 0; the rest stays in the step's log


class Screen:
    """Rank 0's terminal while a bar is shown: the bar and the lines above it, one lock."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lock = threading.RLock()
        self.bar: Any = None  # the tqdm bar while it is shown (set by Progress)

    def write(self, text: str) -> None:
        """Write whole lines above the bar (``text`` ends with a newline)."""
        with self.lock:
            bar = self.bar
            if bar is not None:
                bar.clear()
            self.stream.write(text)
            self.stream.flush()
            if bar is not None:
                bar.refresh()


class LineStream:
    """A text stream that hands complete lines to ``sink``; partial lines wait for their end."""

    def __init__(self, sink: Callable[[str], None], original: TextIO) -> None:
        self.sink = sink
        self.original = original
        self._partial = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            text = self._partial + text
            cut = text.rfind("\n") + 1
            self._partial = text[cut:]
            whole = text[:cut]
        if whole:
            self.sink(whole)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Partial lines stay until their newline: a flush must not split a line."""

    def close_line(self) -> None:
        """Hand on what is left of an unterminated line."""
        with self._lock:
            rest, self._partial = self._partial, ""
        if rest:
            self.sink(rest + "\n")

    def isatty(self) -> bool:
        return False  # the bar owns the terminal: a step must not draw its own bars there

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, buffer, ...
        return getattr(self.original, name)


class Relay(Observer):
    """A worker's lines, held until the worker reports its step to rank 0."""

    def __init__(self, limit: int = RELAY_LIMIT) -> None:
        self.limit = limit
        self._lines: list[str] = []
        self._lock = threading.Lock()

    def sink(self, text: str) -> None:
        """Where this rank's line streams put complete lines."""
        with self._lock:
            self._lines.extend(text.splitlines())

    def relay(self) -> tuple[str, ...]:
        with self._lock:
            lines, self._lines = self._lines, []
        if len(lines) > self.limit:
            dropped = len(lines) - self.limit
            lines = [f"... {dropped} lines not shown (see the step's log)", *lines[-self.limit :]]
        return tuple(lines)
