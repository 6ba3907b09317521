"""ezpipe on a real Slurm (slurmctld + slurmd on this machine), launched as users launch it.

Each test submits real jobs: srun with and without ``--mpi=pmi2``, a batch
script running plain ``python``, a script written by ``ezpipe slurm`` and run
with ``sbatch --wait``, a job that reaches its time limit and resubmits
itself, and ``afterok`` chains behind jobs whose steps failed or passed.
Every command has a timeout that kills it and fails the test.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import ROOT, run_command

pytestmark = pytest.mark.slurm

PY = sys.executable
EZPIPE = str(Path(sys.executable).parent / "ezpipe")
SIMPLE = str(ROOT / "examples" / "simple.py")


def jobs(folder: Path) -> list[dict]:
    return json.loads((folder / "slurm_jobs.json").read_text())["jobs"]


def summary(folder: Path) -> pd.DataFrame:
    return pd.read_json(folder / "pipeline.summary.json", orient="records").set_index("name")


def test_srun_with_pmi2_runs_one_four_rank_world(slurm_env, tmp_path):
    out = tmp_path / "out"
    done = run_command(["srun", "--mpi=pmi2", "-n", "4", PY, SIMPLE, str(out)], env=slurm_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Pipeline result for gamma: 1.125") == 4
    for name in ("alpha", "beta", "gamma"):
        assert done.stdout.count(f"[PASS] '{name}'") == 1  # each step ran once, not 4 times
    assert (out / "pipeline.summary").read_text().startswith(f"Pipeline Completed @ {out}")
    (job,) = jobs(out)
    assert (job["ranks"], job["ntasks"], job["node_list"]) == (4, 4, "localhost")
    assert job["outcome"] == "completed"


def test_plain_srun_is_refused_on_every_task_before_touching_the_cache(slurm_env, tmp_path):
    out = tmp_path / "out"
    done = run_command(["srun", "-n", "4", PY, SIMPLE, str(out)], env=slurm_env)
    assert done.returncode != 0
    assert done.stderr.count("ezpipe.errors.LaunchError: the launcher started 4 tasks") == 4
    assert "srun --mpi=pmi2 -n N python pipeline.py" in done.stderr
    assert "[PASS]" not in done.stdout
    assert not out.exists()


def test_plain_python_in_a_four_task_batch_script_runs_serially(slurm_env, tmp_path):
    out, log = tmp_path / "out", tmp_path / "job.log"
    script = tmp_path / "serial.sbatch"
    script.write_text(f"#!/bin/bash\n#SBATCH -n 4\n#SBATCH -o {log}\n{PY} {SIMPLE} {out}\n")
    done = run_command(["sbatch", "--wait", str(script)], env=slurm_env, timeout=180)
    assert done.returncode == 0, log.read_text() if log.exists() else done.stderr
    assert log.read_text().count("Pipeline result for gamma: 1.125") == 1
    (job,) = jobs(out)
    assert (job["ranks"], job["ntasks"]) == (1, 4)


def test_generated_script_runs_the_demo_at_four_tasks_with_sbatch_wait(slurm_env, tmp_path):
    out = tmp_path / "out"
    demo = str(ROOT / "examples" / "demo.py")
    made = run_command(
        [EZPIPE, "slurm", demo, "-n", "4", "-t", "10", "-q", "--", str(out)],
        env=slurm_env,
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    script = tmp_path / "ezpipe-jobs" / "demo.sbatch"
    assert f"submit it with: sbatch {script}" in made.stdout
    done = run_command(["sbatch", "--wait", str(script)], env=slurm_env, timeout=180)
    (log,) = (tmp_path / "ezpipe-jobs").glob("demo-*.out")
    assert done.returncode == 0, log.read_text()
    frame = summary(out)
    assert len(frame) == 11 and (frame["status"] == 0).all()
    assert frame["rank"].nunique() > 1  # the steps were shared between ranks
    (job,) = jobs(out)
    assert (job["ranks"], job["ntasks"], job["outcome"]) == (4, 4, "completed")
    assert job["script"] == str(script)
    assert "Pipeline Completed" in log.read_text()
    shown = run_command([EZPIPE, "summary", str(out)], env=slurm_env)
    assert shown.returncode == 0 and "Pipeline Completed" in shown.stdout


def test_time_limit_stops_the_steps_resubmits_and_finishes(slurm_env, tmp_path):
    out = tmp_path / "out"
    pipeline = str(ROOT / "tests" / "slurm" / "timelimit_pipeline.py")
    # Slurm sends the signal up to 30 s before the asked time: with a 60 s limit and 10 s
    # asked, it comes 20 to 50 s after the start, after Python is up and running `slow`.
    cmd = [EZPIPE, "slurm", pipeline, "-n", "2", "-t", "1", "--stop-signal-seconds", "10"]
    cmd += ["--resubmit", "2", "-q", "--submit", "--wait", "--wait-timeout", "240", "--", str(out)]
    done = run_command(cmd, env=slurm_env, cwd=tmp_path, timeout=300)
    logs = sorted(
        (tmp_path / "ezpipe-jobs").glob("timelimit_pipeline-*.out"),
        key=lambda p: int(p.stem.rsplit("-", 1)[1]),  # by job id
    )
    assert done.returncode == 0, done.stdout + "\n".join(p.read_text() for p in logs)
    first, second = jobs(out)
    assert (first["outcome"], first["attempt"], first["steps"]) == (
        "interrupted",
        0,
        {"pass": 4, "not run": 1},
    )
    assert (second["outcome"], second["attempt"]) == ("completed", 1)
    assert second["resubmission_of"] == first["job_id"]
    assert f"resubmitted as {second['job_id']}" in done.stdout
    assert len(logs) == 2 and "[STOP] 'slow'" in logs[0].read_text()
    frame = summary(out)
    assert (frame["status"] == 0).all()
    assert frame["cached"].to_dict() == {f"quick_{i}": True for i in range(4)} | {"slow": False}
    assert "total: 14" in logs[1].read_text()


def test_a_failing_job_is_not_resubmitted(slurm_env, tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("raise SystemExit(3)  # a failure, not a time limit\n")
    cmd = [EZPIPE, "slurm", str(script), "-t", "1", "--resubmit", "2", "-q", "--submit", "--wait"]
    done = run_command([*cmd, "--wait-timeout", "120"], env=slurm_env, cwd=tmp_path, timeout=180)
    assert done.returncode == 3, done.stdout + done.stderr
    (line,) = (tmp_path / "ezpipe-jobs" / "fails.sbatch.jobs").read_text().splitlines()
    assert line.split()[1:] == ["3", "-"]
    assert "resubmitted" not in done.stdout


def test_a_job_whose_steps_failed_stops_its_afterok_chain(slurm_env, tmp_path):
    """A user's chain: `sbatch --dependency=afterok:<pipeline job> next.sbatch`."""
    pipeline = str(ROOT / "tests" / "data" / "afterok_pipeline.py")
    first, after = {}, {}
    for how in ("fail", "pass"):  # held until the dependent job is queued: no race
        cmd = [EZPIPE, "slurm", pipeline, "-J", f"first_{how}", "-t", "5", "--sbatch=--hold"]
        made = run_command(
            [*cmd, "-q", "--submit", "--", str(tmp_path / how), how], env=slurm_env, cwd=tmp_path
        )
        assert made.returncode == 0, made.stdout + made.stderr
        first[how] = re.search(r"submitted job (\d+)", made.stdout).group(1)
        script = tmp_path / f"after_{how}.sbatch"
        script.write_text(f"#!/bin/bash\n#SBATCH -o {tmp_path}/after-%j.out\ntouch {how}.ran\n")
        cmd = ["sbatch", "--parsable", f"--dependency=afterok:{first[how]}", str(script)]
        queued = run_command(cmd, env=slurm_env, cwd=tmp_path)
        assert queued.returncode == 0, queued.stderr
        after[how] = queued.stdout.strip().split(";")[0]
    released = run_command(["scontrol", "release", *first.values()], env=slurm_env, cwd=tmp_path)
    assert released.returncode == 0, released.stderr

    chain = {how: tmp_path / "ezpipe-jobs" / f"first_{how}.sbatch.jobs" for how in first}
    wait_for(lambda: all(path.exists() for path in chain.values()), "the pipeline jobs to end")
    for how, status in (("fail", "1"), ("pass", "0")):
        assert chain[how].read_text().split() == [first[how], status, "-"]
    (log,) = (tmp_path / "ezpipe-jobs").glob(f"first_fail-{first['fail']}.out")
    assert "[FAIL] 'check'" in log.read_text()
    assert "ezpipe: steps failed or were skipped: exit status 1" in log.read_text()

    wait_for(lambda: (tmp_path / "pass.ran").exists(), "the job after the passing one to run")
    wait_for(
        lambda: queue(after["fail"], slurm_env) in ("", "PENDING DependencyNeverSatisfied"),
        "Slurm to give up on the job after the failing one",
    )
    assert not (tmp_path / "fail.ran").exists()  # it never ran, and never will
    run_command(["scancel", after["fail"]], env=slurm_env, cwd=tmp_path)


def queue(job_id: str, env: dict) -> str:
    """``STATE REASON`` of a queued job; empty once Slurm has let it go."""
    done = run_command(["squeue", "-h", "-j", job_id, "-o", "%T %r"], env=env, timeout=60)
    return done.stdout.strip() if done.returncode == 0 else ""


def wait_for(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}")
        time.sleep(0.5)


def test_a_rank_failing_alone_under_srun_ends_the_job(slurm_env, tmp_path):
    stamp = tmp_path / "stamp"
    script = str(ROOT / "tests" / "scripts" / "rank_fails.py")
    args = [str(tmp_path / "out"), "define", "1", str(stamp)]
    done = run_command(["srun", "--mpi=pmi2", "-n", "3", PY, script, *args], env=slurm_env)
    ended = time.time()
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert output.count("DuplicateStepNameError: two steps are named 'work1'") == 1, output
    assert ended - float(stamp.read_text()) < 5  # MPI_Abort ends the step: nobody waits
