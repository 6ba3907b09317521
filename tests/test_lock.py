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
from ezpipe.lock import LOCK_FILE, FolderLock

HOLD = """
import sys, time
from pathlib import Path
from ezpipe.lock import FolderLock
lock = FolderLock(Path(sys.argv[1]))
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


def hold_in_subprocess(tmp_path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_run_fails_naming_the_holder(tmp_path):
    proc = hold_in_subprocess(tmp_path)
    try:
        with pytest.raises(LockedError, match=f"pid {proc.pid} on"):
            FolderLock(tmp_path).acquire()
    finally:
        proc.kill()
        proc.wait()


def test_waiting_run_gets_the_lock_when_the_holder_ends(tmp_path):
    proc = hold_in_subprocess(tmp_path)
    start = time.monotonic()
    subprocess.Popen(["sh", "-c", f"sleep 1; kill {proc.pid}"])
    lock = FolderLock(tmp_path, timeout=30, poll=0.1)
    lock.acquire()
    assert lock.held and time.monotonic() - start >= 0.9
    lock.release()
    proc.wait()


def test_lock_of_a_killed_run_is_taken_over(tmp_path, caplog):
    proc = hold_in_subprocess(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lock = FolderLock(tmp_path)
    with caplog.at_level(logging.WARNING, logger="ezpipe"):
        lock.acquire()
    assert f"pid {proc.pid}" in caplog.text
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    lock.release()
    assert (tmp_path / LOCK_FILE).read_text() == ""


def test_clean_release_leaves_no_warning(tmp_path, caplog):
    FolderLock(tmp_path).acquire()  # never released: this process still holds it
    other = FolderLock(tmp_path)
    with pytest.raises(LockedError):
        other.acquire()
