"""Step output folders: the files a step writes itself (checkpoints, HDF5, plots, arrays).

A step asks for its folder by having a parameter named ``output_dir`` (and,
to learn that it is resuming, ``resume_dir``); the sandbox passes them. Layout,
beside the step's record::

    steps/<name>/<key16>/output/                   the committed folder of a passed step
    steps/<name>/<key16>/.output.attempt-<id>/     the folder of the attempt now running
    steps/<name>/<key16>/.output.interrupted/      what a stopped attempt left behind

Every attempt starts in a fresh attempt folder, so a failed or killed
attempt's files are never taken for a result: stale attempt folders are
deleted when the next attempt starts. The one exception is a stop signal (a
time limit): the stopped attempt's folder is kept, and the next attempt starts
*with those files* in its ``output_dir`` and gets ``resume_dir`` set to that
same folder (None otherwise), so checkpoints survive preemption, however many
times the step is stopped. On success the attempt folder is renamed to
``output/`` and the record lists every file's size and sha256; a committed
folder that does not match its record is never used (the step is recomputed).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import uuid
from pathlib import Path
from typing import Any

from .records import StepRecord
from .store import Store

OUTPUT_PARAM = "output_dir"
RESUME_PARAM = "resume_dir"
ATTEMPT_PREFIX = ".output.attempt-"
INTERRUPTED_DIR = ".output.interrupted"
_CHUNK = 8 << 20


def wants(step: Any) -> tuple[bool, bool]:
    """Does the step's function take ``output_dir``, ``resume_dir``? (a wrapper may say so
    through ``__ezpipe_wants__``, as :func:`ezpipe.arrays.as_numpy_step` does). Read once
    per definition: it is asked for every step run."""
    definition = step.definition
    cached = getattr(definition, "_ezpipe_wants", None)
    if cached is None:
        params = set(definition.signature.parameters)
        params |= set(getattr(step.func, "__ezpipe_wants__", ()))
        cached = definition._ezpipe_wants = (OUTPUT_PARAM in params, RESUME_PARAM in params)
    return cached


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _files(folder: Path) -> dict[str, Path]:
    out = {}
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = Path(root, name)
            out[path.relative_to(folder).as_posix()] = path
    return out


def manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """Every file under ``folder`` (relative POSIX path): size, sha256 and mtime_ns."""
    out: dict[str, dict[str, Any]] = {}
    for rel, path in _files(folder).items():
        digest = _sha256(path)
        stat = path.stat()
        out[rel] = {"size": stat.st_size, "sha256": digest, "mtime_ns": stat.st_mtime_ns}
    return out


def matches(folder: Path, files: dict[str, dict[str, Any]], *, deep: bool = True) -> bool:
    """Does ``folder`` hold exactly ``files``? Names and sizes always; with ``deep``,
    the checksum of every file whose modification time is not the recorded one (a
    file untouched since it was committed is not read again)."""
    if not folder.is_dir():
        return False
    found = _files(folder)
    if set(found) != set(files):
        return False
    for rel, entry in files.items():
        stat = found[rel].stat()
        if stat.st_size != entry.get("size"):
            return False
        changed = deep and stat.st_mtime_ns != entry.get("mtime_ns")
        if changed and _sha256(found[rel]) != entry.get("sha256"):
            return False
    return True


def record_matches(store: Store, record: StepRecord, *, deep: bool = True) -> bool:
    """A record without an output folder matches trivially; else its folder must match."""
    if record.output_files is None:
        return True
    return matches(store.output_dir(record.name, record.key), record.output_files, deep=deep)


class Attempt:
    """One attempt's output folder: started fresh (or from a stopped attempt), then
    committed, kept for the next attempt (stop signal) or thrown away (failure)."""

    def __init__(self, store: Store, name: str, key: str) -> None:
        self.base = store.step_dir(name, key)
        self.final = store.output_dir(name, key)
        self.stopped = self.base / INTERRUPTED_DIR
        tag = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.dir = self.base / f"{ATTEMPT_PREFIX}{tag}"
        self.resumed = False

    def start(self) -> tuple[Path, Path | None]:
        """The attempt's ``output_dir`` and ``resume_dir`` (None unless resuming)."""
        self.base.mkdir(parents=True, exist_ok=True)
        for stale in self.base.glob(f"{ATTEMPT_PREFIX}*"):  # killed or failed attempts
            shutil.rmtree(stale, ignore_errors=True)
        if self.stopped.is_dir():
            os.rename(self.stopped, self.dir)
            self.resumed = True
        else:
            self.dir.mkdir()
        return self.dir, (self.dir if self.resumed else None)

    def arguments(self, wanted: tuple[bool, bool]) -> dict[str, Path | None]:
        """Start the attempt; the keyword arguments the step asked for."""
        out_dir, resume = self.start()
        kwargs: dict[str, Path | None] = {}
        if wanted[0]:
            kwargs[OUTPUT_PARAM] = out_dir
        if wanted[1]:
            kwargs[RESUME_PARAM] = resume
        return kwargs

    def keep_for_resume(self) -> None:
        """A stop signal: the files wait for the next attempt."""
        with contextlib.suppress(OSError):
            if self.stopped.exists():
                shutil.rmtree(self.stopped)
            os.rename(self.dir, self.stopped)

    def discard(self) -> None:
        """A failure: the files are never taken for a result."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def commit(self) -> dict[str, dict[str, Any]]:
        """Checksum the files and rename the folder into place; the record's manifest.

        The record, written after this, is the commit point: a renamed folder
        without a matching record is never used, and the next success replaces it.
        """
        files = manifest(self.dir)
        if self.final.exists():
            shutil.rmtree(self.final)
        os.rename(self.dir, self.final)
        return files


def stored_as_files(value: Any) -> bool:
    """Is this loaded result a marker of files in the output folder (a numpy result)?"""
    return getattr(type(value), "__ezpipe_load__", None) is not None


def resolve_result(value: Any, folder: Path) -> Any:
    """A result stored as files (an ``as_numpy_step`` array) loaded from its folder."""
    return value.__ezpipe_load__(folder) if stored_as_files(value) else value


def resolve_path(store: Store, ref: Any) -> Path:
    """The real path of an :class:`ezpipe.paths.OutputPath`; a blocking one must point
    into a committed folder that matches its record (sizes checked)."""
    step = ref.step
    folder = store.output_dir(step.name, step.key)
    if ref.blocking:
        record = store.read_record(step.name, step.key)
        if record is None or record.output_files is None:
            raise FileNotFoundError(
                f"step {step.name!r} has no output folder (does it take an {OUTPUT_PARAM!r} "
                "parameter, and did it pass?)"
            )
        if not record_matches(store, record, deep=False):
            raise FileNotFoundError(
                f"the output folder of step {step.name!r} at {folder} does not match its record"
            )
    return folder / ref.path if ref.path else folder
