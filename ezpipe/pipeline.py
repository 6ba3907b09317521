"""``Pipeline``: the user-facing facade: options, steps, schema, ``execute()``, results.

It owns what a pipeline *is* (its folder, name, options, steps and frozen
graph); the phases of a run live in :mod:`ezpipe.session`, the engine in
:mod:`ezpipe.engine`, and every path in :mod:`ezpipe.store`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, overload

import pandas as pd

from . import graph as graph_mod
from .config import build as config_build
from .config import study as config_study
from .config.model import ConfigStep
from .engine.comm import Comm, root_call, world
from .errors import ResultNotAvailableError, SchemaConflictError, SchemaMismatchError, StoreError
from .graph import FrozenGraph
from .lock import FolderLock
from .lookup import LookupHandle
from .observe.logs import configure as configure_logging
from .options import RunOptions, env
from .outputs import resolve_result
from .plan import Plan
from .records import Mode, Status, StepRecord
from .session import Session
from .steps import PlaceHolder, Step, StepFunction, StepRegistry, as_pickle_step
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
        )
        self.name = name
        self.store = Store(folder, fsync=fsync)
        self._lock = FolderLock(self.store.root, timeout=lock_timeout)
        self.registry = StepRegistry(self)
        self._comm = comm
        self._frozen: FrozenGraph | None = None
        self._schema_written = False
        self._statuses: list[Status] | None = None
        self._last_plan: Plan | None = None
        self._last_dry_run = False
        self.summary: pd.DataFrame | None = None

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

    def initialize_schema(self) -> FrozenGraph:
        """Freeze the steps, check every rank built the same pipeline, write ``pipeline.schema``."""
        frozen = self.freeze()
        if self._schema_written:
            return frozen
        self.check_ranks_agree(frozen)
        root_call(self.comm, lambda: self._write_schema(frozen))
        self._schema_written = True
        return frozen

    def check_ranks_agree(self, frozen: FrozenGraph) -> None:
        """Every rank compares its schema hash with the others' (a collective)."""
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
            if self.options.strict:
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

    def release(self) -> None:
        """End of a run: release the folder lock; a later execute() locks and writes again."""
        self._lock.release()
        self._schema_written = False

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
        ).with_environment()
        frame = Session(self, options).execute()
        if options.dry_run and env("EZPIPE_DRY_RUN"):
            raise SystemExit(0)
        return frame

    def remember(
        self,
        statuses: Sequence[Status] | None,
        plan: Plan,
        *,
        dry_run: bool = False,
        summary: pd.DataFrame | None = None,
    ) -> None:
        """What the last execute() did, for get_status() and the errors of get_result()."""
        self._statuses = None if statuses is None else list(statuses)
        self._last_plan = plan
        self._last_dry_run = dry_run
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
        """The step's result, loaded from the cache; a clear error when there is none."""
        target = self.registry.resolve(step)
        self.freeze()
        try:
            value = self.store.load_result(target.name, target.key)
            return resolve_result(value, self.store.output_dir(target.name, target.key))
        except ResultNotAvailableError as exc:
            raise ResultNotAvailableError(self._why_missing(target, exc)) from None

    def _why_missing(self, step: Step, exc: ResultNotAvailableError) -> str:
        if self.store.read_record(step.name, step.key) is not None:
            return str(exc)  # it failed, was skipped, or its file is damaged: the store says
        if self._last_dry_run:
            return f"step {step.name!r} was not run: this was a dry run (nothing is computed)"
        plan = self._last_plan
        if plan is not None and plan.todo is not None and step.index not in set(plan.todo):
            return (
                f"step {step.name!r} was not selected by run_only in this run and the folder "
                "holds no result for its current definition"
            )
        return str(exc)

    def lookup(self, step: Step | PlaceHolder | str) -> LookupHandle:
        """A handle on the cache entry of the step's current definition."""
        return LookupHandle(self, self.registry.resolve(step))

    def __repr__(self) -> str:
        return f"Pipeline({self.folder!r}, {self.name!r}, {len(self.steps)} steps)"
