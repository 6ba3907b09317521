"""The generated job script: its text, and what it exits with when bash runs it.

The text is pinned by a reviewed reference (tests/data/pipeline.sbatch). Slurm
starts the next job of an ``afterok`` chain only when this one exits 0, so the
script must exit non-zero when the pipeline's steps failed, although the
pipeline script itself exits 0 then: bash runs it here with a stand-in
``srun``; tests/slurm/test_real_slurm.py does the same on a real Slurm.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ezpipe.cli import EXIT_STEPS_FAILED
from ezpipe.slurm import SlurmCluster, SlurmJob, SlurmResources, make_job, read_chain
from ezpipe.slurm.script import EXIT_STEPS_FAILED as SCRIPT_EXIT_STEPS_FAILED

DATA = Path(__file__).parents[1] / "data"
PIPELINE = DATA / "afterok_pipeline.py"


def reference_job() -> SlurmJob:
    return SlurmJob(
        script=Path("pipeline.py"),
        args=["/scratch/out dir"],
        workdir=Path("/home/me/proj"),
        resources=SlurmResources(ntasks=4, nodes=1, cpus_per_task=2, time="02:00:00", mem="8G"),
        cluster=SlurmCluster(
            partition="batch",
            account="proj42",
            python="/opt/venv/bin/python",
            setup=["module load gcc"],
            env={"OMP_NUM_THREADS": "2"},
            extra_sbatch=["--exclusive", "#SBATCH --gres=gpu:1"],
        ),
        resubmit=2,
    )


# -- the text ------------------------------------------------------------------------------------
def test_script_matches_the_reviewed_reference():
    assert reference_job().render() == (DATA / "pipeline.sbatch").read_text()


def test_rendered_script_is_valid_bash(tmp_path):
    path = tmp_path / "job.sbatch"
    path.write_text(reference_job().render())
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_defaults_launch_with_pmi2_and_this_python(tmp_path):
    job = SlurmJob(script=Path("p.py"), workdir=tmp_path)
    text = job.render()
    assert f"srun --mpi=pmi2 {sys.executable} {tmp_path / 'p.py'} &" in text
    assert "#SBATCH --ntasks=1\n" in text and "#SBATCH --time=01:00:00\n" in text
    assert "#SBATCH --signal=B:USR1@120\n" in text
    assert job.script_path == tmp_path / "ezpipe-jobs" / "p.sbatch"


@pytest.mark.parametrize(("limit", "signal_at"), [("1", 15), ("5", 75), ("8", 120), ("60", 120)])
def test_short_time_limits_get_a_proportionate_stop_signal(limit, signal_at):
    job = make_job({}, {"script": "p.py", "resources": {"time": limit}})
    assert f"--signal=B:USR1@{signal_at}" in job.sbatch_options()


def test_cluster_default_mpi_omits_the_flag(tmp_path):
    job = SlurmJob(script=Path("p.py"), workdir=tmp_path, cluster=SlurmCluster(mpi=None))
    assert job.command()[:2] == ["srun", sys.executable]


# -- the exit status -----------------------------------------------------------------------------
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


@pytest.mark.parametrize(
    ("note", "status"),
    [
        ('{"folder": "/x", "passed": false, "dry_run": false}', 1),
        ('{"folder":"/x","passed":false}', 1),  # however the note is spaced
        ('{"folder": "/x \\"passed\\": false", "passed": true}', 0),  # a folder's name is no note
        ('{"folder": "/x", "passed": true, "dry_run": true}', 0),
    ],
)
def test_the_script_reads_the_runs_note_not_the_pipelines_exit_status(tmp_path, note, status):
    script = tmp_path / "notes.py"
    script.write_text(f"import os\nopen(os.environ['EZPIPE_RUN_REPORT'], 'a').write({note!r})\n")
    assert run_job(tmp_path, script)[0] == status
