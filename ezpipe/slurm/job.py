"""A pipeline script and everything needed to run it as one Slurm job.

``SlurmJob`` joins the resources, the cluster settings and the script with
its arguments, checks that they make a job that can work (an MPI launch, a
stop signal before the limit), and knows where the script, its logs and its
chain file go. The text itself comes from :mod:`ezpipe.slurm.script`; the
methods here are the convenient, stable entry points.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import DefinitionError
from . import script as _script
from .settings import (
    DEFAULT_STOP_SECONDS,
    SlurmCluster,
    SlurmName,
    SlurmResources,
    merge_settings,
    time_seconds,
)


class SlurmJob(BaseModel):
    """A pipeline script and everything needed to run it as one Slurm job."""

    model_config = ConfigDict(extra="forbid")

    script: Path
    args: list[str] = Field(default_factory=list)
    job_name: SlurmName | None = None
    resources: SlurmResources = Field(default_factory=SlurmResources)
    cluster: SlurmCluster = Field(default_factory=SlurmCluster)
    resubmit: int = Field(0, ge=0, description="resubmissions allowed after a time limit")
    workdir: Path = Field(default_factory=Path.cwd)
    output_dir: Path = Field(Path("ezpipe-jobs"), description="script and logs go here")

    @model_validator(mode="after")
    def _check_launch(self) -> SlurmJob:
        if self.cluster.mpi == "none" and self.resources.ntasks > 1:
            raise ValueError(
                "mpi 'none' with ntasks > 1 starts independent 1-rank copies of the pipeline; "
                "use the srun --mpi type of mpi4py's MPI (pmi2 for the pip mpich wheel)"
            )
        limit = time_seconds(self.resources.time)
        grace = self.stop_seconds
        if grace and grace >= limit:
            raise ValueError(
                f"stop_signal_seconds ({grace}) must be shorter than the time limit "
                f"({self.resources.time} = {limit} s): the job would be told to stop at once"
            )
        if self.resubmit and not grace:
            raise ValueError("resubmit needs a stop signal (stop_signal_seconds > 0)")
        return self

    @property
    def stop_seconds(self) -> int:
        """How long before the time limit the job asks for its stop signal (0: never)."""
        if self.cluster.stop_signal_seconds is not None:
            return self.cluster.stop_signal_seconds
        return min(DEFAULT_STOP_SECONDS, time_seconds(self.resources.time) // 4)

    # -- paths ----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The job name: given, else the script's name made Slurm-safe."""
        return self.job_name or re.sub(r"[^A-Za-z0-9_.+\-]", "_", self.script.stem) or "ezpipe"

    def _abs(self, path: Path) -> Path:
        return path if path.is_absolute() else self.workdir / path

    @property
    def script_file(self) -> Path:
        """The pipeline script, absolute (the job may start in another directory)."""
        return self._abs(self.script)

    @property
    def script_path(self) -> Path:
        """Where the sbatch script is written."""
        return self._abs(self.output_dir) / f"{self.name}.sbatch"

    @property
    def chain_path(self) -> Path:
        """One line per finished job: id, exit status, resubmitted job id or ``-``."""
        return self.script_path.with_name(f"{self.name}.sbatch.jobs")

    @property
    def log_pattern(self) -> Path:
        """The job output, ``%j`` standing for the job id."""
        return self._abs(self.output_dir) / f"{self.name}-%j.out"

    @property
    def notes_pattern(self) -> Path:
        """Where the job's ``execute()`` calls say how they ended (removed at the end)."""
        return self._abs(self.output_dir) / f"{self.name}-%j.notes"

    # -- the script -----------------------------------------------------------------------------
    def sbatch_options(self) -> list[str]:
        """The ``#SBATCH`` options (see :func:`ezpipe.slurm.script.sbatch_options`)."""
        return _script.sbatch_options(self)

    def command(self) -> list[str]:
        """The launch line: srun with the right MPI type, then the pipeline script."""
        return _script.launch_command(self)

    def render(self) -> str:
        """The sbatch script, as text (see :func:`ezpipe.slurm.script.render`)."""
        return _script.render(self)

    def write(self) -> Path:
        """Write the script (and its folder); returns its path."""
        path = self.script_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render())
        path.chmod(0o755)
        return path


def make_job(
    settings: Mapping[str, Any],
    overrides: Mapping[str, Any],
    derived: Mapping[str, Any] | None = None,
) -> SlurmJob:
    """A validated job from file settings and command-line overrides (these win).

    ``derived`` (same shape, e.g. ``{"resources": {"cpus_per_task": 4}}``) is
    what the steps need, lowest of the three: a value a user gave always wins.
    """
    layered = merge_settings(merge_settings(derived or {}, settings), overrides)
    try:
        return SlurmJob.model_validate(layered)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors()
        )
        raise DefinitionError(f"invalid Slurm job settings: {problems}") from exc
