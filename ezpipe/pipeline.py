"""``Pipeline``: the user-facing facade over steps, graph, store and runner."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, overload

import pandas as pd

from . import capture, control, preempt, runinfo
from . import graph as graph_mod
from . import summary as summary_mod
from .comm import Comm, root_call, world
from .errors import (
    DuplicateStepNameError,
    FrozenPipelineError,
    ResultNotAvailableError,
    SchemaConflictError,
    SchemaMismatchError,
    StoreError,
)
from .graph import FrozenGraph
from .joblog import JobLog
from .lock import FolderLock
from .logs import configure as configure_logging
from .lookup import LookupHandle
from .progress import Progress, choose_style
from .records import Mode, Status, StepRecord
from .reporter import Reporter
from .runner import HOST, Plan, RunOutcome, plan_modes, reusable
from .runner import run as run_plan
from .scheduler import POLICIES
from .steps import PlaceHolder, Step, StepFunction, as_pickle_step, check_name, raise_foreign
from .store import Store

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


class Pipeline:
    """A folder of cached step results and the lazy steps that produce them.

    ``folder`` is where results, records, ``pipeline.schema`` and
    ``pipeline.summary`` live (created when missing). Options:

    ``policy``
        ``"dag"`` (default), ``"phase"`` or ``"static"``; see :mod:`ezpipe.scheduler`.
    ``mode``
        default cache mode: ``"cached"``, ``"force"``, ``"retry"`` or ``"read-only"``.
    ``strict``
        refuse to run when the folder holds a different schema (ezpyp's behaviour).
    ``echo``
        print the PASS/FAIL/SKIP lines and the summary table.
    ``fsync``
        fsync every file before renaming it (survives power loss, costs time).
    ``max_concurrent``
        at most this many steps running at once, whatever the number of ranks.
    ``lock_timeout``
        seconds to wait for another run on the same folder to end (default: fail at once).
    ``tee_output``
        each step's stdout/stderr always goes to its ``output.log``; when True it
        is also shown in the job output, every line prefixed ``[step name]``.
    ``progress``
        rank 0's progress report: True (a bar on a terminal, else a line every
        30 s), ``"bar"``, ``"lines"`` or False; see :mod:`ezpipe.progress`.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        name: str = "pipeline",
        *,
        policy: str = "dag",
        mode: Mode | str = Mode.CACHED,
        strict: bool = False,
        echo: bool = True,
        fsync: bool = False,
        max_concurrent: int | None = None,
        lock_timeout: float = 0.0,
        tee_output: bool = True,
        progress: bool | str = True,
        comm: Comm | None = None,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown scheduling policy {policy!r}; use one of {POLICIES}")
        self.name = name
        self.store = Store(folder, fsync=fsync)
        self._lock = FolderLock(self.store.root, timeout=lock_timeout)
        self.policy = policy
        self.mode = Mode.parse(mode)
        self.strict = strict
        self.echo = echo
        self.max_concurrent = max_concurrent
        self.tee_output = tee_output
        self.progress = progress
        self.steps: list[Step] = []
        self._by_name: dict[str, int] = {}
        self._auto_names: dict[str, int] = {}
        self._comm = comm
        self._frozen: FrozenGraph | None = None
        self._schema_written = False
        self._statuses: list[Status] | None = None
        self.summary: pd.DataFrame | None = None

    @property
    def folder(self) -> str:
        return str(self.store.root)

    @property
    def comm(self) -> Comm:
        if self._comm is None:
            self._comm = world()
        return self._comm

    # -- definition -----------------------------------------------------------------------------
    @overload
    def step(self, func: Callable[..., Any], /) -> StepFunction: ...
    @overload
    def step(
        self,
        func: None = None,
        /,
        *,
        depends_on: Iterable[Step | PlaceHolder] | None = None,
        name: str | None = None,
        version: str | int | None = None,
        exclude_from_key: Iterable[str] = (),
        mode: Mode | str | None = None,
    ) -> Callable[[Callable[..., Any]], StepFunction]: ...
    def step(
        self,
        func: Callable[..., Any] | None = None,
        /,
        *,
        depends_on: Iterable[Step | PlaceHolder] | None = None,
        name: str | None = None,
        version: str | int | None = None,
        exclude_from_key: Iterable[str] = (),
        mode: Mode | str | None = None,
    ) -> StepFunction | Callable[[Callable[..., Any]], StepFunction]:
        """``@pipeline.step`` or ``@pipeline.step(version=2, ...)``: see :func:`as_pickle_step`."""
        decorate = as_pickle_step(
            self,
            depends_on,
            name=name,
            version=version,
            exclude_from_key=exclude_from_key,
            mode=mode,
        )
        return decorate if func is None else decorate(func)

    def _check_not_frozen(self, what: str) -> None:
        if self._frozen is not None:
            raise FrozenPipelineError(
                f"cannot {what}: the schema of pipeline {self.name!r} is frozen "
                "(define every step before initialize_schema(), execute() or get_result())"
            )

    def _check_own(self, dep: Step, step: Step) -> None:
        if dep.pipeline is not self:
            raise_foreign(dep, step)

    def _add_step(self, step: Step, name: str | None) -> None:
        self._check_not_frozen(f"add a step calling {step.function_name}")
        if name is None:
            base = _UNSAFE.sub("_", step.func.__name__).strip("._") or "step"
            count = self._auto_names.get(base, 0)
            name = base if count == 0 else f"{base}.{count}"
            while name in self._by_name:
                count += 1
                name = f"{base}.{count}"
            self._auto_names[base] = count + 1
        elif name in self._by_name:
            other = self.steps[self._by_name[name]]
            raise DuplicateStepNameError(
                f"two steps are named {name!r}: a call of {other.function_name} and a call of "
                f"{step.function_name}; give each a distinct name"
            )
        step.index = len(self.steps)
        step.name = name
        self.steps.append(step)
        self._by_name[name] = step.index

    def __getitem__(self, name: str) -> Step:
        return self._resolve(name)

    def __len__(self) -> int:
        return len(self.steps)

    def _resolve(self, step: Step | PlaceHolder | str) -> Step:
        if isinstance(step, PlaceHolder):
            step = step.step
        if isinstance(step, Step):
            self._check_own(step, step)
            return step
        index = self._by_name.get(check_name(step))
        if index is None:
            close = [n for n in self._by_name if n.split(".")[0] == step.split(".")[0]][:5]
            hint = f"; steps with that base name: {close}" if close else ""
            raise ResultNotAvailableError(f"pipeline {self.name!r} has no step {step!r}{hint}")
        return self.steps[index]

    # -- freeze ---------------------------------------------------------------------------------
    def freeze(self) -> FrozenGraph:
        """Validate the DAG and compute phases and keys, on this rank only (no MPI)."""
        if self._frozen is None:
            self._frozen = graph_mod.freeze(self.steps)
        return self._frozen

    @property
    def phases(self) -> list[list[Step]]:
        return [[self.steps[i] for i in phase] for phase in self.freeze().phases]

    def initialize_schema(self) -> FrozenGraph:
        """Freeze the steps, check every rank built the same pipeline, write ``pipeline.schema``."""
        frozen = self.freeze()
        if self._schema_written:
            return frozen
        self._check_ranks_agree(frozen)
        root_call(self.comm, lambda: self._write_schema(frozen))
        self._schema_written = True
        return frozen

    def _check_ranks_agree(self, frozen: FrozenGraph) -> None:
        comm = self.comm
        configure_logging(comm.rank, comm.size)
        hashes = comm.allgather(frozen.schema_hash)
        if len(set(hashes)) > 1:
            differ = [r for r, h in enumerate(hashes) if h != hashes[0]]
            raise SchemaMismatchError(
                f"the ranks built different pipelines (ranks {differ} differ from rank 0): "
                "every rank must define the same steps with the same arguments; draw random "
                "parameters once with a fixed seed, or on rank 0 and broadcast them"
            )

    def _write_schema(self, frozen: FrozenGraph) -> None:
        self.store.create()
        self._lock.acquire()  # held until execute() ends, or this process does
        try:
            if self.strict:
                self._check_same_schema(frozen)
            document = graph_mod.schema_document(self.name, self.folder, self.steps, frozen)
            self.store.write_text(self.store.schema_path, graph_mod.dumps_schema(document))
        except BaseException:
            self._lock.release()
            raise

    def _check_same_schema(self, frozen: FrozenGraph) -> None:
        path = self.store.schema_path
        if not path.exists():
            return
        try:
            old_hash = json.loads(path.read_text()).get("schema_hash")
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read the existing schema {path}: {exc}") from exc
        if old_hash != frozen.schema_hash:
            raise SchemaConflictError(
                f"strict pipeline {self.name!r}: {path} holds a different schema "
                f"(hash {str(old_hash)[:12]} vs {frozen.schema_hash[:12]}); use another "
                "folder, or strict=False to keep both definitions' results side by side"
            )

    # -- run ------------------------------------------------------------------------------------
    def execute(
        self,
        *,
        mode: Mode | str | None = None,
        policy: str | None = None,
        max_concurrent: int | None = None,
        dry_run: bool = False,
        run_only: str | Iterable[str] | None = None,
        from_step: str | Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Run every step that needs running, on every rank; returns the summary table.

        ``dry_run``: report what would run and what is cached, run and write nothing
        but ``pipeline.dryrun``; returns that report as a table.
        ``run_only``: regular expressions (``re.search`` on step names); run only
        the matching steps and the steps they depend on.
        ``from_step``: step name(s) to recompute, with everything downstream.
        ``max_concurrent``: at most this many steps running at once.
        ``ezpipe run``'s options, passed through the environment, override these.
        """
        policy = policy or self.policy
        if policy not in POLICIES:  # checked on every rank: rank 0 alone must never raise
            raise ValueError(f"unknown scheduling policy {policy!r}; use one of {POLICIES}")
        style = choose_style(self.progress, sys.stderr)
        options = control.resolve_options(
            dry_run, run_only, from_step, max_concurrent or self.max_concurrent, mode or self.mode
        )
        frozen = self.freeze()
        todo = control.select(self.steps, options.run_only)
        force = control.resolve_names(self.steps, options.from_step)
        modes, forced = plan_modes(self.steps, frozen, Mode.parse(options.mode or self.mode), force)
        plan = Plan(
            self.steps,
            frozen,
            modes,
            forced,
            policy=policy,
            max_concurrent=options.max_concurrent,
            todo=todo,
            tee_output=capture.tee_enabled(self.tee_output),
        )
        if options.dry_run:
            return self._dry_run(plan)
        self.initialize_schema()
        comm = self.comm
        reporter = Reporter(comm.rank, enabled=self.echo)
        job_log = JobLog.begin(self.store, comm.rank, comm.size)  # inside Slurm only
        hosts = comm.allgather(HOST)
        progress = None
        if comm.rank == 0:
            with self._fatal_on_root("record the start of the run"):
                record = runinfo.started(self.store, self.name, comm.size, hosts, options.as_dict())
                total = len(self.steps) if todo is None else len(todo)
                progress = Progress(total, style=style, name=self.name) if style != "off" else None
        comm.bcast(None)  # the ranks start together, once rank 0 has recorded the start
        try:
            with preempt.stop_on_signal(), capture.routing():
                outcome = run_plan(plan, comm, self.store, reporter, progress)
        except BaseException as exc:
            if comm.size > 1:
                comm.abort(f"pipeline {self.name!r} failed: {type(exc).__name__}: {exc}")
            self._release()
            raise
        self._statuses = outcome.statuses
        frame = None
        if comm.rank == 0:
            with self._fatal_on_root("write the summary"):
                frame = self._report(record, outcome)
        interrupted = comm.bcast(preempt.interrupted(outcome.outcomes, plan.todo))
        if job_log is not None:
            job_log.end(outcome.statuses, interrupted)
        if comm.rank == 0:  # tell `ezpipe run` whether every selected step passed
            wanted = range(len(self.steps)) if todo is None else todo
            passed = not interrupted and all(outcome.statuses[i] == Status.PASSED for i in wanted)
            runinfo.note(self.folder, passed=passed)
        self._release()
        self.summary = comm.bcast(frame)
        if interrupted:
            self._stopped(outcome.statuses)
        return self.summary

    def _report(self, record: dict[str, Any], outcome: RunOutcome) -> pd.DataFrame:
        """Rank 0 after a run: run record, summary table, its files and its printout."""
        runinfo.finished(self.store, record, [int(s) for s in outcome.statuses])
        frame = summary_mod.summary_frame(self.steps, outcome.outcomes, self.store)
        try:
            text = summary_mod.write(self.store, frame)
        except OSError as exc:
            log.error("could not write the summary files: %s", exc)
            text = summary_mod.headline(frame, self.folder)
        if self.echo:  # the file's text when short; its head and tail when long
            if len(frame) > summary_mod.PRINT_ROWS:
                table = summary_mod.render(frame, self.folder, summary_mod.PRINT_ROWS)
                text = f"{text.splitlines()[0]}\n{table}"
            Reporter(0).text(text)
        return frame

    @contextlib.contextmanager
    def _fatal_on_root(self, what: str) -> Iterator[None]:
        """Rank-0-only work between collectives: if it fails, end the job with a message
        rather than leave the other ranks waiting in the next collective."""
        try:
            yield
        except BaseException as exc:
            if self.comm.size > 1:
                self.comm.abort(f"rank 0 could not {what}: {type(exc).__name__}: {exc}")
            self._release()
            raise

    def _release(self) -> None:
        self._lock.release()
        self._schema_written = False  # a later execute() checks, locks and writes again

    def _stopped(self, statuses: list[Status]) -> None:
        """A stop signal cut the run short: end the process with status 75 (resubmit me)."""
        left = sum(status != Status.PASSED for status in statuses)
        message = (
            f"pipeline {self.name!r} stopped on the job's stop signal with {left} step(s) "
            "not passed; run it again (the job script resubmits itself when asked) to resume"
        )
        Reporter(self.comm.rank, enabled=self.comm.rank == 0).text(f"ezpipe: {message}")
        raise preempt.JobInterrupted(message)

    def _dry_run(self, plan: Plan) -> pd.DataFrame:
        """Report what ``plan`` would do; writes ``pipeline.dryrun`` and nothing else."""
        self._check_ranks_agree(plan.frozen)
        comm = self.comm
        rows: list[dict[str, Any]] | None = None
        if comm.rank == 0:
            rows = control.dry_run_rows(
                self.steps,
                [i for phase in plan.frozen.phases for i in phase],
                plan.todo,
                plan.modes,
                plan.forced,
                lambda i: reusable(plan, self.store, i),
                lambda i: self.store.read_record(self.steps[i].name, self.steps[i].key),
            )
            text = control.dry_run_text(rows, self.folder)
            try:
                self.store.root.mkdir(parents=True, exist_ok=True)
                self.store.write_text(self.store.dry_run_path, text)
            except OSError as exc:
                log.error("could not write the dry-run report: %s", exc)
            Reporter(0, enabled=self.echo).text(text)
            runinfo.note(self.folder, passed=True, dry_run=True)
        return pd.DataFrame(comm.bcast(rows))

    # -- results --------------------------------------------------------------------------------
    def get_status(self, step: Step | PlaceHolder | str) -> Status:
        """Status of the step's current definition: from this run, else from the folder."""
        target = self._resolve(step)
        if self._statuses is not None and self._statuses[target.index] != Status.NOT_RUN:
            return self._statuses[target.index]
        self.freeze()
        record = self.store.read_record(target.name, target.key)
        return Status.NOT_RUN if record is None else record.status

    def record(self, step: Step | PlaceHolder | str) -> StepRecord | None:
        """The stored record of the step's current definition, if any."""
        target = self._resolve(step)
        self.freeze()
        return self.store.read_record(target.name, target.key)

    def get_result(self, step: Step | PlaceHolder | str) -> Any:
        """The step's result, loaded from the cache; a clear error when there is none."""
        target = self._resolve(step)
        self.freeze()
        return self.store.load_result(target.name, target.key)

    def lookup(self, step: Step | PlaceHolder | str) -> LookupHandle:
        """A handle on the cache entry of the step's current definition."""
        return LookupHandle(self, self._resolve(step))

    def __repr__(self) -> str:
        return f"Pipeline({self.folder!r}, {self.name!r}, {len(self.steps)} steps)"
