"""The one table of SLURM_* variables, and the layout of the ezpipe.slurm package."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

import ezpipe.slurm
from ezpipe.slurm import SlurmEnvironment
from ezpipe.slurm.environment import KEPT_ON_RESUBMIT, variable, variables

PACKAGE = Path(ezpipe.slurm.__file__).parent

# As measured in a 2-task `srun --mpi=pmi2` step of a one-node job (Slurm 22.05), trimmed.
SRUN_TASK_1 = {
    "SLURM_JOB_ID": "17",
    "SLURM_JOB_NAME": "demo",
    "SLURM_JOB_NODELIST": "localhost",
    "SLURM_NODELIST": "localhost",
    "SLURM_JOB_NUM_NODES": "1",
    "SLURM_NTASKS": "2",
    "SLURM_NPROCS": "2",
    "SLURM_STEP_ID": "0",
    "SLURM_STEP_NUM_TASKS": "2",
    "SLURM_MPI_TYPE": "pmi2",
    "SLURM_SUBMIT_DIR": "/home/me/proj",
    "SLURM_CPUS_PER_TASK": "4",
    "SLURM_MEM_PER_NODE": "8000",
    "SLURM_PROCID": "1",
    "SLURM_LOCALID": "1",
    "SLURM_NODEID": "0",
    "SLURM_CONF": "/tmp/ezpipe-slurm/slurm.conf",
}


def test_a_task_reads_every_field_with_its_type():
    env = SlurmEnvironment.from_environ(SRUN_TASK_1)
    assert env == SlurmEnvironment(
        job_id="17",
        job_name="demo",
        node_list="localhost",
        num_nodes=1,
        ntasks=2,
        step_id="0",
        step_tasks=2,
        mpi_type="pmi2",
        submit_dir="/home/me/proj",
        cpus_per_task=4,
        gpus_on_node=None,
        mem_per_node=8000,
        proc_id=1,
        local_id=1,
        node_id=0,
        conf="/tmp/ezpipe-slurm/slurm.conf",
    )
    assert env.in_job


def test_outside_slurm_every_field_is_none():
    env = SlurmEnvironment.from_environ({"HOME": "/root", "PATH": "/bin"})
    assert not env.in_job
    assert all(getattr(env, f.name) is None for f in dataclasses.fields(env))


@pytest.mark.parametrize(
    ("environ", "field", "value"),
    [
        ({"SLURM_NODELIST": "n[1-2]"}, "node_list", "n[1-2]"),  # the older name alone
        ({"SLURM_JOB_NODELIST": "a", "SLURM_NODELIST": "b"}, "node_list", "a"),  # first wins
        ({"SLURM_JOB_NODELIST": "", "SLURM_NODELIST": "b"}, "node_list", "b"),  # empty: unset
        ({"SLURM_NPROCS": "4"}, "ntasks", 4),
        ({"SLURM_NTASKS": "4(x2)"}, "ntasks", None),  # malformed: unknown, not a crash
        ({"SLURM_JOB_ID": ""}, "job_id", None),
    ],
)
def test_fallbacks_and_malformed_values(environ, field, value):
    assert getattr(SlurmEnvironment.from_environ(environ), field) == value


def test_the_table_names_only_slurm_variables_each_with_a_reason():
    table = variables()
    assert table["node_list"] == ("SLURM_JOB_NODELIST", "SLURM_NODELIST")
    assert variable("job_id") == "SLURM_JOB_ID"
    assert all(name.startswith("SLURM_") for names in table.values() for name in names)
    assert all(f.metadata["why"] for f in dataclasses.fields(SlurmEnvironment))
    assert KEPT_ON_RESUBMIT in table["conf"]
    with pytest.raises(KeyError):
        variable("no_such_field")


def test_the_job_script_reads_slurm_through_the_table():
    text = ezpipe.slurm.SlurmJob(script=Path("p.py"), workdir=Path("/w")).render()
    read = set(re.findall(r"\$\{?(SLURM_[A-Z_]+)", text))
    assert read == {"SLURM_JOB_ID", "SLURM_JOB_NODELIST"}
    assert read <= {name for names in variables().values() for name in names}
    assert f"grep -vx {KEPT_ON_RESUBMIT})" in text


# -- layout -------------------------------------------------------------------------------------
ORDER = ["environment", "settings", "submit", "script", "job", "__init__"]  # lower first


def _package_imports(module: Path) -> set[str]:
    """The ezpipe.slurm modules that ``module`` imports (relative imports, any nesting)."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_modules_import_only_lower_ones_and_stay_small():
    modules = sorted(PACKAGE.glob("*.py"))
    assert sorted(m.stem for m in modules) == sorted(ORDER)
    for module in modules:
        for imported in _package_imports(module):
            assert ORDER.index(imported) < ORDER.index(module.stem), (module.stem, imported)
        assert len(module.read_text().splitlines()) <= 400, module.name


def test_script_rendering_is_pure():
    tree = ast.parse((PACKAGE / "script.py").read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    calls = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not ({"open", "print"} & names) and not ({"write_text", "read_text", "run"} & calls)
