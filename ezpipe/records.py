"""The vocabulary every layer shares: statuses, modes, records, outcomes and the verdict.

:class:`StepRecord` is what the store keeps per step; :class:`StepOutcome` is the
small typed message a worker sends rank 0 about one step; :class:`RunTally` is
the one verdict of a run, which every surface (console headline, summary
files, ``run.json``, ``slurm_jobs.json``, exit codes) reads instead of counting
statuses its own way.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict


class Status(enum.IntEnum):
    """Outcome of a step; the integer values are ezpyp's status codes."""

    NOT_RUN = -1
    PASSED = 0
    FAILED = 1
    SKIPPED = 2

    @property
    def label(self) -> str:
        return _LABELS[self]


# A status from its int without Enum.__call__ (`ezpipe status` does 100,000 of them).
STATUS_BY_VALUE = {int(status): status for status in Status}
_LABELS = {
    Status.NOT_RUN: "NOT RUN",
    Status.PASSED: "PASS",
    Status.FAILED: "FAIL",
    Status.SKIPPED: "SKIP",
}


class Mode(str, enum.Enum):
    """How a step uses the cache (exca's semantics)."""

    CACHED = "cached"  # reuse what is there (errors included), compute what is missing
    FORCE = "force"  # recompute this step and everything downstream of it
    RETRY = "retry"  # recompute only what failed last time, reuse the rest
    READ_ONLY = "read-only"  # never compute; a missing result is a failure

    @classmethod
    def parse(cls, value: Mode | str) -> Mode:
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown cache mode {value!r}; use one of: {allowed}") from None


class StepRecord(BaseModel):
    """What happened to one step in one run; written as JSON next to its result."""

    model_config = ConfigDict(extra="allow")

    name: str
    key: str
    status: Status
    function: str = ""
    phase: int = -1
    rank: int | None = None
    host: str | None = None
    pid: int | None = None
    start: float | None = None
    end: float | None = None
    duration: float | None = None
    cached: bool = False
    checksum: str | None = None
    result_path: str | None = None
    result_bytes: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    skipped_because: str | None = None
    log_path: str | None = None  # the step's captured stdout/stderr, when it wrote any
    manifest: dict[str, Any] | None = None  # the parts of the key (ezpipe.keys), for "why"
    adopted_from: str | None = None  # the key whose result was accepted for this one
    accepted: list[str] | None = None  # the functions whose new code was accepted
    # where and with what it ran: every rank and host of a multi-rank step, rank 0 first
    ranks: list[int] | None = None
    hosts: list[str] | None = None
    threads: int | None = None
    gpus: list[int] | None = None
    # what it used, summed over its ranks: CPU seconds, this step's own peak resident
    # bytes, and CPU time / (wall x threads x ranks)
    cpu_time: float | None = None
    peak_memory: int | None = None
    cpu_efficiency: float | None = None
    # the step's output folder, when it asked for one: relative path -> {"size", "sha256"}
    output_files: dict[str, dict[str, Any]] | None = None

    def outcome(self, *, reused: bool = False) -> StepOutcome:
        """The small part of the record that travels back to rank 0."""
        return StepOutcome(
            status=self.status,
            rank=self.rank,
            host=self.host,
            start=self.start,
            end=self.end,
            duration=self.duration,
            cached=reused,
            error=self.error_message,
            skipped_because=self.skipped_because,
            ranks=tuple(self.ranks) if self.ranks else None,
            cpu_time=self.cpu_time,
            peak_memory=self.peak_memory,
            cpu_efficiency=self.cpu_efficiency,
        )


class RunRecord(BaseModel):
    """One run of a pipeline: ``run.json`` beside ``pipeline.schema``, written by rank 0.

    Written when the run starts (``end`` is None) and again when it ends, so a
    folder whose last run crashed or is still going says so.
    """

    model_config = ConfigDict(extra="allow")

    pipeline: str
    folder: str
    start: float
    end: float | None = None
    duration: float | None = None
    ranks: int = 1
    hosts: list[str] = []
    host: str = ""  # rank 0's host and pid: enough to tell a live run from a crashed one
    pid: int = 0
    ezpipe_version: str = ""
    python_version: str = ""
    mpi: str | None = None
    command: list[str] = []
    cwd: str = ""
    options: dict[str, Any] = {}
    counts: dict[str, int] = {}
    verdict: dict[str, Any] | None = None  # RunTally.as_dict() of the finished run
    # The finished run's steps that failed or were skipped: name -> [status, the upstream
    # step a skip waited for, whether a failure was reused]. Every other step passed, was
    # not selected or was cut short: `ezpipe status` of 100,000 steps reads this, not the
    # 40 MB summary.
    not_passed: dict[str, tuple[int, str | None, bool]] | None = None
    allocation: str | None = None  # the start-up check of the job against its steps


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What rank 0 learns about one step of a run (a worker's report, or a skip).

    ``rank`` and ``host`` say where the result was computed; ``cached`` says
    that this run reused it instead. ``interrupted``: a stop signal cut the step
    short, so it has no record and a rerun computes it. ``lines``: what the
    worker printed while it ran the step, carried to rank 0 when rank 0 shows a
    live bar (only rank 0 may write to the terminal then, or the bar breaks).
    ``storage_error``: ezpipe could not store the result or record (a full disk, a
    quota): not the step's failure, nothing is recorded, and the run stops starting
    steps.
    """

    status: Status
    rank: int | None = None
    host: str | None = None
    start: float | None = None
    end: float | None = None
    duration: float | None = None
    cached: bool = False
    error: str | None = None
    skipped_because: str | None = None
    interrupted: bool = False
    lines: tuple[str, ...] = ()
    storage_error: str | None = None  # ezpipe could not store it (a full disk): not recorded
    ranks: tuple[int, ...] | None = None  # a multi-rank step's ranks, its rank 0 first
    cpu_time: float | None = None
    peak_memory: int | None = None
    cpu_efficiency: float | None = None
    stuck: tuple[int, ...] = ()  # ranks of this step that did not return: end the job


WORDS = ("Completed", "Failed", "Interrupted", "Incomplete")


def skipped_error(cause: str | None) -> str:
    """What the summary says of a step skipped because upstream step ``cause`` failed."""
    return f"skipped: upstream {cause!r} did not pass"


@dataclass(frozen=True)
class RunTally:
    """The one verdict of a run, answering two questions.

    ``asked_done``: did this run do what it was asked (every selected step passed,
    computed or reused, and no stop signal cut it short)? That sets the exit
    codes. ``complete``: does the folder hold a passed result for the current
    definition of every step (a step left out by ``run_only`` counts when it
    does)? That, with failures, sets the headline word.
    """

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    not_run: int = 0
    cached: int = 0
    selected: int = 0
    asked_done: bool = True
    complete: bool = True
    interrupted: bool = False
    dry_run: bool = False

    @classmethod
    def of(
        cls,
        outcomes: Sequence[StepOutcome | None],
        selected: Iterable[int] | None = None,
        *,
        interrupted: bool = False,
        dry_run: bool = False,
    ) -> RunTally:
        """Tally ``outcomes`` (one per step; None: no outcome) of a run that was asked
        to run ``selected`` (None: every step)."""
        statuses = [Status.NOT_RUN if o is None else o.status for o in outcomes]
        wanted = range(len(outcomes)) if selected is None else list(selected)
        interrupted = interrupted or any(o is not None and o.interrupted for o in outcomes)
        return cls(
            passed=statuses.count(Status.PASSED),
            failed=statuses.count(Status.FAILED),
            skipped=statuses.count(Status.SKIPPED),
            not_run=statuses.count(Status.NOT_RUN),
            cached=sum(1 for o in outcomes if o is not None and o.cached),
            selected=len(wanted),
            asked_done=not interrupted and all(statuses[i] == Status.PASSED for i in wanted),
            complete=all(s == Status.PASSED for s in statuses),
            interrupted=interrupted,
            dry_run=dry_run,
        )

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped + self.not_run

    @property
    def word(self) -> str:
        """``Completed``, ``Failed``, ``Interrupted`` or ``Incomplete`` (steps left out)."""
        if self.interrupted:
            return "Interrupted"
        if self.complete:
            return "Completed"
        return "Incomplete" if self.asked_done else "Failed"

    @property
    def outcome(self) -> str:
        """The word in lower case: the ``outcome`` of a Slurm job's entry."""
        return self.word.lower()

    @property
    def exit_code(self) -> int:
        """0 when the run did what it was asked, 1 otherwise (``ezpipe``'s codes)."""
        return 0 if self.asked_done else 1

    def counts(self) -> dict[str, int]:
        """Non-zero counts by status label (``pass``, ``fail``, ``skip``, ``not run``)."""
        pairs = zip(
            ("pass", "fail", "skip", "not run"),
            (self.passed, self.failed, self.skipped, self.not_run),
            strict=True,
        )
        return {label: n for label, n in pairs if n}

    def describe(self) -> str:
        """``3 steps: 2 pass, 1 fail, 1 from cache``."""
        parts = [f"{n} {label}" for label, n in self.counts().items()]
        if self.cached:
            parts.append(f"{self.cached} from cache")
        return f"{self.total} steps: {', '.join(parts) or 'none'}"

    def headline(self, folder: str) -> str:
        return f"Pipeline {self.word} @ {folder}  ({self.describe()})"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "word": self.word}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunTally:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in names})
