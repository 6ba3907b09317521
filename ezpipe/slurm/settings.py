"""What a job asks Slurm for and how this cluster is used: validated once, from YAML or code.

``SlurmResources`` is what one job asks for (tasks, CPUs and GPUs per task,
memory, time), ``SlurmCluster`` how jobs run on this cluster (partition,
account, set-up lines, the ``srun --mpi`` type). Both refuse unknown keys and
values Slurm would reject, so a typo fails when the script is written, not
after the job waited in the queue. ``load_settings`` and ``merge_settings``
read and layer the YAML file that ``ezpipe slurm --config`` takes.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import DefinitionError

_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")
_MEM = re.compile(r"^\d+[KMGT]?$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z0-9_.+\-]+$")
_MPI = re.compile(r"^[a-z0-9_]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GRES_ITEM = r"[A-Za-z_]\w*(?::[\w.\-]+)?(?::\d+)?"  # NAME[:TYPE][:COUNT]: gpu:2, gpu:a100:1
_GRES = re.compile(rf"^{_GRES_ITEM}(?:,{_GRES_ITEM})*$")
DEFAULT_STOP_SECONDS = 120  # Slurm may send it up to ~30 s earlier than asked


def time_seconds(value: str) -> int:
    """Seconds in a Slurm time limit: ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``."""
    match = _TIME.match(value.strip())
    if not match:
        raise ValueError(
            f"{value!r} is not a Slurm time: use minutes, MM:SS, HH:MM:SS or D-HH:MM:SS"
        )
    days, first, second, third = match.groups()
    parts = [int(p) for p in (first, second, third) if p is not None]
    if days is not None:  # D-H, D-H:M, D-H:M:S
        hours, minutes, seconds = [*parts, 0, 0][:3]
        return ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds
    if len(parts) == 1:
        return parts[0] * 60
    if len(parts) == 2:
        return parts[0] * 60 + parts[1]
    return (parts[0] * 60 + parts[1]) * 60 + parts[2]


def _matching(pattern: re.Pattern[str], what: str) -> AfterValidator:
    """A validator for a string that ``pattern`` must match."""

    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


SlurmName = Annotated[str, _matching(_NAME, "a usable Slurm name (letters, digits, _.+-)")]
MpiType = Annotated[str, _matching(_MPI, "an srun --mpi type (pmi2, pmix, ...)")]


def _gres_has_gpus(gres: str) -> bool:
    return any(item.split(":")[0] == "gpu" for item in gres.split(","))


class SlurmResources(BaseModel):
    """What one job asks for (f3dasm's ``SlurmResources``).

    ``ntasks`` is the MPI world; ``cpus_per_task``, ``gpus_per_task`` (or a
    ``gpu`` in ``gres``) and ``mem`` must cover the largest step a rank or a
    node runs: given as options, or derived from the steps' own resources and
    passed to :func:`ezpipe.slurm.make_job` under the options.
    """

    model_config = ConfigDict(extra="forbid")

    ntasks: int = Field(1, ge=1, description="MPI ranks (srun tasks)")
    nodes: int | None = Field(None, ge=1)
    cpus_per_task: int | None = Field(None, ge=1, description="cores per rank (threads)")
    gpus_per_task: int | None = Field(None, ge=1, description="GPUs per rank")
    gres: str | None = Field(None, description="generic resources per node, e.g. gpu:2")
    time: str = Field("01:00:00", description="wall-clock limit, Slurm syntax")
    mem: str | None = Field(None, description="memory per node, e.g. 4G")

    @field_validator("time")
    @classmethod
    def _check_time(cls, value: str) -> str:
        if time_seconds(value) <= 0:
            raise ValueError("the time limit must be positive")
        return value.strip()

    @field_validator("mem")
    @classmethod
    def _check_mem(cls, value: str | None) -> str | None:
        if value is not None and not _MEM.match(value.strip()):
            raise ValueError(f"{value!r} is not a Slurm memory size: use e.g. 4000, 500M, 4G")
        return None if value is None else value.strip()

    @field_validator("gres")
    @classmethod
    def _check_gres(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not _GRES.match(value):
            raise ValueError(
                f"{value!r} is not a Slurm --gres: use NAME[:TYPE][:COUNT], e.g. gpu:a100:1"
            )
        return value

    @model_validator(mode="after")
    def _check_combinations(self) -> SlurmResources:
        if self.nodes is not None and self.nodes > self.ntasks:
            raise ValueError(f"nodes ({self.nodes}) > ntasks ({self.ntasks}) leaves nodes idle")
        if self.gpus_per_task is not None and self.gres is not None and _gres_has_gpus(self.gres):
            raise ValueError(
                f"GPUs asked for twice (gpus_per_task={self.gpus_per_task}, gres={self.gres!r}): "
                "give either GPUs per task or a gpu count per node in gres"
            )
        return self


class SlurmCluster(BaseModel):
    """How jobs run on this cluster (f3dasm's ``SlurmCluster``)."""

    model_config = ConfigDict(extra="forbid")

    partition: SlurmName | None = None
    account: SlurmName | None = None
    qos: SlurmName | None = None
    mpi: MpiType | None = Field(
        "pmi2",
        description="srun --mpi type matching mpi4py's MPI (pmi2 for the pip mpich wheel, pmix "
        "for Open MPI); null uses the cluster's MpiDefault",
    )
    python: str = Field(sys.executable, description="interpreter that has ezpipe installed")
    setup: list[str] = Field(default_factory=list, description="shell lines run before the job")
    env: dict[str, str] = Field(default_factory=dict, description="variables exported to the job")
    extra_sbatch: list[str] = Field(default_factory=list, description="more #SBATCH options")
    stop_signal_seconds: int | None = Field(
        None,
        ge=0,
        description="SIGUSR1 this long before the time limit (0: none); by default 120 s, "
        "or a quarter of a limit shorter than 8 minutes",
    )

    @field_validator("setup", "extra_sbatch")
    @classmethod
    def _one_line_each(cls, lines: list[str]) -> list[str]:
        for line in lines:
            if "\n" in line or "\r" in line:
                raise ValueError(f"each entry must be one line: {line!r}")
        return lines

    @field_validator("env")
    @classmethod
    def _check_env(cls, env: dict[str, str]) -> dict[str, str]:
        for key in env:
            if not _ENV_NAME.match(key):
                raise ValueError(f"{key!r} is not an environment variable name")
        return env


def load_settings(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML settings file: ``resources:``, ``cluster:`` and job-level keys."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise DefinitionError(f"cannot parse {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DefinitionError(f"{path} must hold a mapping (resources:, cluster:, ...)")
    return data


def merge_settings(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` on top, section by section (a nested mapping merges)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_settings(merged[key], value)
        else:
            merged[key] = value
    return merged
