"""Slurm support without Slurm: scripts, settings, launch checks, stop signals, waiting.

The real-cluster tests are in tests/slurm/ (marker ``slurm``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import SCRIPTS, run_script

from ezpipe import LaunchError, Pipeline, Status, preempt
from ezpipe.cli import main
from ezpipe.comm import LocalComm, check_launch
from ezpipe.errors import DefinitionError, SlurmError
from ezpipe.joblog import JOBS_FILE
from ezpipe.preempt import EXIT_INTERRUPTED, JobInterrupted
from ezpipe.slurm import (
    SlurmCluster,
    SlurmJob,
    SlurmResources,
    load_settings,
    make_job,
    read_chain,
    submit,
    time_seconds,
    wait,
)
from ezpipe.store import Store

DATA = Path(__file__).parent / "data"


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


# -- rendering ------------------------------------------------------------------------------------
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


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5", 300),
        ("0:45", 45),
        ("01:30:00", 5400),
        ("2-0", 172800),
        ("1-02:03", 93780),
        ("1-00:00:10", 86410),
    ],
)
def test_slurm_time_formats(text, seconds):
    assert time_seconds(text) == seconds


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"resources": {"time": "1h"}}, "not a Slurm time"),
        ({"resources": {"mem": "lots"}}, "not a Slurm memory size"),
        ({"resources": {"ntasks": 0}}, "greater than or equal to 1"),
        ({"resources": {"ntasks": 2, "nodes": 4}}, "leaves nodes idle"),
        ({"resources": {"ntasks": 4}, "cluster": {"mpi": "none"}}, "independent 1-rank copies"),
        ({"resources": {"time": "2"}, "cluster": {"stop_signal_seconds": 120}}, "at once"),
        ({"resubmit": 1, "cluster": {"stop_signal_seconds": 0}}, "needs a stop signal"),
        ({"cluster": {"partiton": "x"}}, "Extra inputs are not permitted"),
        ({"cluster": {"setup": ["a\nb"]}}, "one line"),
        ({"cluster": {"env": {"1X": "y"}}}, "not an environment variable name"),
    ],
)
def test_invalid_settings_say_what_is_wrong(settings, message):
    with pytest.raises(DefinitionError, match=message):
        make_job(settings, {"script": "p.py"})


def test_yaml_settings_and_command_line_overrides(tmp_path):
    (tmp_path / "p.py").write_text("print('hi')\n")
    (tmp_path / "cluster.yaml").write_text(
        "resources:\n  ntasks: 8\n  time: '00:30:00'\n"
        "cluster:\n  partition: short\n  setup: ['module load mpi']\n  env: {A: '1'}\n"
        "resubmit: 1\n"
    )
    assert load_settings(tmp_path / "cluster.yaml")["resources"]["ntasks"] == 8
    argv = ["slurm", str(tmp_path / "p.py"), "--config", str(tmp_path / "cluster.yaml")]
    argv += ["-n", "4", "--setup", "source venv/bin/activate", "--env", "B=2", "-q"]
    argv += ["--output-dir", str(tmp_path / "jobs"), "--", "--out", "x y"]
    assert main(argv) == 0
    text = (tmp_path / "jobs" / "p.sbatch").read_text()
    assert "#SBATCH --ntasks=4\n" in text  # the option wins over the file
    assert "#SBATCH --time=00:30:00\n" in text and "#SBATCH --partition=short\n" in text
    assert "module load mpi\nsource venv/bin/activate\n" in text  # lists add up
    assert "export A=1\nexport B=2\n" in text
    assert "export EZPIPE_SLURM_RESUBMIT=1\n" in text
    assert f"{tmp_path / 'p.py'} --out 'x y' &" in text


def test_cli_usage_errors(tmp_path, capsys):
    (tmp_path / "p.py").write_text("")
    assert main(["slurm", str(tmp_path / "missing.py")]) == 3
    (tmp_path / "bad.yaml").write_text("resources: [1, 2\n")
    assert main(["slurm", str(tmp_path / "p.py"), "--config", str(tmp_path / "bad.yaml")]) == 3
    assert main(["slurm", str(tmp_path / "p.py"), "-n", "4", "--mpi", "none"]) == 3
    assert "independent 1-rank copies" in capsys.readouterr().err


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
    assert not preempt.interrupted([{"status": 0}, None], todo=[0])
    assert preempt.interrupted([{"status": 0}, None])
    assert preempt.interrupted([{"status": -1, "interrupted": True}, None], todo=[0])


def test_no_job_log_outside_slurm(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    pipeline = build(tmp_path, stop=False)
    pipeline.execute()
    assert not (tmp_path / JOBS_FILE).exists()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL  # handler removed after the run


# -- submission and waiting, with a fake sbatch/scontrol ------------------------------------------
class FakeSlurm:
    """Answers sbatch and scontrol like Slurm does, from a table of job states."""

    def __init__(self, states: dict[str, str]) -> None:
        self.states = states
        self.calls: list[list[str]] = []

    def __call__(self, cmd, **kwargs):
        self.calls.append(cmd)
        if cmd[0] == "sbatch":
            return subprocess.CompletedProcess(cmd, 0, "123;cluster\n", "")
        state = self.states.get(cmd[-1])
        if state is None:
            return subprocess.CompletedProcess(cmd, 1, "", "Invalid job id specified")
        out = f"JobId={cmd[-1]} JobName=x JobState={state} Reason=None ExitCode=0:0\n"
        return subprocess.CompletedProcess(cmd, 0, out, "")


def test_submit_returns_the_job_id(tmp_path):
    assert submit(tmp_path / "x.sbatch", run=FakeSlurm({})) == "123"


def test_wait_follows_resubmissions(tmp_path):
    chain = tmp_path / "x.sbatch.jobs"
    chain.write_text("5 75 6\n6 0 -\n")
    assert read_chain(chain) == {"5": (75, "6"), "6": (0, None)}
    said: list[str] = []
    assert wait("5", chain, poll=0.01, run=FakeSlurm({}), echo=said.append) == 0
    assert said == [
        "ezpipe slurm: job 5 stopped at its time limit; resubmitted as 6",
        "ezpipe slurm: job 6 ended with exit status 0",
    ]


def test_wait_on_a_job_that_vanished_without_reporting(tmp_path):
    fake = FakeSlurm({"7": "CANCELLED"})
    assert wait("7", tmp_path / "none.jobs", poll=0.01, run=fake, echo=lambda s: None) == 1
    with pytest.raises(SlurmError, match="still RUNNING"):
        wait("8", tmp_path / "none.jobs", poll=0.01, timeout=0.05, run=FakeSlurm({"8": "RUNNING"}))


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
