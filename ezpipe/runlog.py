"""The run log: ``run.json``, ``slurm_jobs.json`` and the note ``ezpipe run`` reads back.

Rank 0 writes ``run.json`` when a run starts (``end`` empty) and again when it
ends with the run's verdict, so ``ezpipe status`` can tell a finished run from
one still going or one that crashed. Inside a Slurm job (``SLURM_JOB_ID`` set)
each ``execute()`` also adds an entry to ``slurm_jobs.json`` when it starts
(so a job killed outright still shows up, as ``running``) and completes it
when it ends: job id, node list, task and rank counts and, for ``ezpipe slurm``
scripts, the attempt number and the job it resubmits. ``ezpipe run`` cannot
see the script's ``execute()``, so each execute on rank 0 appends one JSON
line to the file named by ``EZPIPE_RUN_REPORT``. Failing to write any of these
is logged, never fatal: they describe a run, they are not its results.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
import sys
import time
from collections.abc import Mapping
from typing import Any

from .options import env
from .records import RunRecord, RunTally
from .slurm.environment import SlurmEnvironment
from .store import Store
from .version import __version__

log = logging.getLogger(__name__)


class RunLog:
    """Rank 0's handle on the run record, the Slurm job entry and the run note."""

    def __init__(self, store: Store, record: RunRecord, job: dict[str, Any] | None) -> None:
        self.store = store
        self.record = record
        self.job = job

    @classmethod
    def begin(
        cls,
        store: Store,
        pipeline: str,
        ranks: int,
        hosts: list[str],
        options: Mapping[str, Any],
        environ: Mapping[str, str] = os.environ,
        allocation: str | None = None,
    ) -> RunLog:
        """Record the start of a run (``run.json`` and, inside Slurm, the job entry)."""
        record = RunRecord(
            pipeline=pipeline,
            folder=str(store.root),
            start=time.time(),
            ranks=ranks,
            hosts=sorted(set(hosts)),
            host=socket.gethostname(),
            pid=os.getpid(),
            ezpipe_version=__version__,
            python_version=platform.python_version(),
            command=list(sys.argv),
            cwd=os.getcwd(),
            options=dict(options),
            allocation=allocation,
        )
        run_log = cls(store, record, job_entry(environ, ranks))
        run_log._write_record()
        if run_log.job is not None:
            run_log._save_job()
        return run_log

    def end(self, tally: RunTally, not_passed: dict[str, tuple[int, str | None, bool]]) -> None:
        """Record how the run ended: its verdict and the steps that did not pass in
        ``run.json``, the job's outcome."""
        end = time.time()
        self.record = self.record.model_copy(
            update={
                "end": end,
                "duration": end - self.record.start,
                "counts": tally.counts(),
                "verdict": tally.as_dict(),
                "not_passed": not_passed,
            }
        )
        self._write_record()
        if self.job is not None:
            self.job.update(ended=end, outcome=tally.outcome, steps=tally.counts())
            self._save_job()
        note(str(self.store.root), passed=tally.asked_done)

    def _write_record(self) -> None:
        try:
            self.store.create()
            self.store.write_run_record(self.record)
        except OSError as exc:
            log.error("could not write the run record %s: %s", self.store.run_path, exc)

    def _save_job(self) -> None:
        assert self.job is not None
        path = self.store.jobs_path
        try:
            jobs = [
                job
                for job in read_jobs(self.store)
                if (job.get("job_id"), job.get("started"))
                != (self.job["job_id"], self.job["started"])
            ]
            jobs.append(self.job)
            self.store.create()
            self.store.write_text(path, json.dumps({"jobs": jobs}, indent=1) + "\n")
        except OSError as exc:
            log.error("could not write %s: %s", path, exc)


def job_entry(environ: Mapping[str, str], ranks: int) -> dict[str, Any] | None:
    """The description of the current Slurm job, or None outside Slurm."""
    slurm = SlurmEnvironment.from_environ(environ)
    if not slurm.in_job:
        return None
    return {
        "job_id": slurm.job_id,
        "job_name": slurm.job_name,
        "node_list": slurm.node_list,
        "nodes": slurm.num_nodes,
        "ntasks": slurm.ntasks,
        "step_id": slurm.step_id,
        "ranks": ranks,
        "attempt": env("EZPIPE_SLURM_ATTEMPT", environ) or 0,
        "resubmit_limit": env("EZPIPE_SLURM_RESUBMIT", environ),
        "resubmission_of": env("EZPIPE_SLURM_PREVIOUS_JOB", environ),
        "script": env("EZPIPE_SLURM_SCRIPT", environ),
        "submit_dir": slurm.submit_dir,
        "started": time.time(),
        "ended": None,
        "outcome": "running",
    }


def read_jobs(store: Store) -> list[dict[str, Any]]:
    """The entries of ``slurm_jobs.json`` (none when missing or unreadable)."""
    path = store.jobs_path
    try:
        jobs = json.loads(path.read_text()).get("jobs", [])
    except FileNotFoundError:
        return []
    except (OSError, ValueError, AttributeError) as exc:
        log.warning("starting a new %s: the old one is unreadable (%s)", path, exc)
        return []
    return [job for job in jobs if isinstance(job, dict)]


def note(folder: str, *, passed: bool, dry_run: bool = False) -> None:
    """Tell ``ezpipe run`` (if it started us) how this execute ended."""
    path = env("EZPIPE_RUN_REPORT")
    if not path:
        return
    line = json.dumps({"folder": folder, "passed": passed, "dry_run": dry_run})
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError as exc:
        log.warning("could not write the run note for ezpipe run to %s: %s", path, exc)


def read_notes(path: str) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []
