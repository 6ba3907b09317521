"""A real single-node Slurm for the tests in this folder: started once, always stopped.

The cluster comes from the project's own ``local/start-local-slurm.sh``
(Debian's Slurm packages, installed on first use; it needs root, which CI has).
Where it cannot run (not root, no package source) the tests are skipped with
the reason, or fail when ``EZPIPE_REQUIRE_SLURM=1`` (``make test-slurm`` and
``.ci/run`` set it). It is stopped at the end of the session whatever happened,
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

SCRIPTS = Path(__file__).resolve().parent / "local"
LOCK = Path(os.environ.get("EZPIPE_SLURM_LOCK", "/tmp/ezpipe-slurm-tests.lock"))
LOCK_WAIT = 500  # seconds; under pytest-timeout's 600
REQUIRED = os.environ.get("EZPIPE_REQUIRE_SLURM", "0") == "1"


def _unavailable() -> str | None:
    """Why the local cluster cannot run on this machine, or None when it can."""
    check = ["bash", str(SCRIPTS / "start-local-slurm.sh"), "--check"]
    done = subprocess.run(check, capture_output=True, text=True, timeout=120)
    return None if done.returncode == 0 else (done.stdout.strip() or done.stderr.strip())


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
    why = _unavailable()
    if why is not None:
        if REQUIRED:
            pytest.fail(f"EZPIPE_REQUIRE_SLURM=1 but {why}", pytrace=False)
        pytest.skip(f"no local Slurm here (EZPIPE_REQUIRE_SLURM=1 makes this fail): {why}")
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
