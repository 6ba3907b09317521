"""The engine's side of Slurm: launch checks and stop signals (no Slurm needed).

These test :func:`ezpipe.engine.comm.check_launch` and :mod:`ezpipe.engine.preempt`, which
the ``ezpipe.slurm`` package does not own; its own tests are in
tests/unit/test_slurm_*.py and the real-cluster ones in tests/slurm/ (marker
``slurm``).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from helpers import SCRIPTS, run_script

from ezpipe import LaunchError, Pipeline, Status
from ezpipe.engine import preempt
from ezpipe.engine.comm import LocalComm, check_launch
from ezpipe.errors import EXIT_INTERRUPTED, JobInterrupted
from ezpipe.records import StepOutcome
from ezpipe.store import JOBS_FILE, Store

# -- launch detection (environments as measured on Slurm 22.05 with the mpich wheel) -------------
SRUN_PLAIN = {"SLURM_JOB_ID": "1", "SLURM_NTASKS": "4", "SLURM_STEP_NUM_TASKS": "4"}
SRUN_PMI2 = {**SRUN_PLAIN, "SLURM_MPI_TYPE": "pmi2", "PMI_SIZE": "4", "PMI_RANK": "0"}
BATCH_STEP = {"SLURM_JOB_ID": "3", "SLURM_NTASKS": "4", "SLURM_NPROCS": "4"}
HYDRA_IN_JOB = {**BATCH_STEP, "SLURM_STEP_NUM_TASKS": "1", "PMI_SIZE": "2", "MPI_LOCALNRANKS": "2"}


def test_plain_srun_is_refused_with_the_fix():
    with pytest.raises(LaunchError, match=r"srun --mpi=pmi2 -n N") as info:
        check_launch(1, SRUN_PLAIN)
    assert "SLURM_STEP_NUM_TASKS=4" in str(info.value)
    assert "nothing was run or written" in str(info.value)


def test_correct_and_serial_launches_pass():
    check_launch(4, SRUN_PMI2)
    check_launch(1, BATCH_STEP)  # `python pipeline.py` in an sbatch -n 4 script: serial
    check_launch(2, HYDRA_IN_JOB)
    check_launch(1, {**BATCH_STEP, "SLURM_STEP_NUM_TASKS": "1"})  # srun -n 1


def test_foreign_mpiexec_and_missing_mpi4py_are_refused():
    with pytest.raises(LaunchError, match="not from mpi4py's MPI library"):
        check_launch(1, {"OMPI_COMM_WORLD_SIZE": "4"})
    with pytest.raises(LaunchError, match="mpi4py is not installed"):
        check_launch(1, SRUN_PMI2, mpi4py_missing=True)


# -- stop signal: interrupted steps leave no record, a rerun resumes -------------------------------
@pytest.fixture(autouse=True)
def _no_stop_request():
    preempt.reset()
    yield
    preempt.reset()  # a stop request lasts for the process: never leak one to other tests


def build(folder: Path, *, stop: bool) -> Pipeline:
    pipeline = Pipeline(folder, "stop", comm=LocalComm(), echo=False)

    @pipeline.step(name="first")
    def first():
        return 1

    @pipeline.step(name="stopper")
    def stopper(x):
        if stop:
            os.kill(os.getpid(), signal.SIGUSR1)  # what the job script forwards
            time.sleep(30)  # interrupted long before this ends
        return x + 1

    @pipeline.step(name="after")
    def after(x):
        return x + 10

    after(stopper(first()))
    return pipeline


def test_stop_signal_interrupts_the_step_and_a_rerun_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "41")
    monkeypatch.setenv("SLURM_JOB_NODELIST", "node[1-2]")
    monkeypatch.setenv("SLURM_NTASKS", "1")
    pipeline = build(tmp_path, stop=True)
    started = time.monotonic()
    with pytest.raises(JobInterrupted) as info:
        pipeline.execute()
    assert time.monotonic() - started < 20
    assert info.value.code == EXIT_INTERRUPTED
    assert pipeline.get_status("first") == Status.PASSED
    assert pipeline.record("stopper") is None  # no FAILED record that `cached` would reuse
    assert pipeline.record("after") is None
    summary = pipeline.summary.set_index("name")
    assert summary.loc["stopper", "status"] == int(Status.NOT_RUN)
    assert "interrupted" in summary.loc["stopper", "error"]

    preempt.reset()  # the next job is a new process
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("EZPIPE_SLURM_ATTEMPT", "1")
    monkeypatch.setenv("EZPIPE_SLURM_PREVIOUS_JOB", "41")
    pipeline = build(tmp_path, stop=False)
    frame = pipeline.execute().set_index("name")
    assert frame["status"].tolist() == [0, 0, 0]
    assert frame["cached"].tolist() == [True, False, False]
    assert pipeline.get_result("after") == 12

    jobs = json.loads((tmp_path / JOBS_FILE).read_text())["jobs"]
    assert [(j["job_id"], j["outcome"], j["attempt"]) for j in jobs] == [
        ("41", "interrupted", 0),
        ("42", "completed", 1),
    ]
    assert jobs[0]["node_list"] == "node[1-2]" and jobs[0]["steps"] == {"pass": 1, "not run": 2}
    assert jobs[1]["resubmission_of"] == "41"


def test_a_stop_request_before_execute_runs_nothing(tmp_path):
    preempt.request_stop()  # the signal came while the script was still importing
    pipeline = build(tmp_path, stop=False)
    with pytest.raises(JobInterrupted):
        pipeline.execute()
    assert all(pipeline.record(name) is None for name in ("first", "stopper", "after"))


def test_the_handler_is_installed_early_only_inside_job_scripts():
    before = signal.getsignal(signal.SIGUSR1)
    try:
        assert not preempt.install_for_job({})
        assert preempt.install_for_job({"EZPIPE_SLURM_SCRIPT": "/x.sbatch"})
        os.kill(os.getpid(), signal.SIGUSR1)  # noted, not fatal
        time.sleep(0.01)
        assert preempt.requested()
    finally:
        signal.signal(signal.SIGUSR1, before)


def test_a_late_stop_request_after_every_wanted_step_is_not_an_interruption():
    preempt.request_stop()
    passed = StepOutcome(status=Status.PASSED)
    stopped = StepOutcome(status=Status.NOT_RUN, interrupted=True)
    assert not preempt.interrupted([passed, None], [0])
    assert preempt.interrupted([passed, None], [0, 1])
    assert preempt.interrupted([stopped, None], [0])


def test_no_job_log_outside_slurm(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    pipeline = build(tmp_path, stop=False)
    pipeline.execute()
    assert not (tmp_path / JOBS_FILE).exists()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL  # handler removed after the run


@pytest.mark.parametrize("ranks", [1, 3])
def test_a_stop_signal_on_one_rank_stops_every_rank(tmp_path, ranks):
    script = SCRIPTS / "stop_signal.py"
    done = run_script(script, str(tmp_path), "stop", ranks=ranks, timeout=120)
    assert done.returncode == EXIT_INTERRUPTED, done.stdout + done.stderr
    assert sorted(done.stdout.count(f"EXIT 75 rank {r}") for r in range(ranks)) == [1] * ranks
    assert "[STOP] 'stopper'" in done.stdout
    started = done.stdout.count("[Executing Pickle Step Object 'after_")
    assert started <= ranks - 1  # only what other ranks began before the stop
    names = [name for name, _ in Store(tmp_path).entries()]
    assert "stopper" not in names
    assert len([n for n in names if n.startswith("early_")]) == 4
    again = run_script(script, str(tmp_path), "go", ranks=ranks, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "RESULTS 6 [3, 4, 5, 6, 7, 8, 9, 10]" in again.stdout
    assert again.stdout.count("[CACHED]") == 4 + started
