"""The vocabulary shared by runner, store and summary: statuses and step records."""

from __future__ import annotations

import enum
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
        return {-1: "NOT RUN", 0: "PASS", 1: "FAIL", 2: "SKIP"}[int(self)]


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

    def outcome(self) -> dict[str, Any]:
        """The small part of the record that travels back to rank 0."""
        return self.model_dump(mode="json")


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
