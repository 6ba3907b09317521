"""Lookup handles: one object to inspect, load or clear a step's cache entry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import trust
from .errors import (
    FailedStepWarning,
    NotExecutedStepWarning,
    ResultNotAvailableError,
    ResultWarning,
    SkippedStepWarning,
    StepFailedError,
)
from .records import Status, StepRecord

if TYPE_CHECKING:
    from .pipeline import Pipeline
    from .steps import Step


@dataclass(frozen=True)
class StepPaths:
    folder: Path
    result: Path
    record: Path


class LookupHandle:
    """The cache entry of a step's *current* definition (its content key)."""

    def __init__(self, pipeline: Pipeline, step: Step) -> None:
        pipeline.freeze()
        self.pipeline = pipeline
        self.step = step
        store = pipeline.store
        self.paths = StepPaths(
            store.step_dir(step.name, step.key),
            store.result_path(step.name, step.key),
            store.record_path(step.name, step.key),
        )

    @property
    def name(self) -> str:
        return self.step.name

    @property
    def key(self) -> str:
        return self.step.key

    @property
    def record(self) -> StepRecord | None:
        return self.pipeline.store.read_record(self.step.name, self.step.key)

    @property
    def status(self) -> Status:
        record = self.record
        return Status.NOT_RUN if record is None else record.status

    @property
    def traceback(self) -> str | None:
        record = self.record
        return None if record is None else record.traceback

    def cached(self) -> bool:
        """True when a passed result with a verified checksum is on disk."""
        record = self.pipeline.store.valid_record(self.step.name, self.step.key)
        return record is not None and record.status == Status.PASSED

    def result(self) -> Any:
        """The cached value; re-raises a recorded failure as :class:`StepFailedError`."""
        record = self.record
        if record is not None and record.status == Status.FAILED:
            raise StepFailedError(
                record.name, record.error_type, record.error_message, record.traceback
            )
        trust.warn_if_open(self.pipeline.store.root)
        return self.pipeline.store.load_result(self.step.name, self.step.key)

    def clear_cache(self, downstream: bool = True) -> list[str]:
        """Delete this entry (and, by default, every step depending on it); the names cleared."""
        targets = [self.step.index]
        if downstream:
            targets += sorted(self.pipeline.freeze().descendants(self.step.index))
        cleared = []
        for index in targets:
            step = self.pipeline.steps[index]
            if self.pipeline.store.clear(step.name, step.key):
                cleared.append(step.name)
        return cleared

    def __repr__(self) -> str:
        return f"<LookupHandle {self.step.name!r} key={self.step.key[:12]} {self.status.name}>"


def why_missing(pipeline: Pipeline, step: Step, exc: ResultNotAvailableError) -> ResultWarning:
    """Why the pipeline has no result for ``step``, as the warning get_result raises."""
    record = pipeline.store.read_record(step.name, step.key)
    if record is not None and record.status == Status.FAILED:
        return FailedStepWarning(str(exc))
    if record is not None and record.status == Status.SKIPPED:
        return SkippedStepWarning(str(exc))
    if record is not None:
        return NotExecutedStepWarning(str(exc))  # its result file is damaged
    if pipeline.last_dry_run:
        return NotExecutedStepWarning(
            f"step {step.name!r} was not run: this was a dry run (nothing is computed)"
        )
    plan = pipeline.last_plan
    if plan is not None and plan.todo is not None and step.index not in set(plan.todo):
        return NotExecutedStepWarning(
            f"step {step.name!r} was not selected by run_only in this run and the folder "
            "holds no result for its current definition"
        )
    return NotExecutedStepWarning(str(exc))
