"""Running scripts under mpiexec from tests without ever hanging the suite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tests" / "scripts"
BIN = Path(sys.executable).parent


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


def run_script(
    script: str | Path, *args: str, ranks: int = 1, timeout: float = 120, env: dict | None = None
) -> Completed:
    """Run a Python script in a fresh process (under mpiexec when ranks > 1).

    The process gets its own session; on timeout the whole group is killed and
    the test fails, so a hang is a failure, never a stuck suite.
    """
    cmd = [sys.executable, str(script), *args]
    if ranks > 1:
        cmd = [str(BIN / "mpiexec"), "-n", str(ranks), *cmd]
    return run_command(cmd, timeout=timeout, env=env)


def run_command(
    cmd: list[str], *, timeout: float = 120, env: dict | None = None, cwd: Path = ROOT
) -> Completed:
    """Run any command like :func:`run_script`: own session, killed and failed on timeout."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        start_new_session=True,
        cwd=cwd,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} hung for {timeout} s\n--- stdout\n{out}\n--- stderr\n{err}")
    return Completed(proc.returncode, out, err)
