"""A folder locked by another run: one line naming the holder, or a wait (--lock-timeout)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import BIN, ROOT, SCRIPTS, run_command


@contextmanager
def held(folder: Path, counts: Path, seconds: float) -> Iterator[subprocess.Popen[bytes]]:
    """A run of chain.py that holds the folder's lock for ``seconds`` before running."""
    counts.mkdir(exist_ok=True)
    cmd = [sys.executable, str(SCRIPTS / "chain.py"), str(folder), str(counts)]
    holder = subprocess.Popen(
        [*cmd, "--hold", str(seconds)], stdout=subprocess.DEVNULL, start_new_session=True, cwd=ROOT
    )
    try:
        lock = folder / ".ezpipe.lock"
        deadline = time.monotonic() + 60
        while not lock.exists() or not lock.read_text():
            assert time.monotonic() < deadline and holder.poll() is None
            time.sleep(0.05)
        yield holder
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()


def test_a_locked_folder_is_one_line_at_every_rank_count(tmp_path: Path) -> None:
    folder, counts = tmp_path / "p", tmp_path / "counts"
    script, *args = [str(SCRIPTS / "chain.py"), str(folder), str(counts)]
    with held(folder, counts, 60) as holder:
        for ranks in (1, 2):  # chain.py waits 60 s for the lock; --lock-timeout 0 overrides it
            run = [str(BIN / "ezpipe"), "run", script, "-n", str(ranks), "--lock-timeout", "0"]
            done = run_command([*run, "--", *args], timeout=60)
            output = done.stdout + done.stderr
            assert done.returncode != 0
            assert output.count(f"another run is using {folder}: pid {holder.pid}") == 1, output
            assert "Traceback" not in output
            assert "--lock-timeout" in output


@pytest.mark.chaos_full
def test_lock_timeout_waits_for_the_other_run(tmp_path: Path) -> None:
    folder, counts = tmp_path / "p", tmp_path / "counts"
    chain = [str(SCRIPTS / "chain.py"), str(folder), str(counts)]
    with held(folder, counts, 2) as holder:
        run = [str(BIN / "ezpipe"), "run", chain[0], "--lock-timeout", "60", "--", *chain[1:]]
        done = run_command(run, timeout=90)
        assert done.returncode == 0, done.stderr
        assert "RESULT 56" in done.stdout
        assert holder.wait(timeout=60) == 0
    with held(folder, counts, 8):
        clean = [str(BIN / "ezpipe"), "clean", str(folder), "--yes"]
        refused = run_command(clean, timeout=60)
        assert refused.returncode != 0 and "another run is using" in refused.stderr
        waited = run_command([*clean, "--lock-timeout", "60"], timeout=90)
        assert waited.returncode == 0, waited.stderr
        assert "deleted every result" in waited.stdout
