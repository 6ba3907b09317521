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
from typing import Any, NoReturn, Protocol

import pandas as pd

from .adopt import adopt
from .bulk import no_gc
from .engine import allocation, capture, fatal, preempt, topology
from .engine.comm import Comm
from .engine.coordinator import Coordinator
from .engine.gangcoord import PlacedCoordinator, placed_plan
from .engine.loop import RunOutcome, workers_of
from .engine.loop import run as run_plan
from .engine.placement import Node, refuse_oversized, refuse_unplaceable
from .engine.sandbox import HOST
from .engine.skips import SkipRecorder
from .errors import EXIT_CTRL_C, EXIT_STUCK, JobInterrupted, RunCancelled, StorageFullError
from .events import Observers
from .graph import FrozenGraph
from .observe import summary as summary_mod
from .observe.console import Console
from .observe.digest import digest, table
from .observe.progress import Progress, choose_style
from .observe.terminal import LineStream, Relay, Screen
from .options import RunOptions, env
from .plan import (
    Plan,
    dry_run_digest,
    dry_run_rows,
    dry_run_text,
    durations,
    expected_reuse,
    stored_passes,
)
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
    def lock_for_run(self) -> FrozenGraph: ...
    def agree(self) -> FrozenGraph: ...
    def release(self) -> None: ...
    def remember(
        self,
        statuses: Sequence[Status] | None,
        plan: Plan,
        *,
        dry_run: bool = False,
        summary: pd.DataFrame | None = None,
        tally: RunTally | None = None,
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
        if options.console == "quiet":  # the bar and failures only: steps' output to logs
            options = options.replace(tee_output=False)
        self.pipeline = pipeline
        self.options = options
        self.comm: Comm = pipeline.comm
        self.store = pipeline.store
        frozen = pipeline.agree()  # a collective: no rank leaves alone
        self.plan = Plan.make(pipeline.steps, frozen, options)  # pure: every rank alike
        placed = placed_plan(self.plan)
        refuse_oversized(self.plan, len(workers_of(self.comm, placed)))  # every rank alike
        self.nodes: list[Node] | None = None
        self.history: dict[int, float] = {}
        self.reused: frozenset[int] = frozenset()  # rank 0: plan.expected_reuse
        self.console = Console(
            self.comm.rank,
            enabled=options.echo,
            level=options.console,
            names=[step.name for step in self.plan.steps],
        )
        self.run_log: RunLog | None = None
        self.adopted: list[str] = []  # rank 0: steps whose stored results were accepted
        self.coordinator_events = Observers([self.console])
        self.worker_events = Observers([self.console])
        self.style = "off"  # rank 0's progress style, told to every rank in begin()
        self.screen: Screen | None = None

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
        self.pipeline.lock_for_run()

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
                self.reused = expected_reuse(self.plan, self.store)

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
                self.adopted = adopt(
                    self.plan,
                    self.store,
                    self.options.accept or (),
                    accept_scheme=self.options.accept_scheme,
                )
                self.coordinator_events.add(SkipRecorder(self.plan.steps, self.store))
                style = choose_style(self.options.progress, sys.stderr)
                if style == "bar":
                    self.screen = Screen(sys.stderr)
                if style != "off":
                    progress = Progress(0, style=style, name=self.pipeline.name, screen=self.screen)
                    self.coordinator_events.add(progress)
                self.style = style
        # the ranks start together, once rank 0 has recorded the start and chosen its style
        self.style = comm.bcast(self.style)
        self.console.routed = self.style == "bar" and comm.size > 1
        if comm.rank == 0:
            with fatal_on_root(self.pipeline, "start the progress report"):
                self.coordinator_events.run_started(len(self.plan.selected))

    def run(self) -> RunOutcome:
        try:
            with preempt.stop_on_signal(), self.terminal(), capture.routing():
                return run_plan(
                    self.plan,
                    self.comm,
                    self.store,
                    self.worker_events,
                    self.coordinator_events,
                    self.options.switch_interval,
                    history=self.history,
                    reused=self.reused,
                    nodes=self.nodes,
                    on_stuck=self.stuck,
                )
        except KeyboardInterrupt:
            self.pipeline.release()
            self.cancelled()
        except BaseException as exc:
            if self.comm.size > 1:
                self.comm.abort(
                    f"pipeline {self.pipeline.name!r} failed: {type(exc).__name__}: {exc}"
                )
            self.pipeline.release()
            raise

    @contextlib.contextmanager
    def terminal(self) -> Iterator[None]:
        """While rank 0 shows a bar, every line of every rank goes above it, through rank 0.

        Rank 0 writes its lines on the :class:`Screen`; the other ranks keep theirs in a
        :class:`Relay`, whose lines travel with each step's outcome (see
        :mod:`ezpipe.observe.terminal`). Without a bar the streams stay as they are.
        """
        if self.style != "bar" or isinstance(sys.stdout, LineStream):
            yield
            return
        saved = sys.stdout, sys.stderr
        relay: Relay | None = None
        if self.screen is not None:
            sink = self.screen.write
        else:
            relay = Relay()
            self.worker_events.add(relay)
            sink = relay.sink
        out, err = LineStream(sink, saved[0]), LineStream(sink, saved[1])
        sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
        try:
            yield
        finally:
            out.close_line()
            err.close_line()
            sys.stdout, sys.stderr = saved
            if relay is not None and (left := relay.relay()):  # printed after the last step
                saved[0].write("".join(line + "\n" for line in left))
                saved[0].flush()

    def finish(self, outcome: RunOutcome) -> tuple[pd.DataFrame, RunTally]:
        comm = self.comm
        result: tuple[pd.DataFrame, RunTally, list[Status], str | None] | None = None
        if comm.rank == 0:
            with fatal_on_root(self.pipeline, "write the summary"):
                result = (*self._conclude(outcome), outcome.storage_error)
        frame, tally, statuses, storage_error = comm.bcast(result)  # type: ignore[misc]
        self.pipeline.remember(statuses, self.plan, summary=frame, tally=tally)
        self.pipeline.release()
        if storage_error is not None:  # every rank alike, once the lock is released
            left = tally.total - tally.passed
            raise StorageFullError(
                f"pipeline {self.pipeline.name!r} stopped: {storage_error}. No step was "
                f"recorded as failed for it; {left} step(s) not passed. Free space (or quota) "
                "and run the same command again: it computes what could not be stored"
            )
        return frame, tally

    def _conclude(self, outcome: RunOutcome) -> tuple[pd.DataFrame, RunTally, list[Status]]:
        """Rank 0: the verdict, the observers told, the summary and the run log written."""
        with no_gc():  # a row per step, no cycles: 100,000 steps' collections cost a second
            return self._conclude_now(outcome)

    def _conclude_now(self, outcome: RunOutcome) -> tuple[pd.DataFrame, RunTally, list[Status]]:
        outcomes: list[StepOutcome | None] = list(outcome.outcomes)
        for index, record in stored_passes(self.plan, self.store).items():
            outcomes[index] = record.outcome(reused=True)
        interrupted = outcome.interrupted or preempt.interrupted(outcomes, self.plan.selected)
        tally = RunTally.of(outcomes, self.plan.todo, interrupted=interrupted)
        self.coordinator_events.run_finished(tally)
        rows = summary_mod.summary_rows(self.plan.steps, outcomes, self.store)
        frame = summary_mod.summary_frame(rows)
        try:
            summary_mod.write(self.store, rows, tally)
        except OSError as exc:
            log.error("could not write the summary files: %s", exc)
        assert self.run_log is not None
        not_passed = {
            self.plan.steps[i].name: (int(o.status), o.skipped_because, o.cached)
            for i, o in enumerate(outcomes)
            if o is not None and o.status in (Status.FAILED, Status.SKIPPED)
        }
        self.run_log.end(tally, not_passed)
        if self.options.echo:  # what matters first; the whole table when verbose
            level = self.options.console
            folder = self.pipeline.folder
            shown = digest(
                rows,
                tally.headline(folder),
                folder,
                level=level,
                table_path=str(self.store.summary_path),
            )
            if level == "verbose":
                shown += "\n" + table(rows) + "\n"
            Console(0).text(shown)
        statuses = [Status.NOT_RUN if o is None else o.status for o in outcomes]
        return frame, tally, statuses

    def cancelled(self) -> NoReturn:
        """Ctrl-C: one line from rank 0, status 130, no traceback on any rank. Every rank got
        the signal, so under MPI each leaves at once (nobody waits for a collective)."""
        message = (
            f"pipeline {self.pipeline.name!r} interrupted (Ctrl-C); the steps it cut short are "
            "not recorded: run the same command again to resume"
        )
        if self.comm.rank == 0:
            sys.stdout.flush()
            sys.stderr.write(f"ezpipe: {message}\n")
            sys.stderr.flush()
        if self.comm.size > 1:
            fatal.end(EXIT_CTRL_C)
        raise RunCancelled(message) from None

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
        comm = self.comm
        rows: list[dict[str, Any]] | None = None
        if comm.rank == 0:
            rows = dry_run_rows(self.plan, self.store)
            text = dry_run_text(rows, self.pipeline.folder)
            try:
                self.store.root.mkdir(parents=True, exist_ok=True)
                self.store.write_text(self.store.dry_run_path, text)
                shown = dry_run_digest(rows, self.pipeline.folder, str(self.store.dry_run_path))
            except OSError as exc:
                log.error("could not write the dry-run report: %s", exc)
                shown = text  # no file to point at: every line here
            self.console.text(shown)
            note(self.pipeline.folder, passed=True, dry_run=True)
        frame = pd.DataFrame(comm.bcast(rows))
        self.pipeline.remember(None, self.plan, dry_run=True, summary=frame)
        return frame
