"""One run at a time per pipeline folder: an advisory ``flock`` on ``.ezpipe.lock``.

The kernel drops a ``flock`` when its process dies, however it dies, so a lock
left by a killed run is never stale in effect: the next run takes it over and
says whose it was. The file holds the holder's host, pid, start time, Slurm
job and command line, so the error a second run gets names who to wait for.
Where the file system has no ``flock`` (some parallel file systems are
mounted without it) ezpipe warns and runs unlocked: writes stay atomic and
keyed, so results are still never corrupted.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from .errors import LockedError, StorageFullError, StoreError, is_storage_full
from .store import LOCK_FILE, Store

__all__ = ["LOCK_FILE", "FolderLock", "describe"]

log = logging.getLogger(__name__)


def _holder() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "slurm_job": os.environ.get("SLURM_JOB_ID"),
        "command": " ".join(sys.argv),
    }


def describe(info: dict[str, Any]) -> str:
    if not info.get("pid"):  # a holder that could not write its name (a full disk, say)
        return "a run that did not say who it is (the lock file is empty)"
    job = f", Slurm job {info['slurm_job']}" if info.get("slurm_job") else ""
    return (
        f"pid {info.get('pid')} on {info.get('host')} since {info.get('started')}{job} "
        f"({info.get('command')})"
    )


class FolderLock:
    """Exclusive lock of a pipeline folder for the length of a run."""

    def __init__(self, root: Path, timeout: float = 0.0, poll: float = 0.5) -> None:
        self.path = Store(root).lock_path
        self.timeout = timeout
        self.poll = poll
        self._fd: int | None = None

    def read_holder(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def acquire(self) -> None:
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            kind = StorageFullError if is_storage_full(exc) else StoreError
            raise kind(f"cannot create the lock file {self.path}: {exc.strerror}") from exc
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LockedError(
                            f"another run is using {self.path.parent}: "
                            f"{describe(self.read_holder())}. Wait for it to end, or pass "
                            "lock_timeout=SECONDS (ezpipe run/clean --lock-timeout) to wait."
                        ) from None
                    time.sleep(self.poll)
                except OSError as exc:
                    if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                        log.warning(
                            "no file locking on %s (%s): concurrent runs are not prevented",
                            self.path.parent,
                            exc,
                        )
                        os.close(fd)
                        return
                    raise
        except BaseException:
            os.close(fd)
            raise
        previous = self.read_holder()
        if previous:
            log.warning(
                "taking over the lock of a run that ended without releasing it: %s",
                describe(previous),
            )
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(_holder()).encode(), 0)
        except OSError as exc:  # a full disk: let go of the lock, never keep it unnamed
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            kind = StorageFullError if is_storage_full(exc) else StoreError
            raise kind(f"cannot write the lock file {self.path}: {exc.strerror}") from exc
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # an empty file means "released cleanly"
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None
