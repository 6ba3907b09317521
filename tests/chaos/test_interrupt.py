"""Ctrl-C is an interruption, not a crash: one line, status 130, no traceback, no record."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import BIN, ROOT, SCRIPTS


def interrupt(tmp_path: Path, cmd: list[str]) -> tuple[int, str, float]:
    """Start ``cmd``, press Ctrl-C (SIGINT to its process group, as a terminal does) once a
    step runs; the exit status, the output and how long the job took to end."""
    mark = tmp_path / "started"
    proc = subprocess.Popen(
        [*cmd, str(tmp_path / "p"), str(mark)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 90
        while not mark.exists():
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.3)
        pressed = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        return proc.returncode, out + err, time.monotonic() - pressed
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def check(tmp_path: Path, cmd: list[str]) -> str:
    code, output, took = interrupt(tmp_path, cmd)
    assert code == 130, output
    assert took < 5, took
    assert output.count("interrupted (Ctrl-C)") == 1, output
    assert "Traceback" not in output and "UNREACHABLE" not in output, output
    assert not list((tmp_path / "p").glob("steps/*/*/record.json"))  # nothing recorded
    return output


@pytest.mark.parametrize("ranks", [1, 3])
def test_ctrl_c(tmp_path: Path, ranks: int) -> None:
    python = [str(BIN / "python"), str(SCRIPTS / "sleepy.py")]
    output = check(tmp_path, python if ranks == 1 else [str(BIN / "mpiexec"), "-n", "3", *python])
    assert "run the same command again to resume" in output


@pytest.mark.chaos_full
@pytest.mark.parametrize("ranks", [1, 4])
def test_ctrl_c_of_ezpipe_run(tmp_path: Path, ranks: int) -> None:
    script = str(SCRIPTS / "sleepy.py")
    cmd = [str(BIN / "ezpipe"), "run", script, "-n", str(ranks), "--"]
    output = check(tmp_path, cmd)
    assert "ezpipe: pipeline 'sleepy' interrupted (Ctrl-C)" in output
