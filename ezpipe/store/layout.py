"""Every path under a pipeline folder, and the two primitives every writer uses.

Layout of a pipeline folder::

    pipeline.schema             JSON: phases and their steps (rank 0, each freeze)
    pipeline.summary            text: outcome and the summary table
    pipeline.summary.json       the same table, machine-readable
    run.json                    RunRecord of the latest run: times, ranks, hosts, versions
    pipeline.dryrun             the report of the latest dry run (nothing else is written)
    .ezpipe.lock                the folder lock (flock, or a lease file: see lock.py)
    steps/.packs/               packed layout (the default): see docs/store.md
        <host>-<pid>-<uuid8>.pack     one append-only file per writer process
        index                         resume index snapshot (temp + rename)
        <hash>-<uuid8>.blob           one file per large result
    steps/<name>/<key16>/output.log   the step's captured output (if it wrote any)
    steps/<name>/<key16>/result.pkl   per-step layout only: cloudpickle of the result
    steps/<name>/<key16>/record.json  per-step layout only: the StepRecord

Everything a step stores lives under ``steps/``, so removing that folder
removes every result in either layout (``ezpipe clean`` does).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import uuid
from pathlib import Path

from ..keys import KEY_LENGTH

SCHEMA_FILE = "pipeline.schema"
STEP_TABLE_FILE = ".ezpipe.steps"  # the schema's columns the commands read (steptable.py)
SUMMARY_FILE = "pipeline.summary"
SUMMARY_JSON_FILE = "pipeline.summary.json"
STEPS_DIR = "steps"
RESULT_FILE = "result.pkl"
RECORD_FILE = "record.json"
LOG_FILE = "output.log"
RUN_FILE = "run.json"
DRY_RUN_FILE = "pipeline.dryrun"
LOCK_FILE = ".ezpipe.lock"
JOBS_FILE = "slurm_jobs.json"
PACKS_DIR = ".packs"  # under steps/: a dotted name no step folder can clash with
INDEX_FILE = "index"
PACK_SUFFIX = ".pack"
BLOB_SUFFIX = ".blob"

HOST = socket.gethostname()


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_atomic(path: Path | str, data: bytes, *, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    folder, name = os.path.split(path)  # strings: pathlib costs ~10 us per operation
    tmp = os.path.join(folder, f".{name}.{HOST}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


NFS_TYPES = frozenset({"nfs", "nfs4"})


def filesystem_type(path: Path | str) -> str:
    """The type of the file system holding ``path`` (from /proc/mounts; "" if unknown)."""
    target = os.path.realpath(path)
    best, kind = "", ""
    try:
        with open("/proc/mounts", encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) < 3:
                    continue
                point = fields[1].replace("\\040", " ")
                inside = target == point or target.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, kind = point, fields[2]
    except OSError:
        return ""
    return kind


def writer_id() -> str:
    """A name no other writer process uses: host, pid and a random part (pids recycle)."""
    host = "".join(c if c.isalnum() or c in "-_" else "_" for c in HOST)[:40]
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Layout:
    """The paths of one pipeline folder (no I/O)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dirs: dict[tuple[str, str], Path] = {}  # step folders, built once (pathlib is slow)

    @property
    def steps(self) -> Path:
        return self.root / STEPS_DIR

    @property
    def packs(self) -> Path:
        return self.root / STEPS_DIR / PACKS_DIR

    @property
    def index(self) -> Path:
        return self.packs / INDEX_FILE

    def step_root(self, name: str) -> Path:
        return self.root / STEPS_DIR / name

    def step_dir(self, name: str, key: str) -> Path:
        folder = self._dirs.get((name, key))
        if folder is None:
            if len(self._dirs) >= 100_000:
                self._dirs.clear()
            folder = self._dirs[name, key] = self.step_root(name) / key[:KEY_LENGTH]
        return folder

    def result_file(self, name: str, key: str) -> Path:
        return self.step_dir(name, key) / RESULT_FILE

    def record_file(self, name: str, key: str) -> Path:
        return self.step_dir(name, key) / RECORD_FILE

    def log_file(self, name: str, key: str) -> Path:
        return self.step_dir(name, key) / LOG_FILE

    def blob_name(self, name: str, key: str) -> str:
        """A large result's file name: short whatever the step name, unique per write."""
        digest = hashlib.sha256(f"{name}\0{key}".encode()).hexdigest()[:24]
        return f"{digest}-{uuid.uuid4().hex[:8]}{BLOB_SUFFIX}"
