"""Submitting a job script and following it, and its resubmissions, to the end.

Only ``sbatch`` and ``scontrol`` are called, through a replaceable ``run``
(tests answer like Slurm does). The exit status of each job comes from the
line the script appends to ``<script>.jobs``, not from Slurm accounting,
which many clusters do not expose to users; ``scontrol`` only tells whether
the job still exists.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import SlurmError

log = logging.getLogger(__name__)

Runner = Callable[..., subprocess.CompletedProcess]
TERMINAL_STATES = (
    "BOOT_FAIL",
    "CANCELLED",
    "COMPLETED",
    "DEADLINE",
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "TIMEOUT",
)


def submit(path: Path, *, run: Runner = subprocess.run) -> str:
    """``sbatch`` the script; returns the job id."""
    try:
        done = run(["sbatch", "--parsable", str(path)], capture_output=True, text=True, timeout=120)
    except FileNotFoundError as exc:
        raise SlurmError("sbatch is not on PATH: is this a Slurm login node?") from exc
    if done.returncode != 0:
        raise SlurmError(f"sbatch failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout.strip().split(";")[0]


def read_chain(path: Path) -> dict[str, tuple[int, str | None]]:
    """``<script>.jobs``: job id -> (exit status, resubmitted job id or None)."""
    chain: dict[str, tuple[int, str | None]] = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        return chain
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1].lstrip("-").isdigit():
            chain[fields[0]] = (int(fields[1]), None if fields[2] == "-" else fields[2])
    return chain


def job_state(job_id: str, *, run: Runner = subprocess.run) -> tuple[str, int | None]:
    """(state, exit status) from ``scontrol show job``; ("GONE", None) once Slurm forgot it."""
    done = run(
        ["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        return "GONE", None
    fields = dict(
        item.split("=", 1) for item in done.stdout.split() if "=" in item and item[0] != "="
    )
    state = fields.get("JobState", "UNKNOWN")
    code = fields.get("ExitCode", "")
    status = int(code.split(":")[0]) if code.split(":")[0].isdigit() else None
    return state, status


def wait(
    job_id: str,
    chain_path: Path,
    *,
    poll: float = 1.0,
    timeout: float | None = None,
    run: Runner = subprocess.run,
    echo: Callable[[str], None] = print,
) -> int:
    """Block until the job, and every job it resubmitted, ended; the last one's exit status."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status = _wait_one(job_id, chain_path, poll, deadline, run, echo)
        following = read_chain(chain_path).get(job_id, (status, None))[1]
        if following is None:
            echo(f"ezpipe slurm: job {job_id} ended with exit status {status}")
            return status
        echo(f"ezpipe slurm: job {job_id} stopped at its time limit; resubmitted as {following}")
        job_id = following


def _wait_one(
    job_id: str,
    chain_path: Path,
    poll: float,
    deadline: float | None,
    run: Runner,
    echo: Callable[[str], None],
) -> int:
    """One job's exit status: from its line in the chain file, else from Slurm once it ended."""
    shown = ""
    while True:
        if job_id in (chain := read_chain(chain_path)):
            return chain[job_id][0]
        state, status = job_state(job_id, run=run)
        if state != shown and state != "GONE":
            echo(f"ezpipe slurm: job {job_id} is {state}")
            shown = state
        if state.split()[0] in TERMINAL_STATES or state == "GONE":
            time.sleep(poll)  # the script may be writing its line right now
            if job_id in (chain := read_chain(chain_path)):
                return chain[job_id][0]
            log.warning("job %s ended (%s) without reporting through %s", job_id, state, chain_path)
            return status if status is not None and status != 0 else 1
        if deadline is not None and time.monotonic() > deadline:
            raise SlurmError(f"job {job_id} is still {state}: stopped waiting (--wait-timeout)")
        time.sleep(poll)
