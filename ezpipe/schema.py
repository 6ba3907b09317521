"""Declaring a pipeline's schema: every rank agrees on it, rank 0 writes ``pipeline.schema``.

Three guards, each with its own error: the ranks built the same pipeline
(:class:`SchemaMismatchError`, on every rank); ``strict=True`` refuses a folder
holding another schema; and, as ezpyp does, two ``Pipeline`` objects of one
process do not declare different schemas for one folder while the first has
not run (:class:`SchemaConflictError`). Results are keyed by content, so a
folder may hold many definitions' results; these guards catch mistakes, not
a changed pipeline being rerun.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Protocol

from . import graph as graph_mod
from . import steptable, trust
from .bulk import no_gc
from .engine.comm import Comm, root_call
from .errors import (
    SchemaConflictError,
    SchemaMismatchError,
    StorageFullError,
    StoreError,
    is_storage_full,
)
from .graph import FrozenGraph
from .lock import FolderLock
from .observe.logs import configure as configure_logging
from .options import RunOptions
from .steps import Step
from .store import Store

log = logging.getLogger(__name__)
_DECLARED: dict[str, tuple[str, int]] = {}  # folder -> (schema hash, id of the declaring Pipeline)


class Declaring(Protocol):
    name: str
    store: Store
    lock: FolderLock
    options: RunOptions
    agreed: FrozenGraph | None  # what the ranks agreed on, once they did

    def freeze(self) -> FrozenGraph: ...

    @property
    def folder(self) -> str: ...
    @property
    def comm(self) -> Comm: ...
    @property
    def steps(self) -> list[Step]: ...


def agree(pipeline: Declaring) -> FrozenGraph:
    """Freeze on every rank, then agree (a collective): a rank that could not freeze, or
    froze another pipeline, makes every rank raise the same error instead of one rank
    leaving while the others wait for it."""
    if pipeline.agreed is not None:
        return pipeline.agreed
    failure: Exception | None = None
    try:
        frozen: FrozenGraph | None = pipeline.freeze()
    except Exception as exc:  # every rank hears of it below
        failure, frozen = exc, None
    comm = pipeline.comm
    configure_logging(comm.rank, comm.size)
    said = None if failure is None else f"{type(failure).__name__}: {failure}"
    views = comm.allgather((said, None if frozen is None else frozen.schema_hash))
    failed = {rank: text for rank, (text, _) in enumerate(views) if text is not None}
    if failed:
        if failure is not None and len(failed) == comm.size and len(set(failed.values())) == 1:
            raise failure  # the same error on every rank: the definition itself is wrong
        rank, text = next(iter(failed.items()))
        raise SchemaMismatchError(
            f"rank {rank} could not freeze the pipeline ({text}) while ranks "
            f"{[r for r in range(comm.size) if r not in failed]} could"
            f"{'' if len(failed) == 1 else f'; ranks {sorted(failed)} failed'}: every rank "
            "must define the same steps with the same arguments"
        ) from failure
    assert frozen is not None
    _check_hashes([h for _, h in views])
    pipeline.agreed = frozen
    return frozen


def _check_hashes(hashes: list[str | None]) -> None:
    if len(set(hashes)) > 1:
        differ = [r for r, h in enumerate(hashes) if h != hashes[0]]
        raise SchemaMismatchError(
            f"the ranks built different pipelines (ranks {differ} differ from rank 0): "
            "every rank must define the same steps with the same arguments; draw random "
            "parameters once with a fixed seed, or on rank 0 and broadcast them"
        )


def declare(pipeline: Declaring, frozen: FrozenGraph, *, hold_lock: bool) -> None:
    """Write the schema on rank 0 under the folder lock (kept if ``hold_lock``); the ranks
    have agreed on ``frozen`` (:func:`agree`)."""
    root_call(pipeline.comm, lambda: _write(pipeline, frozen, hold_lock))
    _DECLARED[pipeline.folder] = (frozen.schema_hash, id(pipeline))


def withdraw(pipeline: Declaring) -> None:
    """The pipeline ran (or gave the folder up): its declaration no longer binds others."""
    if _DECLARED.get(pipeline.folder, (None, None))[1] == id(pipeline):
        del _DECLARED[pipeline.folder]


def _write(pipeline: Declaring, frozen: FrozenGraph, hold_lock: bool) -> None:
    declared = _DECLARED.get(pipeline.folder)
    if declared is not None and declared[1] != id(pipeline) and declared[0] != frozen.schema_hash:
        raise SchemaConflictError(
            f"another Pipeline of this process initialized {pipeline.folder} with a different "
            f"schema (hash {declared[0][:12]} vs {frozen.schema_hash[:12]}) and has not run "
            "yet: two pipelines would write to one folder; use another folder, or run or "
            "release() the first"
        )
    for warning in frozen.key_warnings:  # rank 0 only: said once, not once per rank
        log.warning(warning)
    store = pipeline.store
    store.create()
    trust.warn_if_open(store.root)
    pipeline.lock.timeout = pipeline.options.with_environment().lock_timeout  # --lock-timeout
    pipeline.lock.acquire()  # held until execute() ends
    try:
        if pipeline.options.strict:
            _check_same_schema(pipeline, frozen)
        _write_schema(pipeline, frozen)
    except BaseException:
        pipeline.lock.release()
        raise
    if not hold_lock:
        pipeline.lock.release()


def _write_schema(pipeline: Declaring, frozen: FrozenGraph) -> None:
    """``pipeline.schema`` and its step table, unless they already describe this definition."""
    store, name, steps = pipeline.store, pipeline.name, pipeline.steps
    with no_gc():  # 100,000s of small objects, no cycles
        identity = graph_mod.schema_identity(name, pipeline.folder, steps, frozen)
        if steptable.current(store.step_table_path, store.schema_path, identity):
            return
        schema = graph_mod.dumps_schema(
            graph_mod.schema_document(name, pipeline.folder, steps, frozen)
        )
    try:  # a table is never left beside a schema it was not made from
        store.step_table_path.unlink(missing_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot remove {store.step_table_path}: {exc}") from exc
    _write_named(store, store.schema_path, schema)
    with no_gc():
        table = steptable.dumps(name, steps, frozen, identity, store.schema_path)
    try:
        store.write_text(store.step_table_path, table)
    except OSError as exc:  # only a shortcut for readers: they parse the schema without it
        log.warning(
            "could not write %s (%s): the commands read the schema instead",
            store.step_table_path,
            exc,
        )


def _write_named(store: Store, path: Path, text: str) -> None:
    """Write a file; a failure names the path (a full disk says so)."""
    try:
        store.write_text(path, text)
    except OSError as exc:
        kind = StorageFullError if is_storage_full(exc) else StoreError
        raise kind(f"cannot write {path}: {exc.strerror or exc}") from exc


def _check_same_schema(pipeline: Declaring, frozen: FrozenGraph) -> None:
    path = pipeline.store.schema_path
    if not path.exists():
        return
    try:
        old_hash = json.loads(path.read_text()).get("schema_hash")
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read the existing schema {path}: {exc}") from exc
    if old_hash != frozen.schema_hash:
        raise SchemaConflictError(
            f"strict pipeline {pipeline.name!r}: {path} holds a different schema "
            f"(hash {str(old_hash)[:12]} vs {frozen.schema_hash[:12]}); use another "
            "folder, or strict=False to keep both definitions' results side by side"
        )
