"""One ``execute()``, as named phases every rank walks through together.

``agree``
    every rank froze the same pipeline (a hash compared across ranks); rank 0
    writes ``pipeline.schema`` and takes the folder lock.
``begin``
    rank 0 records the start (``run.json``, the Slurm job entry) and the
    observers subscribe; the ranks start together.
``run``
    the engine runs the plan (:func:`ezpipe.engine.loop.run`).
``finish``
    rank 0 tallies the one verdict (:class:`RunTally`), tells the observers,
    writes the summary and the run log; every rank gets the table.

Rank-0-only work sits between collectives; if it fails, the job is aborted
with a message rather than leaving the other ranks waiting. A stop signal
ends the process with status 75 (resubmit me) after the summary is written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import pandas as pd

from .engine import allocation, capture, preempt, topology
from .engine.comm import Comm
from .engine.coordinator import Coordinator
from .engine.gangcoord import PlacedCoordinator, placed_plan
from .engine.loop import RunOutcome, workers_of
from .engine.loop import run as run_plan
from .engine.placement import Node, refuse_oversized, refuse_unplaceable
from .engine.sandbox import HOST
from .engine.skips import SkipRecorder
from .errors import EXIT_STUCK, JobInterrupted
from .events import Observers
from .graph import FrozenGraph
from .observe import summary as summary_mod
from .observe.console import Console
from .observe.progress import Progress, choose_style
from .options import RunOptions, env
from .plan import Plan, dry_run_rows, dry_run_text, durations, stored_passes
from .records import RunTally, Status, StepOutcome, StepRecord
from .runlog import RunLog, note
from .steps import Step
from .store import Store

log = logging.getLogger(__name__)


class Pipeline(Protocol):
    """What a session needs of the pipeline it runs (the facade in :mod:`ezpipe.pipeline`)."""

    name: str
    store: Store

    @property
    def folder(self) -> str: ...
    @property
    def comm(self) -> Comm: ...
    @property
    def steps(self) -> list[Step]: ...
    def freeze(self) -> FrozenGraph: ...
    def initialize_schema(self) -> FrozenGraph: ...
    def check_ranks_agree(self, frozen: FrozenGraph) -> None: ...
    def release(self) -> None: ...
    def remember(
        self,
        statuses: Sequence[Status] | None,
        plan: Plan,
        *,
        dry_run: bool = False,
        summary: pd.DataFrame | None = None,
    ) -> None: ...


@contextlib.contextmanager
def fatal_on_root(pipeline: Pipeline, what: str) -> Iterator[None]:
    """Rank-0-only work between collectives: if it fails, end the job with a message
    rather than leave the other ranks waiting in the next collective."""
    try:
        yield
    except BaseException as exc:
        if pipeline.comm.size > 1:
            pipeline.comm.abort(f"rank 0 could not {what}: {type(exc).__name__}: {exc}")
        pipeline.release()
        raise


class Session:
    """The state of one ``execute()`` of ``pipeline`` with ``options``."""

    def __init__(self, pipeline: Pipeline, options: RunOptions) -> None:
        self.pipeline = pipeline
        self.options = options
        self.comm: Comm = pipeline.comm
        self.store = pipeline.store
        frozen = pipeline.freeze()
        self.plan = Plan.make(pipeline.steps, frozen, options)  # pure: every rank alike
        placed = placed_plan(self.plan)
        refuse_oversized(self.plan, len(workers_of(self.comm, placed)))  # every rank alike
        self.nodes: list[Node] | None = None
        self.history: dict[int, float] = {}
        self.console = Console(self.comm.rank, enabled=options.echo)
        self.run_log: RunLog | None = None
        self.coordinator_events = Observers([self.console])

    # -- the phases -----------------------------------------------------------------------------
    def execute(self) -> pd.DataFrame:
        if self.options.dry_run:
            return self.dry_run()
        self.agree()
        self.place()
        self.begin()
        outcome = self.run()
        frame, tally = self.finish(outcome)
        if tally.interrupted:
            self.stopped(tally)
        return frame

    def agree(self) -> None:
        self.pipeline.initialize_schema()

    def place(self) -> None:
        """Where steps can run: every rank's node (a collective), each placed step checked
        against the nodes on every rank alike, and rank 0's durations of earlier runs."""
        if placed_plan(self.plan):
            infos = topology.gather(self.comm)
            self.nodes = topology.nodes_of(
                infos, workers_of(self.comm, True), env("EZPIPE_PRETEND_NODES")
            )
            refuse_unplaceable(self.plan, self.nodes)
        if self.comm.rank == 0:
            with fatal_on_root(self.pipeline, "read the durations of earlier runs"):
                self.history = durations(self.plan, self.store)

    def begin(self) -> None:
        comm = self.comm
        hosts = comm.allgather(HOST)
        if comm.rank == 0:
            with fatal_on_root(self.pipeline, "record the start of the run"):
                verdict = allocation.check(
                    self.plan.steps, comm.size, self.nodes, self.pipeline.folder
                )
                if not verdict.ok or self.nodes is not None or os.environ.get("SLURM_JOB_ID"):
                    sys.stderr.write(verdict.line + "\n")
                self.run_log = RunLog.begin(
                    self.store,
                    self.pipeline.name,
                    comm.size,
                    hosts,
                    self.options.steering(),
                    allocation=verdict.line,
                )
                self.coordinator_events.add(SkipRecorder(self.plan.steps, self.store))
                style = choose_style(self.options.progress, sys.stderr)
                if style != "off":
                    self.coordinator_events.add(Progress(0, style=style, name=self.pipeline.name))
                self.coordinator_events.run_started(len(self.plan.selected))
        comm.bcast(None)  # the ranks start together, once rank 0 has recorded the start

    def run(self) -> RunOutcome:
        try:
            with preempt.stop_on_signal(), capture.routing():
                return run_plan(
                    self.plan,
                    self.comm,
                    self.store,
                    self.console,
                    self.coordinator_events,
                    history=self.history,
                    nodes=self.nodes,
                    on_stuck=self.stuck,
                )
        except BaseException as exc:
            if self.comm.size > 1:
                self.comm.abort(
                    f"pipeline {self.pipeline.name!r} failed: {type(exc).__name__}: {exc}"
                )
            self.pipeline.release()
            raise

    def finish(self, outcome: RunOutcome) -> tuple[pd.DataFrame, RunTally]:
        comm = self.comm
        result: tuple[pd.DataFrame, RunTally, list[Status]] | None = None
        if comm.rank == 0:
            with fatal_on_root(self.pipeline, "write the summary"):
                result = self._conclude(outcome)
        frame, tally, statuses = comm.bcast(result)  # type: ignore[misc]
        self.pipeline.remember(statuses, self.plan, summary=frame)
        self.pipeline.release()
        return frame, tally

    def _conclude(self, outcome: RunOutcome) -> tuple[pd.DataFrame, RunTally, list[Status]]:
        """Rank 0: the verdict, the observers told, the summary and the run log written."""
        outcomes: list[StepOutcome | None] = list(outcome.outcomes)
        for index, record in stored_passes(self.plan, self.store).items():
            outcomes[index] = record.outcome(reused=True)
        interrupted = outcome.interrupted or preempt.interrupted(outcomes, self.plan.selected)
        tally = RunTally.of(outcomes, self.plan.todo, interrupted=interrupted)
        self.coordinator_events.run_finished(tally)
        frame = summary_mod.summary_frame(self.plan.steps, outcomes, self.store)
        try:
            text = summary_mod.write(self.store, frame, tally)
        except OSError as exc:
            log.error("could not write the summary files: %s", exc)
            text = tally.headline(self.pipeline.folder)
        assert self.run_log is not None
        self.run_log.end(tally)
        if self.options.echo:  # the file's text when short; its head and tail when long
            if len(frame) > summary_mod.PRINT_ROWS:
                table = summary_mod.render(frame, self.pipeline.folder, summary_mod.PRINT_ROWS)
                text = f"{text.splitlines()[0]}\n{table}"
            Console(0).text(text)
        statuses = [Status.NOT_RUN if o is None else o.status for o in outcomes]
        return frame, tally, statuses

    def stuck(self, coordinator: Coordinator) -> None:
        """A step's ranks cannot be freed: on rank 0's coordinator thread, write that
        step's failure, every finished record's summary and the run log, then end the
        job with :data:`EXIT_STUCK`; a rerun resumes."""
        assert isinstance(coordinator, PlacedCoordinator) and coordinator.stuck is not None
        index, outcome = coordinator.stuck
        step = self.plan.steps[index]
        if self.store.read_record(step.name, step.key) is None:  # its rank 0 never wrote it
            record = StepRecord(
                name=step.name,
                key=step.key,
                status=Status.FAILED,
                function=step.function_name,
                phase=step.phase,
                rank=outcome.rank,
                error_type="StepStuck",
                error_message=outcome.error,
            )
            with contextlib.suppress(OSError):
                self.store.write_record(record)
        statuses = [Status.NOT_RUN if o is None else o.status for o in coordinator.outcomes]
        message = (
            f"pipeline {self.pipeline.name!r}: step {step.name!r} failed and world ranks "
            f"{sorted(outcome.stuck)} cannot be freed ({outcome.error}); the records and the "
            f"summary are written, a rerun resumes"
        )
        try:
            self._conclude(RunOutcome(statuses, coordinator.outcomes))
        finally:
            Console(0).text(f"ezpipe: {message}")
            self.comm.abort(message, code=EXIT_STUCK)

    def stopped(self, tally: RunTally) -> None:
        """A stop signal cut the run short: end the process with status 75 (resubmit me)."""
        left = tally.total - tally.passed
        message = (
            f"pipeline {self.pipeline.name!r} stopped on the job's stop signal with {left} "
            "step(s) not passed; run it again (the job script resubmits itself when asked) "
            "to resume"
        )
        Console(self.comm.rank, enabled=self.comm.rank == 0).text(f"ezpipe: {message}")
        raise JobInterrupted(message)

    # -- the dry run ----------------------------------------------------------------------------
    def dry_run(self) -> pd.DataFrame:
        """Report what the plan would do; writes ``pipeline.dryrun`` and nothing else."""
        self.pipeline.check_ranks_agree(self.plan.frozen)
        comm = self.comm
        rows: list[dict[str, Any]] | None = None
        if comm.rank == 0:
            rows = dry_run_rows(self.plan, self.store)
            text = dry_run_text(rows, self.pipeline.folder)
            try:
                self.store.root.mkdir(parents=True, exist_ok=True)
                self.store.write_text(self.store.dry_run_path, text)
            except OSError as exc:
                log.error("could not write the dry-run report: %s", exc)
            self.console.text(text)
            note(self.pipeline.folder, passed=True, dry_run=True)
        frame = pd.DataFrame(comm.bcast(rows))
        self.pipeline.remember(None, self.plan, dry_run=True, summary=frame)
        return frame
