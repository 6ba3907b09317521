"""A real single-node Slurm for the tests in this folder: started once, always stopped.

The cluster comes from ``../shared/slurm/start-local-slurm.sh`` beside the
repository (override the folder with ``EZPIPE_SLURM_SCRIPTS``); it needs root,
which CI has. It is stopped at the end of the session whatever happened,
failures and interruptions included.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(os.environ.get("EZPIPE_SLURM_SCRIPTS", ROOT.parent / "shared" / "slurm"))


@pytest.fixture(scope="session")
def slurm_env() -> Iterator[dict[str, str]]:
    """The environment in which srun and sbatch reach the local cluster."""
    stop = ["bash", str(SCRIPTS / "stop-local-slurm.sh")]
    try:
        started = subprocess.run(
            ["bash", str(SCRIPTS / "start-local-slurm.sh")],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if started.returncode != 0:
            pytest.fail(f"the local Slurm did not start:\n{started.stderr}", pytrace=False)
        line = started.stdout.strip().splitlines()[-1]
        conf = line.removeprefix("export SLURM_CONF=")
        yield {"SLURM_CONF": conf}
    finally:
        subprocess.run(stop, capture_output=True, text=True, timeout=180)
