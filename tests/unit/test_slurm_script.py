"""The generated job script, run by bash with a stand-in ``srun``: what it exits with.

Slurm starts the next job of an ``afterok`` chain only when this one exits 0,
so the script must exit non-zero when the pipeline's steps failed, although
the pipeline script itself exits 0 then. The real-Slurm version of this is in
tests/slurm/test_real_slurm.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ezpipe.cli import EXIT_STEPS_FAILED
from ezpipe.slurm import SlurmJob, read_chain
from ezpipe.slurm.script import EXIT_STEPS_FAILED as SCRIPT_EXIT_STEPS_FAILED

DATA = Path(__file__).parents[1] / "data"
PIPELINE = DATA / "afterok_pipeline.py"
FAKE_SRUN = '#!/bin/bash\n[[ $1 == --mpi=* ]] && shift\nexec "$@"\n'  # one task, no MPI


def run_job(tmp_path: Path, script: Path, *args: str, job_id: str = "7") -> tuple[int, str]:
    """Write the job script for ``script ARGS`` and run it as Slurm's batch step would."""
    job = SlurmJob(script=script, args=list(args), workdir=tmp_path, resources={"time": "5"})
    path = job.write()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "srun").write_text(FAKE_SRUN)
    (bin_dir / "srun").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "EZPIPE_"))} | {
        "SLURM_JOB_ID": job_id,
        "SLURM_JOB_NODELIST": "localhost",
    }
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    done = subprocess.run(
        ["bash", str(path)], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path
    )
    assert not list(path.parent.glob("*.notes")), "the job left its notes file behind"
    return done.returncode, done.stdout + done.stderr


def test_the_pipeline_script_itself_exits_0_when_a_step_fails(tmp_path):
    done = subprocess.run(
        [sys.executable, str(PIPELINE), str(tmp_path / "out"), "fail"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr  # ezpyp's convention: the premise of the script
    assert "[FAIL] 'check'" in done.stdout


def test_a_job_whose_steps_failed_exits_1_and_says_why(tmp_path):
    status, output = run_job(tmp_path, PIPELINE, str(tmp_path / "out"), "fail")
    assert status == EXIT_STEPS_FAILED == SCRIPT_EXIT_STEPS_FAILED == 1, output
    assert "ezpipe: steps failed or were skipped: exit status 1" in output
    assert read_chain(tmp_path / "ezpipe-jobs" / "afterok_pipeline.sbatch.jobs") == {"7": (1, None)}


def test_a_job_whose_steps_passed_exits_0(tmp_path):
    status, output = run_job(tmp_path, PIPELINE, str(tmp_path / "out"), "pass")
    assert status == 0, output
    assert "[PASS] 'check'" in output and "steps failed" not in output
    assert read_chain(tmp_path / "ezpipe-jobs" / "afterok_pipeline.sbatch.jobs") == {"7": (0, None)}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("raise SystemExit(3)", 3),  # the script's own status is kept
        ("print('no pipeline here')", 0),  # no execute(): nothing says steps failed
    ],
)
def test_other_scripts_keep_their_exit_status(tmp_path, body, status):
    script = tmp_path / "other.py"
    script.write_text(body + "\n")
    assert run_job(tmp_path, script)[0] == status


def test_a_failed_run_then_a_passing_one_in_the_same_script_still_fails_the_job(tmp_path):
    script = tmp_path / "twice.py"
    script.write_text(
        "import runpy, sys\n"
        f"sys.argv = ['x', {str(tmp_path / 'a')!r}, 'fail']\n"
        f"runpy.run_path({str(PIPELINE)!r})\n"
        f"sys.argv = ['x', {str(tmp_path / 'b')!r}, 'pass']\n"
        f"runpy.run_path({str(PIPELINE)!r})\n"
    )
    status, output = run_job(tmp_path, script)
    assert status == 1, output
    assert "[FAIL] 'check'" in output and "[PASS] 'check'" in output
