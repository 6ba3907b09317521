"""Each step's Python-level stdout and stderr, captured to its own log file.

While a run executes, ``sys.stdout`` and ``sys.stderr`` are replaced by
routers. A router sends a write to the log file of the step this process is
running (one at a time per rank), and, when ``tee`` is on, also to the real
stream with every line prefixed ``[step name]``. Writes from threads whose
name starts with ``ezpipe-`` (rank 0's coordinator and progress threads)
always go to the real stream: the coordinator's SKIP lines and the progress
lines must not land in whichever step rank 0's worker happens to be running.
Threads a step starts itself are captured with it.

The log file is opened on the first write only, so a silent step costs no
file; :attr:`StepOutput.written_path` says whether there is one. Output of C
code and subprocesses (file descriptors 1 and 2) is not captured.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger(__name__)

EXEMPT_PREFIX = "ezpipe-"  # threads named so are never captured


class StepOutput:
    """Where one step's output goes: a lazily opened file, optionally tee'd."""

    def __init__(
        self,
        path: Path,
        name: str,
        *,
        tee: bool = True,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.path = path
        self.name = name
        self.tee = tee
        self._streams = {"stdout": stdout, "stderr": stderr}
        self._partial = {"stdout": "", "stderr": ""}
        self._file: TextIO | None = None
        self._broken = False
        self._lock = threading.Lock()

    @property
    def written_path(self) -> str | None:
        """The log file's path if the step wrote anything, else None."""
        return str(self.path) if self._file is not None else None

    def write(self, text: str, which: str) -> None:
        with self._lock:
            if not self._broken:
                self._write_file(text)
            if self.tee:
                self._write_tee(text, which)

    def _write_file(self, text: str) -> None:
        try:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "w", encoding="utf-8", errors="replace")  # noqa: SIM115
            self._file.write(text)
        except OSError as exc:
            self._broken = True
            log.warning("cannot write the log of step %r to %s: %s", self.name, self.path, exc)

    def _write_tee(self, text: str, which: str) -> None:
        stream = self._streams[which]
        if stream is None:
            return
        text = self._partial[which] + text
        lines = text.split("\n")
        self._partial[which] = lines.pop()
        if lines:
            prefix = f"[{self.name}] "
            stream.write("".join(f"{prefix}{line}\n" for line in lines))
            stream.flush()

    def close(self) -> None:
        with self._lock:
            for which, rest in self._partial.items():
                if rest:
                    self._partial[which] = ""
                    self._write_tee(rest + "\n", which)
            if self._file is not None:
                try:
                    self._file.close()
                except OSError as exc:
                    log.warning("cannot close the log of step %r: %s", self.name, exc)


_active: StepOutput | None = None  # the step this process is running, if capturing


class Router:
    """Stands in for ``sys.stdout`` / ``sys.stderr`` while a run executes."""

    def __init__(self, stream: TextIO, which: str) -> None:
        self.stream = stream
        self.which = which

    def _target(self) -> StepOutput | None:
        target = _active
        if target is None or threading.current_thread().name.startswith(EXEMPT_PREFIX):
            return None
        return target

    def write(self, text: str) -> int:
        target = self._target()
        if target is None:
            return self.stream.write(text)
        target.write(text, self.which)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self._target() is None and self.stream.isatty()

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, buffer, ...
        return getattr(self.stream, name)


@contextmanager
def routing() -> Iterator[None]:
    """Install the routers for the duration of a run (re-entrant)."""
    if isinstance(sys.stdout, Router) and isinstance(sys.stderr, Router):
        yield
        return
    out, err = Router(sys.stdout, "stdout"), Router(sys.stderr, "stderr")
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    try:
        yield
    finally:
        if sys.stdout is out:
            sys.stdout = out.stream
        if sys.stderr is err:
            sys.stderr = err.stream


class capturing:  # lower case: used like a function, ``with capturing(output):``
    """Send this process's stdout/stderr (exempt threads aside) to ``output``.

    A class rather than a generator: it runs once per step, so it is kept cheap
    (a few microseconds) when the routers are already installed by the run.
    """

    def __init__(self, output: StepOutput) -> None:
        self.output = output
        self._routing: Any = None
        self._previous: StepOutput | None = None

    def __enter__(self) -> StepOutput:
        global _active
        if not (isinstance(sys.stdout, Router) and isinstance(sys.stderr, Router)):
            self._routing = routing()
            self._routing.__enter__()
        streams = self.output._streams
        if streams["stdout"] is None:
            streams["stdout"] = sys.stdout.stream  # type: ignore[attr-defined]
        if streams["stderr"] is None:
            streams["stderr"] = sys.stderr.stream  # type: ignore[attr-defined]
        self._previous, _active = _active, self.output
        return self.output

    def __exit__(self, *exc: object) -> None:
        global _active
        _active = self._previous
        self.output.close()
        if self._routing is not None:
            self._routing.__exit__(None, None, None)
