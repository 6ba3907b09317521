"""``ezpipe run study.yaml -n N``: studies under mpiexec, invalid ones, kill and resume."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import ROOT, run_command

EZPIPE = [sys.executable, "-m", "ezpipe"]
ENV = {"PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}

STUDY = """
folder: out
imports: [config_steps]
options: {progress: false}
steps:
  load: {type: Load, n: 4}
  scale: {type: Scale, coeff: 3, input: "${steps.load}"}
  fit:
    type: Fit
    input: "${steps.scale}"
    sweep: {alpha: [1.0, 2.0, 3.0]}
  train: {loop: 3, steps: [{type: Train}], input: "${steps.load}"}
  report: {type: Report, inputs: {fits: "${steps.fit}", model: "${steps.train}"}}
"""


def study(tmp_path: Path, text: str = STUDY) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def summary(tmp_path: Path) -> dict[str, dict]:
    rows = json.loads((tmp_path / "out" / "pipeline.summary.json").read_text())
    return {row["name"]: row for row in rows}


def ezpipe(*args: str, timeout: float = 120):
    return run_command([*EZPIPE, *args], timeout=timeout, env=ENV)


@pytest.mark.parametrize("ranks", [1, 4])
def test_a_study_runs_and_an_edit_recomputes_only_what_it_affects(tmp_path, ranks):
    path = study(tmp_path)
    done = ezpipe("run", str(path), "-n", str(ranks))
    assert done.returncode == 0, done.stderr
    rows = summary(tmp_path)
    assert len(rows) == 9 and all(r["status"] == 0 and not r["cached"] for r in rows.values())
    again = ezpipe("run", str(path), "-n", str(ranks), "-o", "steps.fit.sweep.alpha=[1.0, 4.0]")
    assert again.returncode == 0, again.stderr
    computed = sorted(name for name, r in summary(tmp_path).items() if not r["cached"])
    assert computed == ["fit[alpha=4.0]", "report"]


def test_an_invalid_study_ends_every_rank_before_anything_runs(tmp_path):
    path = study(tmp_path)
    started = time.monotonic()
    done = ezpipe("run", str(path), "-n", "4", "-o", "steps.scale.coeff=x", timeout=90)
    assert time.monotonic() - started < 60
    assert done.returncode == 3
    assert done.stderr.count("steps.scale.coeff: input should be a number, got 'x'") == 1
    assert not (tmp_path / "out").exists()


def test_the_runner_module_runs_a_json_study_without_ezpipe_run(tmp_path):
    import yaml

    path = tmp_path / "study.json"
    path.write_text(json.dumps(yaml.safe_load(STUDY)))
    cmd = [sys.executable, "-m", "ezpipe.cli.config_run", str(path), "--folder", "elsewhere"]
    done = run_command(cmd, env=ENV, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "elsewhere" / "pipeline.summary").exists()


RESUME = """
folder: out
imports: [config_steps]
options: {progress: false}
steps:
  train: {type: Checkpointed, epochs: 4, stop_at: 2}
  last: {type: ReadText, input: "${steps.train/epoch3.ckpt}"}
"""


@pytest.mark.parametrize("ranks", [1, 4])
def test_checkpoints_in_an_output_folder_survive_a_stop_signal(tmp_path, ranks):
    path = study(tmp_path, RESUME)
    first = ezpipe("run", str(path), "-n", str(ranks), timeout=120)
    assert first.returncode == 3 and "status 75" in first.stderr, first.stderr
    kept = list((tmp_path / "out" / "steps" / "train").glob("*/.output.interrupted/*"))
    assert sorted(p.name for p in kept) == ["epoch0.ckpt", "epoch1.ckpt"]
    second = ezpipe("run", str(path), "-n", str(ranks), timeout=120)
    assert second.returncode == 0, second.stderr
    rows = summary(tmp_path)
    assert rows["train"]["status"] == 0 and rows["last"]["status"] == 0
    result = run_command(
        [
            sys.executable,
            "-c",
            "import sys; from ezpipe import Pipeline; p = Pipeline.from_config(sys.argv[1]);"
            "print(p.get_result('train'), p.get_result('last'))",
            str(path),
        ],
        env={**ENV, "EZPIPE_MPI": "0"},
    )
    assert result.stdout.strip() == (
        "{'resumed_from': 2, 'resumed': True} weights after epoch 3"
    ), result.stderr


def ranks_of(marker: str) -> list[int]:
    """Pids of the study runner processes whose command line names ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if marker in command and "ezpipe.cli.config_run" in command:
                found.append(int(entry.name))
    return found


def kill_launcher(process: subprocess.Popen, marker: str) -> None:
    """SIGKILL ``ezpipe run`` (and its process group): mpiexec has a session of its own,
    and the ranks must notice that their launcher is gone and end within seconds."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 20
    while ranks_of(marker):
        if time.monotonic() > deadline:
            left = ranks_of(marker)
            for pid in left:  # leave nothing behind, then fail
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            pytest.fail(f"ranks {left} outlived their launcher")
        time.sleep(0.2)


KILL = """
folder: out
imports: [config_steps]
options: {{progress: false}}
steps:
  write: {{type: SlowWriter, control: "{control}", files: 4, pause: {pause}}}
  read: {{type: ReadText, input: "${{steps.write/part3.txt}}"}}
"""


@pytest.mark.parametrize("ranks", [1, 4])
def test_a_killed_run_leaves_nothing_a_rerun_takes_for_a_result(tmp_path, ranks):
    control = tmp_path / "seen.txt"
    path = study(tmp_path, KILL.format(control=control, pause=1.0))
    cmd = [*EZPIPE, "run", str(path), "-n", str(ranks)]
    process = subprocess.Popen(
        cmd,
        env={**os.environ, **ENV},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    steps = tmp_path / "out" / "steps" / "write"
    try:
        deadline = time.monotonic() + 90
        while not list(steps.glob("*/.output.attempt-*/part1.txt")):
            assert time.monotonic() < deadline, "the step never started writing"
            assert process.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
    finally:
        kill_launcher(process, str(path))
    assert not list(steps.glob("*/record.json"))
    # the same definition (control, files and pause unchanged): the rerun starts empty
    done = ezpipe("run", str(path), "-n", str(ranks), timeout=120)
    assert done.returncode == 0, done.stderr
    assert control.read_text().splitlines() == ["", ""]
    assert not list(steps.glob("*/.output.attempt-*"))
    rows = summary(tmp_path)
    assert rows["write"]["status"] == 0 and rows["read"]["status"] == 0


def test_config_schema_from_the_command_line(tmp_path):
    done = ezpipe("config-schema", str(study(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert "config_steps.Checkpointed" in json.loads(done.stdout)["$defs"]


def test_the_example_study_gives_the_same_keys_from_python_and_from_yaml(tmp_path):
    examples = ROOT / "examples"
    folder = tmp_path / "study"
    done = run_command(
        [sys.executable, str(examples / "study_config.py"), str(folder)], env={"EZPIPE_MPI": "0"}
    )
    assert done.returncode == 0, done.stderr
    again = ezpipe("run", str(examples / "study.yaml"), "-n", "2", "--", "--folder", str(folder))
    assert again.returncode == 0, again.stderr
    rows = json.loads((folder / "pipeline.summary.json").read_text())
    assert len(rows) == 8 and all(row["cached"] for row in rows)
    functions = run_command(
        [sys.executable, str(examples / "study_functions.py"), str(tmp_path / "f")],
        env={"EZPIPE_MPI": "0"},
    )
    summary_line = [line for line in done.stdout.splitlines() if line.startswith("summary:")]
    assert summary_line and summary_line[0] in functions.stdout


def test_the_files_example_at_four_ranks(tmp_path):
    done = run_command(
        [sys.executable, "-m", "ezpipe", "run", str(ROOT / "examples" / "files.py"), "-n", "4",
         "--", str(tmp_path / "files")],
        timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "'power_type': 'memmap'" in done.stdout
    assert "files of simulate: ['field_0000.npy'" in done.stdout
