"""The console lines of a run, in ezpyp's format (the only prints outside the CLI).

    [MPI process 00] [Running component of phase 00] [Executing Pickle Step Object 'alpha']
      ╰─> [PASS] 'alpha'

Three levels (``Pipeline(console=...)``, ``execute(console=...)``,
``ezpipe run -q/-v``, ``EZPIPE_CONSOLE``):

``quiet``
    the progress report and failures only: rank 0 prints one line per failed
    step (name, rank, error) as it learns of it; steps' own output is not echoed.
``normal``
    ezpyp's reference lines above, byte for byte, from the rank that ran the step.
``verbose``
    those, plus rank 0's view: which steps went to which rank, and each step's
    duration and host as it settles.

Each line is written with one call and flushed, so lines from different ranks
never interleave mid-line in the job's output. When rank 0 shows a live bar
(``routed``), workers' lines arrive with their outcomes (see
:mod:`ezpipe.observe.terminal`) and this console writes them, then the SKIP
lines their failure caused, in that order.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from ..events import Observer
from ..options import CONSOLE_LEVELS
from ..records import Status, StepOutcome


def last_line(error: str | None) -> str:
    """The last non-empty line of an error message (what a one-line report shows)."""
    lines = [line for line in (error or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


class Console(Observer):
    """Prints the PASS/FAIL/SKIP lines of the events this rank sees, at one level."""

    def __init__(
        self,
        rank: int,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        level: str = "normal",
        names: Sequence[str] = (),
        routed: bool = False,
    ) -> None:
        if level not in CONSOLE_LEVELS:
            raise ValueError(f"unknown console level {level!r}; use one of {CONSOLE_LEVELS}")
        self.rank = rank
        self.enabled = enabled
        self.level = level
        self.names = list(names)  # step names by index: rank 0's events carry indices
        self.routed = routed
        self._stream = stream
        self._deferred: list[str] = []  # SKIP lines waiting for the relayed FAIL line
        self._settled = 0

    @property
    def steps_shown(self) -> bool:
        """Whether the per-step reference lines are shown (normal and verbose)."""
        return self.enabled and self.level != "quiet"

    def _write(self, line: str) -> None:
        if not self.enabled:
            return
        stream = self._stream or sys.stdout
        stream.write(line + "\n")
        stream.flush()

    def _step_line(self, line: str) -> None:
        if self.steps_shown:
            self._write(line)

    # -- what this rank's worker does -----------------------------------------------------------
    def step_started(self, name: str, phase: int, rank: int) -> None:
        self._step_line(
            f"[MPI process {rank:02d}] [Running component of phase {phase:02d}] "
            f"[Executing Pickle Step Object {name!r}]"
        )

    def step_passed(self, name: str, rank: int) -> None:
        self._step_line(f"  ╰─> [PASS] {name!r}")

    def step_failed(self, name: str, rank: int, error: str) -> None:
        self._step_line(f"  ╰─> [FAIL] {name!r}: {error}")

    def step_reused(self, name: str, phase: int, rank: int, *, failed: bool) -> None:
        what = "cached failure, not re-run (mode='retry' runs it)" if failed else "result reused"
        self._step_line(
            f"[MPI process {rank:02d}] [Running component of phase {phase:02d}] "
            f"[CACHED] {name!r}: {what}"
        )

    def step_interrupted(self, name: str, rank: int) -> None:
        self._write(f"  ╰─> [STOP] {name!r}: interrupted by the stop signal, left for a rerun")

    # -- what rank 0's coordinator decides and learns -------------------------------------------
    def step_skipped(self, index: int, name: str, cause: str) -> None:
        line = f"  ╰─> [SKIP] {name!r} (upstream step {cause!r} did not pass)"
        if not self.steps_shown:
            return
        if self.routed:
            self._deferred.append(line)  # after the failure's own lines, which come next
        else:
            self._write(line)

    def steps_assigned(self, indices: Sequence[int], rank: int) -> None:
        if self.level == "verbose" and self.enabled:
            shown = ", ".join(repr(self._name(i)) for i in indices[:4])
            more = f" and {len(indices) - 4} more" if len(indices) > 4 else ""
            self._write(f"[ezpipe] rank {rank:02d} <- {shown}{more}")

    def step_settled(self, index: int, outcome: StepOutcome, skipped: Sequence[int]) -> None:
        self._settled += 1
        if not self.enabled:
            return
        if self.routed and outcome.lines:  # gated by level on the worker already
            self._write("\n".join(outcome.lines))
        for line in self._deferred:
            self._write(line)
        self._deferred.clear()
        name = self._name(index)
        if self.level == "quiet" and outcome.status == Status.FAILED and not outcome.cached:
            self._write(f"[FAIL] {name!r} on rank {outcome.rank}: {last_line(outcome.error)}")
        elif self.level == "verbose":
            took = "" if outcome.duration is None else f" in {outcome.duration:.3f} s"
            where = "" if outcome.host is None else f" ({outcome.host})"
            reused = ", from cache" if outcome.cached else ""
            self._write(
                f"[ezpipe] {Status(outcome.status).label} {name!r} on rank {outcome.rank}"
                f"{where}{took}{reused}; {self._settled} settled"
                + (f", {len(skipped)} skipped because of it" if skipped else "")
            )

    def _name(self, index: int) -> str:
        return self.names[index] if index < len(self.names) else f"#{index}"

    def text(self, text: str) -> None:
        """A block the run shows as a whole: the summary, the dry-run report."""
        self._write(text.rstrip("\n"))
