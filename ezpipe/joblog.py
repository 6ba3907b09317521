"""``slurm_jobs.json``: which Slurm jobs ran a pipeline folder, and how each ended.

Written by rank 0 when a run happens inside a Slurm job (``SLURM_JOB_ID`` is
set): one entry per ``execute()``, added when the run starts (so a job killed
outright still shows up, as ``running``) and completed when it ends. The
entry notes the job id, the node list, the task and rank counts and, for jobs
started by ``ezpipe slurm`` scripts, the attempt number and the job it
resubmits. A separate file from the run record (``run.json``) so the two
never contend. Failing to write it is logged, never fatal.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from .records import Status
from .store import JOBS_FILE, Store

__all__ = ["JOBS_FILE", "JobLog", "job_entry"]

log = logging.getLogger(__name__)

ENV_ATTEMPT = "EZPIPE_SLURM_ATTEMPT"
ENV_RESUBMIT = "EZPIPE_SLURM_RESUBMIT"
ENV_PREVIOUS = "EZPIPE_SLURM_PREVIOUS_JOB"
ENV_SCRIPT = "EZPIPE_SLURM_SCRIPT"


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def job_entry(environ: Mapping[str, str], ranks: int) -> dict[str, Any] | None:
    """The description of the current Slurm job, or None outside Slurm."""
    job_id = environ.get("SLURM_JOB_ID")
    if not job_id:
        return None
    return {
        "job_id": job_id,
        "job_name": environ.get("SLURM_JOB_NAME"),
        "node_list": environ.get("SLURM_JOB_NODELIST") or environ.get("SLURM_NODELIST"),
        "nodes": _int(environ.get("SLURM_JOB_NUM_NODES")),
        "ntasks": _int(environ.get("SLURM_NTASKS")),
        "step_id": environ.get("SLURM_STEP_ID"),
        "ranks": ranks,
        "attempt": _int(environ.get(ENV_ATTEMPT)) or 0,
        "resubmit_limit": _int(environ.get(ENV_RESUBMIT)),
        "resubmission_of": environ.get(ENV_PREVIOUS) or None,
        "script": environ.get(ENV_SCRIPT),
        "submit_dir": environ.get("SLURM_SUBMIT_DIR"),
        "started": time.time(),
        "ended": None,
        "outcome": "running",
    }


class JobLog:
    """Rank 0's handle on ``slurm_jobs.json`` for the current run."""

    def __init__(self, store: Store, entry: dict[str, Any]) -> None:
        self.path = store.jobs_path
        self.store = store
        self.entry = entry

    @classmethod
    def begin(
        cls, store: Store, rank: int, ranks: int, environ: Mapping[str, str] = os.environ
    ) -> JobLog | None:
        """Add this run's entry (rank 0, inside Slurm only); None elsewhere."""
        entry = job_entry(environ, ranks)
        if rank != 0 or entry is None:
            return None
        job_log = cls(store, entry)
        job_log._save()
        return job_log

    def read(self) -> list[dict[str, Any]]:
        try:
            jobs = json.loads(self.path.read_text()).get("jobs", [])
        except FileNotFoundError:
            return []
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("starting a new %s: the old one is unreadable (%s)", self.path, exc)
            return []
        return [job for job in jobs if isinstance(job, dict)]

    def end(self, statuses: Sequence[Status], interrupted: bool) -> None:
        """Complete the entry: how the run ended and how many steps ended how."""
        counts = Counter(status.label.lower() for status in statuses)
        if interrupted:
            outcome = "interrupted"
        elif all(status == Status.PASSED for status in statuses):
            outcome = "completed"
        else:
            outcome = "failed"
        self.entry.update(ended=time.time(), outcome=outcome, steps=dict(counts))
        self._save()

    def _save(self) -> None:
        try:
            jobs = [
                job
                for job in self.read()
                if (job.get("job_id"), job.get("started"))
                != (self.entry["job_id"], self.entry["started"])
            ]
            jobs.append(self.entry)
            self.store.create()
            self.store.write_text(self.path, json.dumps({"jobs": jobs}, indent=1) + "\n")
        except OSError as exc:
            log.error("could not write %s: %s", self.path, exc)
