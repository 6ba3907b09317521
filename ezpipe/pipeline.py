"""``Pipeline``: the user-facing facade: options, steps, schema, ``execute()``, results.

It owns what a pipeline *is* (its folder, name, options, steps and frozen
graph); the phases of a run live in :mod:`ezpipe.session`, the engine in
:mod:`ezpipe.engine`, and every path in :mod:`ezpipe.store`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, overload

import pandas as pd

from . import graph as graph_mod
from . import schema, trust
from .config import build as config_build
from .config import study as config_study
from .config.model import ConfigStep
from .decorate import StepFunction, as_pickle_step
from .engine.comm import Comm, world
from .errors import (
    InitializationError,
    ResultNotAvailableError,
    UnrecognizedStepWarning,
    results_raise,
)
from .graph import FrozenGraph
from .lock import FolderLock
from .lookup import LookupHandle, why_missing
from .options import RunOptions, env
from .outputs import resolve_result
from .plan import Plan
from .records import Mode, RunTally, Status, StepRecord
from .session import Session
from .steps import PlaceHolder, Step, StepRegistry
from .store import Store


class Pipeline:
    """A folder of cached step results and the lazy steps that produce them.

    ``folder`` is where results, records, ``pipeline.schema`` and
    ``pipeline.summary`` live (created when missing). Options (see
    :class:`ezpipe.options.RunOptions`, validated here once):

    ``policy``
        ``"dag"`` (default), ``"phase"`` or ``"static"``; see :mod:`ezpipe.engine.scheduler`.
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
        30 s), ``"bar"``, ``"lines"`` or False; see :mod:`ezpipe.observe.progress`.
    ``exit_on_failure``
        when the run did not do what it was asked (steps failed or were skipped),
        ``execute()`` ends the script with exit status 1 after the summary, so a
        job chain (``sbatch --dependency=afterok``) stops. Off by default, as in
        ezpyp, whose scripts exit 0; ``ezpipe run`` and ``ezpipe slurm`` job
        scripts exit 1 anyway.
    ``console``
        how much the run prints: ``"quiet"`` (the progress report and failures),
        ``"normal"`` (ezpyp's lines, the default) or ``"verbose"``; see
        :mod:`ezpipe.observe.console`. ``EZPIPE_CONSOLE`` and ``ezpipe run -q/-v``
        override it.
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
        exit_on_failure: bool = False,
        console: str = "normal",
        comm: Comm | None = None,
    ) -> None:
        self.options = RunOptions(
            mode=Mode.parse(mode),
            policy=policy,
            max_concurrent=max_concurrent,
            strict=strict,
            echo=echo,
            fsync=fsync,
            lock_timeout=lock_timeout,
            tee_output=tee_output,
            progress=progress,
            exit_on_failure=exit_on_failure,
            console=console,
        )
        self.name = name
        self.store = Store(folder, fsync=fsync)
        self.lock = FolderLock(self.store.root, timeout=lock_timeout)
        self.registry = StepRegistry(self)
        self._comm = comm
        self._frozen: FrozenGraph | None = None
        self.agreed: FrozenGraph | None = None  # the frozen graph every rank agreed on
        self._schema_written = False
        self._statuses: list[Status] | None = None
        self.last_plan: Plan | None = None
        self.last_dry_run = False
        self.summary: pd.DataFrame | None = None
        self.tally: RunTally | None = None  # the verdict of the last execute()
        results_raise()  # get_result's warnings are errors unless the caller records them

    # -- options and parts ----------------------------------------------------------------------
    @property
    def folder(self) -> str:
        return str(self.store.root)

    @property
    def comm(self) -> Comm:
        if self._comm is None:
            self._comm = world()
        return self._comm

    @property
    def steps(self) -> list[Step]:
        return self.registry.steps

    @property
    def schema_path(self) -> Path:
        return self.store.schema_path

    @property
    def summary_path(self) -> Path:
        return self.store.summary_path

    @property
    def mode(self) -> Mode:
        return self.options.mode

    @property
    def policy(self) -> str:
        return self.options.policy

    @property
    def echo(self) -> bool:
        return self.options.echo

    @echo.setter
    def echo(self, value: bool) -> None:
        self.options = self.options.replace(echo=bool(value))

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
        ranks: int | None = None,
        threads: int | None = None,
        gpus: int | None = None,
        memory: int | str | None = None,
        timeout: float | None = None,
        priority: float | None = None,
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
        ranks: int | None = None,
        threads: int | None = None,
        gpus: int | None = None,
        memory: int | str | None = None,
        timeout: float | None = None,
        priority: float | None = None,
    ) -> StepFunction | Callable[[Callable[..., Any]], StepFunction]:
        """``@pipeline.step`` or ``@pipeline.step(version=2, ranks=4, ...)``: see
        :func:`as_pickle_step` (``ranks=k``: the function takes a k-rank ``comm``)."""
        decorate = as_pickle_step(
            self,
            depends_on,
            name=name,
            version=version,
            exclude_from_key=exclude_from_key,
            mode=mode,
            ranks=ranks,
            threads=threads,
            gpus=gpus,
            memory=memory,
            timeout=timeout,
            priority=priority,
        )
        return decorate if func is None else decorate(func)

    def add(self, config: ConfigStep, *inputs: Any, name: str | None = None, **named: Any) -> Step:
        """A config step (chain, loop) fed by ``inputs``; its last step (ezpipe.config.build)."""
        return config_build.add(self, config, *inputs, name=name, **named)

    @classmethod
    def from_config(cls, source: Any, *, folder: Any = None, **options: Any) -> Pipeline:
        """A pipeline from a YAML/JSON study (or a dict); ``overrides=["steps.a.x=3"]`` patch
        it; a ConfigError names the path of each problem (see ezpipe.config.study)."""
        return config_study.build(cls, source, folder=folder, **options)

    def __getitem__(self, name: str) -> Step:
        return self.registry.resolve(name)

    def __len__(self) -> int:
        return len(self.registry)

    # -- freeze ---------------------------------------------------------------------------------
    def freeze(self) -> FrozenGraph:
        """Validate the DAG and compute phases and keys, on this rank only (no MPI)."""
        if self._frozen is None:
            self._frozen = graph_mod.freeze(self.steps)
            self.registry.frozen = True
        return self._frozen

    @property
    def phases(self) -> list[list[Step]]:
        return [[self.steps[i] for i in phase] for phase in self.freeze().phases]

    def organize_steps(self) -> list[list[Step]]:
        """ezpyp's name for freezing: validates the DAG; returns the phases."""
        return self.phases

    def get_schema(self) -> dict[str, Any]:
        """The schema document (what ``pipeline.schema`` holds); only once initialized."""
        if not self._schema_written and self._frozen is None:
            raise InitializationError(
                f"pipeline {self.name!r} has no schema yet: call initialize_schema() "
                "(or execute()) first"
            )
        return graph_mod.schema_document(self.name, self.folder, self.steps, self.freeze())

    def barrier(self) -> None:
        """Wait until every rank arrives here (a no-op with one rank)."""
        self.comm.allgather(None)

    def initialize_schema(self, *, keep_lock: bool = False) -> FrozenGraph:
        """Freeze the steps on every rank, check they agree, write ``pipeline.schema``.

        The folder is locked while the schema is written, and afterwards only with
        ``keep_lock``. Until this pipeline runs, another ``Pipeline`` of this process
        that initializes the same folder with a different schema gets
        :class:`SchemaConflictError` (ezpyp's guard against two pipelines writing to
        one place).
        """
        frozen = schema.agree(self)
        if not self._schema_written or keep_lock:
            schema.declare(self, frozen, hold_lock=keep_lock)
            self._schema_written = True
        return frozen

    def lock_for_run(self) -> FrozenGraph:
        """The run's first phase: agree, write the schema, and hold the folder lock."""
        return self.initialize_schema(keep_lock=True)

    def release(self) -> None:
        """End of a run: release the folder lock and this pipeline's claim on the folder."""
        self.lock.release()
        self._schema_written = False
        schema.withdraw(self)

    def agree(self) -> FrozenGraph:
        """Freeze on every rank and check they froze the same pipeline (a collective)."""
        return schema.agree(self)

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
        exit_on_failure: bool | None = None,
        console: str | None = None,
        accept: str | Iterable[str] | None = None,
        accept_scheme: bool | None = None,
    ) -> pd.DataFrame:
        """Run every step that needs running, on every rank; returns the summary table.

        ``dry_run``: report what would run and what is cached, run and write nothing
        but ``pipeline.dryrun``; returns that report as a table.
        ``run_only``: regular expressions (``re.search`` on step names); run only
        the matching steps and the steps they depend on.
        ``from_step``: step name(s) to recompute, with everything downstream.
        ``max_concurrent``: at most this many steps running at once.
        ``accept``: function names whose changed code is accepted: stored results of
        definitions that differ only in that code are kept (see :mod:`ezpipe.adopt`).
        ``accept_scheme``: adopt results computed under key scheme v1.
        ``console``: ``"quiet"``, ``"normal"`` or ``"verbose"`` for this run.
        ``ezpipe run``'s options, passed through the environment, override these;
        a dry run asked for by ``ezpipe run --dry-run`` ends the script (exit 0)
        once the plan is shown, since nothing after it could find results.
        """
        options = self.options.replace(
            mode=None if mode is None else Mode.parse(mode),
            policy=policy,
            max_concurrent=max_concurrent,
            dry_run=dry_run or None,
            run_only=run_only,
            from_step=from_step,
            exit_on_failure=exit_on_failure,
            console=console,
            accept=accept,
            accept_scheme=accept_scheme,
        ).with_environment()
        frame = Session(self, options).execute()
        if options.dry_run and env("EZPIPE_DRY_RUN"):
            raise SystemExit(0)
        if options.exit_on_failure and self.tally is not None and not self.tally.asked_done:
            raise SystemExit(self.tally.exit_code)
        return frame

    def remember(
        self,
        statuses: Sequence[Status] | None,
        plan: Plan,
        *,
        dry_run: bool = False,
        summary: pd.DataFrame | None = None,
        tally: RunTally | None = None,
    ) -> None:
        """What the last execute() did, for get_status() and the errors of get_result()."""
        self.tally = tally
        self._statuses = None if statuses is None else list(statuses)
        self.last_plan = plan
        self.last_dry_run = dry_run
        self.summary = summary

    # -- results --------------------------------------------------------------------------------
    def get_status(self, step: Step | PlaceHolder | str) -> Status:
        """Status of the step's current definition: from this run, else from the folder."""
        target = self.registry.resolve(step)
        if self._statuses is not None and self._statuses[target.index] != Status.NOT_RUN:
            return self._statuses[target.index]
        self.freeze()
        record = self.store.read_record(target.name, target.key)
        return Status.NOT_RUN if record is None else record.status

    def record(self, step: Step | PlaceHolder | str) -> StepRecord | None:
        """The stored record of the step's current definition, if any."""
        target = self.registry.resolve(step)
        self.freeze()
        return self.store.read_record(target.name, target.key)

    def get_result(self, step: Step | PlaceHolder | str) -> Any:
        """The step's result, loaded from the cache.

        When there is none, the reason is raised as a :class:`ResultWarning` (a
        :class:`ResultNotAvailableError`): not run, failed, skipped, or no such
        step. Code that records or allows those warnings gets None, as ezpyp did.
        """
        try:
            target = self.registry.resolve(step)
        except ResultNotAvailableError as exc:
            warnings.warn(UnrecognizedStepWarning(str(exc)), stacklevel=2)
            return None
        self.freeze()
        trust.warn_if_open(self.store.root)  # loading a pickle runs code: who could write it?
        try:
            value = self.store.load_result(target.name, target.key)
            return resolve_result(value, self.store.output_dir(target.name, target.key))
        except ResultNotAvailableError as exc:
            warnings.warn(why_missing(self, target, exc), stacklevel=2)
            return None

    def lookup(self, step: Step | PlaceHolder | str) -> LookupHandle:
        """A handle on the cache entry of the step's current definition."""
        return LookupHandle(self, self.registry.resolve(step))

    def __repr__(self) -> str:
        return f"Pipeline({self.folder!r}, {self.name!r}, {len(self.steps)} steps)"
