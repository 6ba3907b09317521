"""Resources a job asks for beyond tasks and time: CPUs and GPUs per task, gres, memory.

These are what a pipeline's steps need (threads, gpus, memory); ``ezpipe
slurm`` takes them as options today, and ``make_job(derived=...)`` is where
values derived from the steps go, under what the user gave.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ezpipe.cli import main
from ezpipe.errors import DefinitionError
from ezpipe.slurm import SlurmJob, SlurmResources, describe, make_job

SCRIPT = {"script": "p.py"}


def options(**resources) -> list[str]:
    job = SlurmJob(script=Path("p.py"), workdir=Path("/w"), resources=resources)
    return [o for o in job.sbatch_options() if not o.startswith(("--job-name", "--output"))]


def test_each_resource_renders_as_its_sbatch_option_in_a_fixed_order():
    assert options(ntasks=4, cpus_per_task=8, gpus_per_task=1, mem="32G", time="10") == [
        "--ntasks=4",
        "--cpus-per-task=8",
        "--gpus-per-task=1",
        "--time=10",
        "--mem=32G",
        "--signal=B:USR1@120",
    ]
    assert options(gres="gpu:a100:2,shard:4") == [
        "--ntasks=1",
        "--gres=gpu:a100:2,shard:4",
        "--time=01:00:00",
        "--signal=B:USR1@120",
    ]


def test_unset_resources_render_nothing():
    rendered = " ".join(options())
    for flag in ("--cpus-per-task", "--gpus-per-task", "--gres", "--mem", "--nodes"):
        assert flag not in rendered


def test_a_gpu_gres_and_gpus_per_task_together_are_refused():
    with pytest.raises(ValueError, match="GPUs asked for twice"):
        SlurmResources(gpus_per_task=1, gres="gpu:2")
    assert SlurmResources(gpus_per_task=1, gres="shard:2").gres == "shard:2"  # not GPUs


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"gpus_per_task": 0}, "greater than or equal to 1"),
        ({"cpus_per_task": 0}, "greater than or equal to 1"),
        ({"gres": "gpu 2"}, "not a Slurm --gres"),
        ({"gres": "gpu:2,"}, "not a Slurm --gres"),
        ({"gres": "2:gpu"}, "not a Slurm --gres"),
        ({"mem": "4 GB"}, "not a Slurm memory size"),
        ({"gpus": 1}, "Extra inputs are not permitted"),  # the Slurm name is gpus_per_task
    ],
)
def test_invalid_resources_say_what_is_wrong(resources, message):
    with pytest.raises(DefinitionError, match=message):
        make_job({}, {**SCRIPT, "resources": resources})


def test_derived_resources_sit_under_the_file_and_the_command_line():
    derived = {"resources": {"ntasks": 8, "cpus_per_task": 4, "gpus_per_task": 1, "mem": "16G"}}
    settings = {"resources": {"mem": "64G"}}  # the file knows better about memory
    overrides = {**SCRIPT, "resources": {"ntasks": 2}}  # and the user about the tasks
    job = make_job(settings, overrides, derived)
    assert job.resources.model_dump() == {
        "ntasks": 2,
        "nodes": None,
        "cpus_per_task": 4,
        "gpus_per_task": 1,
        "gres": None,
        "time": "01:00:00",
        "mem": "64G",
    }
    assert make_job({}, SCRIPT).resources == SlurmResources()  # no derived: the defaults


def test_invalid_derived_resources_are_reported_like_any_setting():
    with pytest.raises(DefinitionError, match=r"resources\.cpus_per_task"):
        make_job({}, SCRIPT, {"resources": {"cpus_per_task": 0}})


def test_describe_names_what_the_job_asks_for():
    job = make_job({}, {**SCRIPT, "resources": {"ntasks": 4, "cpus_per_task": 2, "mem": "8G"}})
    assert describe(job) == "4 tasks, 2 CPUs per task, memory 8G per node, time 01:00:00"
    job = make_job({}, {**SCRIPT, "resources": {"gpus_per_task": 1, "gres": "shard:1"}})
    assert describe(job) == "1 task, 1 GPU per task, gres shard:1 per node, time 01:00:00"


def test_the_command_line_takes_gpus_gres_and_memory(tmp_path, capsys):
    (tmp_path / "p.py").write_text("")
    argv = ["slurm", str(tmp_path / "p.py"), "-n", "2", "-c", "3", "--gpus-per-task", "1"]
    argv += ["--mem", "12G", "-q", "--output-dir", str(tmp_path / "jobs")]
    assert main(argv) == 0
    text = (tmp_path / "jobs" / "p.sbatch").read_text()
    assert "#SBATCH --cpus-per-task=3\n#SBATCH --gpus-per-task=1\n" in text
    assert "#SBATCH --mem=12G\n" in text
    assert (
        "(2 tasks, 3 CPUs per task, 1 GPU per task, memory 12G per node" in capsys.readouterr().out
    )
    argv = ["slurm", str(tmp_path / "p.py"), "--gres", "gpu:2", "-q"]
    assert main([*argv, "--output-dir", str(tmp_path / "g")]) == 0
    assert "#SBATCH --gres=gpu:2\n" in (tmp_path / "g" / "p.sbatch").read_text()
    assert main([*argv, "--gpus-per-task", "1"]) == 3
    assert "GPUs asked for twice" in capsys.readouterr().err
