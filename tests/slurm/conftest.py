"""A real single-node Slurm for the tests in this folder: started once, always stopped.

The cluster comes from ``../shared/slurm/start-local-slurm.sh`` beside the
repository (override the folder with ``EZPIPE_SLURM_SCRIPTS``); it needs root,
which CI has. It is stopped at the end of the session whatever happened,
failures and interruptions included. There is one cluster per machine, so a
session holds a machine-wide lock (``EZPIPE_SLURM_LOCK``) from start to stop:
a second checkout's session waits instead of having its cluster stopped under it.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(os.environ.get("EZPIPE_SLURM_SCRIPTS", ROOT.parent / "shared" / "slurm"))
LOCK = Path(os.environ.get("EZPIPE_SLURM_LOCK", "/tmp/ezpipe-slurm-tests.lock"))
LOCK_WAIT = 500  # seconds; under pytest-timeout's 600


def _lock(handle: TextIO) -> None:
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                pytest.fail(f"another test session held {LOCK} for {LOCK_WAIT} s", pytrace=False)
            time.sleep(1)


@pytest.fixture(scope="session")
def slurm_env() -> Iterator[dict[str, str]]:
    """The environment in which srun and sbatch reach the local cluster."""
    with open(LOCK, "a") as handle:
        _lock(handle)  # released when the file closes, or when this process dies
        try:
            started = subprocess.run(
                ["bash", str(SCRIPTS / "start-local-slurm.sh")],
                capture_output=True,
                text=True,
                timeout=300,
            )
            if started.returncode != 0:
                pytest.fail(f"the local Slurm did not start:\n{started.stderr}", pytrace=False)
            line = started.stdout.strip().splitlines()[-1]
            yield {"SLURM_CONF": line.removeprefix("export SLURM_CONF=")}
        finally:
            stop = ["bash", str(SCRIPTS / "stop-local-slurm.sh")]
            subprocess.run(stop, capture_output=True, text=True, timeout=180)
