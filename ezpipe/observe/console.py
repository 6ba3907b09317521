"""The console lines of a run, in ezpyp's format (the only prints outside the CLI).

    [MPI process 00] [Running component of phase 00] [Executing Pickle Step Object 'alpha']
      ╰─> [PASS] 'alpha'

Each line is written with one call and flushed, so lines from different ranks
never interleave mid-line in the job's output.
"""

from __future__ import annotations

import sys
from typing import TextIO

from ..events import Observer


class Console(Observer):
    """Prints the PASS/FAIL/SKIP lines of the events this rank sees."""

    def __init__(self, rank: int, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.rank = rank
        self.enabled = enabled
        self._stream = stream

    def _write(self, line: str) -> None:
        if not self.enabled:
            return
        stream = self._stream or sys.stdout
        stream.write(line + "\n")
        stream.flush()

    def step_started(self, name: str, phase: int, rank: int) -> None:
        self._write(
            f"[MPI process {rank:02d}] [Running component of phase {phase:02d}] "
            f"[Executing Pickle Step Object {name!r}]"
        )

    def step_passed(self, name: str, rank: int) -> None:
        self._write(f"  ╰─> [PASS] {name!r}")

    def step_failed(self, name: str, rank: int, error: str) -> None:
        self._write(f"  ╰─> [FAIL] {name!r}: {error}")

    def step_reused(self, name: str, phase: int, rank: int, *, failed: bool) -> None:
        what = "cached failure, not re-run (mode='retry' runs it)" if failed else "result reused"
        self._write(
            f"[MPI process {rank:02d}] [Running component of phase {phase:02d}] "
            f"[CACHED] {name!r}: {what}"
        )

    def step_skipped(self, index: int, name: str, cause: str) -> None:
        self._write(f"  ╰─> [SKIP] {name!r} (upstream step {cause!r} did not pass)")

    def step_interrupted(self, name: str, rank: int) -> None:
        self._write(f"  ╰─> [STOP] {name!r}: interrupted by the stop signal, left for a rerun")

    def text(self, text: str) -> None:
        """A block the run shows as a whole: the summary table, the dry-run report."""
        self._write(text.rstrip("\n"))
