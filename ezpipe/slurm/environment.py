"""Every ``SLURM_*`` variable ezpipe reads, declared once (like submitit's ``SlurmJobEnvironment``).

Slurm describes the job, the step and the task to each process through its
environment. Reading those names ad hoc spreads guesses about their fallbacks
and formats; here each one is a field of :class:`SlurmEnvironment` with the
variables it comes from (the first one set wins) and what ezpipe uses it for.
The job script reads the same table for the names it writes in bash.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The one SLURM_* variable a resubmission keeps: the others describe the job that ends, and
# would make sbatch inherit its settings (task counts, node list).
KEPT_ON_RESUBMIT = "SLURM_CONF"


def _str(*names: str, why: str) -> Any:
    return field(default=None, metadata={"env": names, "int": False, "why": why})


def _int(*names: str, why: str) -> Any:
    return field(default=None, metadata={"env": names, "int": True, "why": why})


@dataclass(frozen=True)
class SlurmEnvironment:
    """The Slurm job this process runs in, as Slurm's variables describe it (None: unset)."""

    job_id: str | None = _str("SLURM_JOB_ID", why="inside a job at all; the job log's key")
    job_name: str | None = _str("SLURM_JOB_NAME", why="shown in slurm_jobs.json")
    node_list: str | None = _str(
        "SLURM_JOB_NODELIST", "SLURM_NODELIST", why="where the job ran (SLURM_NODELIST: older name)"
    )
    num_nodes: int | None = _int("SLURM_JOB_NUM_NODES", why="nodes of the allocation")
    ntasks: int | None = _int(
        "SLURM_NTASKS", "SLURM_NPROCS", why="tasks of the job: the MPI world it was sized for"
    )
    step_id: str | None = _str("SLURM_STEP_ID", why="set under srun, not in the batch script")
    step_tasks: int | None = _int(
        "SLURM_STEP_NUM_TASKS",
        why="tasks srun started: more than the MPI world means srun lacked --mpi",
    )
    mpi_type: str | None = _str("SLURM_MPI_TYPE", why="the srun --mpi plugin in use")
    submit_dir: str | None = _str("SLURM_SUBMIT_DIR", why="where sbatch was run")
    cpus_per_task: int | None = _int("SLURM_CPUS_PER_TASK", why="cores a rank may use")
    gpus_on_node: int | None = _int("SLURM_GPUS_ON_NODE", why="GPUs allocated on this node")
    mem_per_node: int | None = _int("SLURM_MEM_PER_NODE", why="memory per node, in MB")
    proc_id: int | None = _int("SLURM_PROCID", why="this task's rank in the step")
    local_id: int | None = _int("SLURM_LOCALID", why="this task's rank on its node")
    node_id: int | None = _int("SLURM_NODEID", why="this task's node, 0 to num_nodes - 1")
    conf: str | None = _str(KEPT_ON_RESUBMIT, why="the cluster's slurm.conf, kept on resubmission")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> SlurmEnvironment:
        """Read every field from ``environ`` (default: this process's environment).

        A number field holding something else reads as None rather than failing:
        a malformed variable must not stop a pipeline.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = next((env[name] for name in f.metadata["env"] if env.get(name)), None)
            if f.metadata["int"]:
                values[f.name] = int(raw) if raw is not None and raw.isdigit() else None
            else:
                values[f.name] = raw
        return cls(**values)

    @property
    def in_job(self) -> bool:
        """Whether this process runs inside a Slurm job."""
        return self.job_id is not None


def variable(name: str) -> str:
    """The (first) Slurm variable of field ``name``, e.g. ``variable("job_id")``."""
    for f in dataclasses.fields(SlurmEnvironment):
        if f.name == name:
            return f.metadata["env"][0]
    raise KeyError(name)


def variables() -> dict[str, tuple[str, ...]]:
    """Field name -> the variables it is read from: the whole table."""
    return {f.name: f.metadata["env"] for f in dataclasses.fields(SlurmEnvironment)}
