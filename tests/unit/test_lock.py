from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from ezpipe import LockedError
from ezpipe.lock import LEASE_FILE, LOCK_FILE, FolderLock

HOLD = """
import sys, time
from pathlib import Path
from ezpipe.lock import FolderLock
lock = FolderLock(Path(sys.argv[1]), lease_seconds=float(sys.argv[2]))
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""

MODES = ["flock", "lease"]


@pytest.fixture(params=MODES)
def mode(request, monkeypatch) -> str:
    """Every test under both mechanisms: flock, and the lease forced by EZPIPE_LOCK."""
    monkeypatch.setenv("EZPIPE_LOCK", request.param)
    return request.param


def hold_in_subprocess(tmp_path, lease_seconds: float = 30.0) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), str(lease_seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_run_fails_naming_the_holder(tmp_path, mode):
    proc = hold_in_subprocess(tmp_path)
    try:
        with pytest.raises(
            LockedError, match=f"another run is using {tmp_path}: pid {proc.pid} on"
        ):
            FolderLock(tmp_path).acquire()
    finally:
        proc.kill()
        proc.wait()


def test_waiting_run_gets_the_lock_when_the_holder_ends(tmp_path, mode):
    proc = hold_in_subprocess(tmp_path)
    start = time.monotonic()
    subprocess.Popen(["sh", "-c", f"sleep 1; kill {proc.pid}"])
    lock = FolderLock(tmp_path, timeout=30, poll=0.1)
    lock.acquire()
    # soon after the holder ends: a dead holder's lease (a zombie until reaped) is stale
    assert lock.held and 0.9 <= time.monotonic() - start < 15
    lock.release()
    proc.wait()


def test_lock_of_a_killed_run_is_taken_over(tmp_path, caplog, mode):
    proc = hold_in_subprocess(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lock = FolderLock(tmp_path)
    with caplog.at_level(logging.WARNING, logger="ezpipe"):
        lock.acquire()
    assert f"taking over the lock of a run that ended without releasing it: pid {proc.pid}" in (
        caplog.text
    )
    held = tmp_path / (LEASE_FILE if mode == "lease" else LOCK_FILE)
    assert json.loads(held.read_text())["pid"] == os.getpid()
    lock.release()
    assert (tmp_path / LOCK_FILE).read_text() == ""
    assert not (tmp_path / LEASE_FILE).exists()


def test_clean_release_leaves_no_warning(tmp_path, caplog, mode):
    first = FolderLock(tmp_path)
    first.acquire()
    with pytest.raises(LockedError):
        FolderLock(tmp_path).acquire()  # held by this process: still refused
    first.release()
    assert not first.held
    other = FolderLock(tmp_path)
    with caplog.at_level(logging.WARNING, logger="ezpipe"):
        other.acquire()
    assert other.held
    assert "taking over" not in caplog.text and caplog.text == ""
    other.release()


def test_an_expired_lease_of_another_host_is_taken_over(tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("EZPIPE_LOCK", "lease")
    stale = {
        "host": "elsewhere",
        "pid": 1,
        "started": "x",
        "token": "t",
        "expires": time.time() - 1,
    }
    (tmp_path / LEASE_FILE).write_text(json.dumps(stale))
    lock = FolderLock(tmp_path)
    with caplog.at_level(logging.WARNING, logger="ezpipe"):
        lock.acquire()
    assert "pid 1 on elsewhere" in caplog.text
    lock.release()


def test_a_live_lease_of_another_host_is_respected(tmp_path, monkeypatch):
    monkeypatch.setenv("EZPIPE_LOCK", "lease")
    live = {
        "host": "elsewhere",
        "pid": 1,
        "started": "x",
        "token": "t",
        "expires": time.time() + 60,
    }
    (tmp_path / LEASE_FILE).write_text(json.dumps(live))
    with pytest.raises(LockedError, match="pid 1 on elsewhere"):
        FolderLock(tmp_path).acquire()
    monkeypatch.setenv("EZPIPE_LOCK", "auto")  # a flock run sees the lease too
    with pytest.raises(LockedError, match="pid 1 on elsewhere"):
        FolderLock(tmp_path).acquire()


def test_the_heartbeat_keeps_a_short_lease_alive(tmp_path, monkeypatch):
    monkeypatch.setenv("EZPIPE_LOCK", "lease")
    proc = hold_in_subprocess(tmp_path, lease_seconds=0.6)
    try:
        first = json.loads((tmp_path / LEASE_FILE).read_text())["expires"]
        time.sleep(1.5)  # longer than the lease: only renewals keep it
        assert json.loads((tmp_path / LEASE_FILE).read_text())["expires"] > first
        with pytest.raises(LockedError, match=f"pid {proc.pid}"):
            FolderLock(tmp_path).acquire()
    finally:
        proc.kill()
        proc.wait()


def test_no_flock_falls_back_to_a_lease(tmp_path, monkeypatch, caplog):
    def refuse(fd, op):
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr("ezpipe.lock.fcntl.flock", refuse)
    lock = FolderLock(tmp_path)
    with caplog.at_level(logging.WARNING, logger="ezpipe"):
        lock.acquire()
    assert "using a lease file" in caplog.text
    assert json.loads((tmp_path / LEASE_FILE).read_text())["pid"] == os.getpid()
    with pytest.raises(LockedError, match=f"pid {os.getpid()}"):
        FolderLock(tmp_path).acquire()
    lock.release()
    assert not (tmp_path / LEASE_FILE).exists()
