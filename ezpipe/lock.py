"""One run at a time per pipeline folder: ``flock`` on ``.ezpipe.lock``, or a lease file.

The kernel drops a ``flock`` when its process dies, however it dies, so a lock
left by a killed run is never stale in effect: the next run takes it over and
says whose it was. The file holds the holder's host, pid, start time, Slurm
job and command line, so the error a second run gets names who to wait for.

Where ``flock`` is refused (some parallel file systems are mounted without it)
the lock falls back to a lease: ``.ezpipe.lease``, created with ``O_EXCL``,
holding the holder and an expiry that a heartbeat thread pushes forward. A
lease is taken over when it has expired or when its holder is on this host
and dead. Where ``flock`` works but only within one node (Lustre's
``localflock``), nothing can tell: set ``EZPIPE_LOCK=lease`` (docs/store.md).
A lease-mode run also takes the ``flock`` when it can, so runs in either mode
exclude each other.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from .errors import LockedError, StorageFullError, StoreError, is_storage_full
from .options import env
from .store import LOCK_FILE, Store
from .store.layout import write_atomic

__all__ = ["ENV_LOCK", "LEASE_FILE", "LOCK_FILE", "FolderLock", "describe"]

log = logging.getLogger(__name__)

ENV_LOCK = "EZPIPE_LOCK"  # "lease": always a lease file; "flock": never one; default auto
LEASE_FILE = ".ezpipe.lease"
LEASE_SECONDS = 30.0  # how long a lease lasts without a heartbeat
_NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


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


def _alive(pid: Any) -> bool:
    """Whether a process of this host runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return True
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class FolderLock:
    """Exclusive lock of a pipeline folder for the length of a run."""

    def __init__(
        self,
        root: Path,
        timeout: float = 0.0,
        poll: float = 0.5,
        *,
        mode: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        store = Store(root)
        self.path = store.lock_path
        self.lease_path = store.root / LEASE_FILE
        self.timeout = timeout
        self.poll = poll
        self.mode = (mode or env(ENV_LOCK) or "auto").strip().lower()
        if self.mode not in ("auto", "flock", "lease"):
            raise ValueError(f"{ENV_LOCK}={self.mode!r}: use auto, flock or lease")
        self.lease_seconds = lease_seconds
        self._fd: int | None = None
        self._lease: dict[str, Any] | None = None  # ours, while held
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def read_holder(self) -> dict[str, Any]:
        return _read_json(self.path)

    def _locked(self, info: dict[str, Any]) -> LockedError:
        return LockedError(
            f"another run is using {self.path.parent}: {describe(info)}. Wait for it to end, "
            "or pass lock_timeout=SECONDS (ezpipe run/clean --lock-timeout) to wait."
        )

    def acquire(self) -> None:
        if self.held:
            return
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self._try_acquire()
                return
            except LockedError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(self.poll)

    def _try_acquire(self) -> None:
        """Take the lock now or raise :class:`LockedError`."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            kind = StorageFullError if is_storage_full(exc) else StoreError
            raise kind(f"cannot create the lock file {self.path}: {exc.strerror}") from exc
        flocked = False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            flocked = True
        except BlockingIOError:
            os.close(fd)
            raise self._locked(self.read_holder()) from None
        except OSError as exc:
            if exc.errno not in _NO_FLOCK or self.mode == "flock":
                os.close(fd)
                raise
            if self.mode == "auto":
                log.warning("no file locking on %s (%s): using a lease file", self.path.parent, exc)
        try:
            if self.mode == "lease" or not flocked:
                self._take_lease()
            elif (info := _read_json(self.lease_path)) and not self._stale(info):
                raise self._locked(info)  # a lease-mode run holds the folder
        except BaseException:
            os.close(fd)
            raise
        previous = self.read_holder() if flocked else {}
        if previous:
            log.warning(
                "taking over the lock of a run that ended without releasing it: %s",
                describe(previous),
            )
        if flocked:
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(_holder()).encode(), 0)
            except OSError as exc:  # a full disk: let go of the lock, never keep it unnamed
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                kind = StorageFullError if is_storage_full(exc) else StoreError
                raise kind(f"cannot write the lock file {self.path}: {exc.strerror}") from exc
        self._fd = fd

    # -- lease ----------------------------------------------------------------------------------
    def _stale(self, info: dict[str, Any]) -> bool:
        if info.get("host") == socket.gethostname() and not _alive(info.get("pid")):
            return True
        try:
            return time.time() > float(info["expires"])
        except (KeyError, TypeError, ValueError):
            return True  # unreadable: a holder writes its file whole (temp + rename)

    def _take_lease(self) -> None:
        mine = {**_holder(), "token": uuid.uuid4().hex, "expires": 0.0}
        for _ in range(5):
            mine["expires"] = time.time() + self.lease_seconds
            try:
                fd = os.open(self.lease_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                info = _read_json(self.lease_path)
                if not info and self.lease_path.exists():
                    time.sleep(0.01)  # a holder between create and write: look again
                    info = _read_json(self.lease_path)
                if not self._stale(info):
                    raise self._locked(info) from None
                self._break(info)
                continue
            try:
                os.write(fd, json.dumps(mine).encode())
            finally:
                os.close(fd)
            self._lease = mine
            self._stop.clear()
            self._heartbeat = threading.Thread(
                target=self._renew, name="ezpipe-lease-heartbeat", daemon=True
            )
            self._heartbeat.start()
            return
        raise self._locked(_read_json(self.lease_path))

    def _break(self, stale: dict[str, Any]) -> None:
        """Remove a stale lease, unless it was renewed meanwhile (then put it back)."""
        aside = self.lease_path.with_name(f"{LEASE_FILE}.{uuid.uuid4().hex[:8]}.stale")
        try:
            os.rename(self.lease_path, aside)
        except FileNotFoundError:
            return
        if _read_json(aside).get("token") != stale.get("token"):
            with contextlib.suppress(OSError):
                os.link(aside, self.lease_path)  # never over a newer one
        else:
            log.warning(
                "taking over the lock of a run that ended without releasing it: %s",
                describe(stale),
            )
        with contextlib.suppress(FileNotFoundError):
            os.unlink(aside)

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            lease = self._lease
            if lease is None:
                return
            current = _read_json(self.lease_path)
            if current.get("token") != lease["token"]:
                log.error(
                    "the lease of %s was taken over by %s", self.path.parent, describe(current)
                )
                return
            lease["expires"] = time.time() + self.lease_seconds
            try:
                write_atomic(self.lease_path, json.dumps(lease).encode())
            except OSError as exc:
                log.warning("cannot renew the lease %s: %s", self.lease_path, exc)

    def release(self) -> None:
        if self._lease is not None:
            self._stop.set()
            if self._heartbeat is not None:
                self._heartbeat.join()
                self._heartbeat = None
            if _read_json(self.lease_path).get("token") == self._lease["token"]:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.lease_path)
            self._lease = None
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # an empty file means "released cleanly"
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None
