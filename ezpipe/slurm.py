"""Slurm job scripts for a pipeline: settings, rendering, submission, waiting.

``SlurmResources`` says what one job asks for, ``SlurmCluster`` how this
cluster is used (partition, account, set-up lines, the ``srun --mpi`` type);
``SlurmJob`` puts them together with the pipeline script and renders an
``sbatch`` script that launches every task correctly (``srun --mpi=pmi2``),
asks for a stop signal before the time limit and, when ``resubmit`` > 0,
submits itself again while the pipeline reports unfinished steps (exit
status 75, see :mod:`ezpipe.preempt`). Each job appends one line
``<job id> <exit status> <next job id or ->`` to ``<script>.jobs``, which is
how :func:`wait` follows a chain of resubmissions without Slurm accounting.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import EXIT_INTERRUPTED, DefinitionError, SlurmError

ENV_SCRIPT = "EZPIPE_SLURM_SCRIPT"  # the names ezpipe.options.ENV declares for job scripts
ENV_ATTEMPT = "EZPIPE_SLURM_ATTEMPT"
ENV_RESUBMIT = "EZPIPE_SLURM_RESUBMIT"
ENV_PREVIOUS = "EZPIPE_SLURM_PREVIOUS_JOB"

log = logging.getLogger(__name__)

_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")
_MEM = re.compile(r"^\d+[KMGT]?$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z0-9_.+\-]+$")
_MPI = re.compile(r"^[a-z0-9_]+$")
DEFAULT_STOP_SECONDS = 120  # Slurm may send it up to ~30 s earlier than asked
TERMINAL_STATES = (
    "BOOT_FAIL",
    "CANCELLED",
    "COMPLETED",
    "DEADLINE",
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "TIMEOUT",
)


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


class SlurmResources(BaseModel):
    """What one job asks for (f3dasm's ``SlurmResources``)."""

    model_config = ConfigDict(extra="forbid")

    ntasks: int = Field(1, ge=1, description="MPI ranks (srun tasks)")
    nodes: int | None = Field(None, ge=1)
    cpus_per_task: int | None = Field(None, ge=1)
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

    @model_validator(mode="after")
    def _check_nodes(self) -> SlurmResources:
        if self.nodes is not None and self.nodes > self.ntasks:
            raise ValueError(f"nodes ({self.nodes}) > ntasks ({self.ntasks}) leaves nodes idle")
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
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise ValueError(f"{key!r} is not an environment variable name")
        return env


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
        return self.job_name or re.sub(r"[^A-Za-z0-9_.+\-]", "_", self.script.stem) or "ezpipe"

    def _abs(self, path: Path) -> Path:
        return path if path.is_absolute() else self.workdir / path

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
        return self._abs(self.output_dir) / f"{self.name}-%j.out"

    # -- rendering ------------------------------------------------------------------------------
    def sbatch_options(self) -> list[str]:
        r, c = self.resources, self.cluster
        options = [f"--job-name={self.name}", f"--ntasks={r.ntasks}"]
        if r.nodes is not None:
            options.append(f"--nodes={r.nodes}")
        if r.cpus_per_task is not None:
            options.append(f"--cpus-per-task={r.cpus_per_task}")
        options.append(f"--time={r.time}")
        if r.mem is not None:
            options.append(f"--mem={r.mem}")
        for flag, value in (("partition", c.partition), ("account", c.account), ("qos", c.qos)):
            if value is not None:
                options.append(f"--{flag}={value}")
        options.append(f"--output={self.log_pattern}")
        if self.stop_seconds:
            options.append(f"--signal=B:USR1@{self.stop_seconds}")
        options += [line.removeprefix("#SBATCH").strip() for line in c.extra_sbatch]
        return options

    def command(self) -> list[str]:
        """The launch line: srun with the right MPI type, then the pipeline script."""
        srun = ["srun"] if self.cluster.mpi is None else ["srun", f"--mpi={self.cluster.mpi}"]
        study = self.script.suffix.lower() in (".yaml", ".yml", ".json")  # ezpipe.config.study
        runner = ["-m", "ezpipe.cli.config_run"] if study else []
        return [*srun, self.cluster.python, *runner, str(self._abs(self.script)), *self.args]

    def render(self) -> str:
        """The sbatch script, as text."""
        q = shlex.quote
        script, chain = q(str(self.script_path)), q(str(self.chain_path))
        lines = ["#!/bin/bash"]
        lines += [f"#SBATCH {option}" for option in self.sbatch_options()]
        lines += [
            f"# Generated by `ezpipe slurm`; submit with: sbatch {script}",
            f"# Exit status {EXIT_INTERRUPTED}: the pipeline stopped on the time limit signal "
            "with steps left",
            "",
        ]
        if self.cluster.setup:
            lines += ["# environment set-up", *self.cluster.setup, ""]
        lines += [f"export {key}={q(value)}" for key, value in self.cluster.env.items()]
        lines += [
            f"export {ENV_SCRIPT}={script}",
            f"export {ENV_RESUBMIT}={self.resubmit}",
            f'export {ENV_ATTEMPT}="${{{ENV_ATTEMPT}:-0}}"',
            f"cd {q(str(self.workdir))} || exit 1",
            'echo "ezpipe: job $SLURM_JOB_ID on $SLURM_JOB_NODELIST, '
            f'attempt ${ENV_ATTEMPT} (resubmissions allowed: {self.resubmit})"',
            "",
            "# On the stop signal (before the time limit), tell the pipeline to stop its steps.",
            'trap \'echo "ezpipe: time limit near: stopping the pipeline"; '
            'kill -USR1 "$child" 2>/dev/null\' USR1',
            shlex.join(self.command()) + " &",
            "child=$!",
            "status=0",
            'wait "$child" || status=$?',
            'while kill -0 "$child" 2>/dev/null; do  # wait was cut short by the trap',
            '  status=0; wait "$child" || status=$?',
            "done",
            "",
            "next=-",
            f'if [ "$status" -eq {EXIT_INTERRUPTED} ] && '
            f'[ "${ENV_ATTEMPT}" -lt "${ENV_RESUBMIT}" ]; then',
            "  # Steps remain: submit this script again (without this job's SLURM_* settings);",
            "  # it resumes from the cache.",
            "  previous=$SLURM_JOB_ID",
            f"  if next=$(unset $(compgen -e | grep '^SLURM_' | grep -vx SLURM_CONF); "
            f"{ENV_ATTEMPT}=$(({ENV_ATTEMPT} + 1)) {ENV_PREVIOUS}=$previous "
            f'sbatch --parsable "${ENV_SCRIPT}"); then',
            '    echo "ezpipe: steps remain: resubmitted as job ${next%%;*}"',
            "  else",
            "    next=-",
            f'    echo "ezpipe: steps remain but sbatch failed: sbatch ${ENV_SCRIPT} resumes"',
            "  fi",
            f'elif [ "$status" -eq {EXIT_INTERRUPTED} ]; then',
            f'  echo "ezpipe: steps remain, no resubmission left: sbatch ${ENV_SCRIPT} resumes"',
            "fi",
            f'echo "$SLURM_JOB_ID $status ${{next%%;*}}" >> {chain}',
            'exit "$status"',
        ]
        return "\n".join(lines) + "\n"

    def write(self) -> Path:
        """Write the script (and its folder); returns its path."""
        path = self.script_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render())
        path.chmod(0o755)
        return path


# -- settings -------------------------------------------------------------------------------------
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


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def make_job(settings: Mapping[str, Any], overrides: Mapping[str, Any]) -> SlurmJob:
    """A validated job from file settings and command-line overrides (these win)."""
    try:
        return SlurmJob.model_validate(_merge(settings, overrides))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors()
        )
        raise DefinitionError(f"invalid Slurm job settings: {problems}") from exc


# -- submission -----------------------------------------------------------------------------------
Runner = Callable[..., subprocess.CompletedProcess]


def submit(path: Path, *, run: Runner = subprocess.run) -> str:
    """``sbatch`` the script; returns the job id."""
    try:
        done = run(["sbatch", "--parsable", str(path)], capture_output=True, text=True, timeout=120)
    except FileNotFoundError as exc:
        raise SlurmError("sbatch is not on PATH: is this a Slurm login node?") from exc
    if done.returncode != 0:
        raise SlurmError(f"sbatch failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout.strip().split(";")[0]


def read_chain(path: Path) -> dict[str, tuple[int, str | None]]:
    """``<script>.jobs``: job id -> (exit status, resubmitted job id or None)."""
    chain: dict[str, tuple[int, str | None]] = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        return chain
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1].lstrip("-").isdigit():
            chain[fields[0]] = (int(fields[1]), None if fields[2] == "-" else fields[2])
    return chain


def job_state(job_id: str, *, run: Runner = subprocess.run) -> tuple[str, int | None]:
    """(state, exit status) from ``scontrol show job``; ("GONE", None) once Slurm forgot it."""
    done = run(
        ["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        return "GONE", None
    fields = dict(
        item.split("=", 1) for item in done.stdout.split() if "=" in item and item[0] != "="
    )
    state = fields.get("JobState", "UNKNOWN")
    code = fields.get("ExitCode", "")
    status = int(code.split(":")[0]) if code.split(":")[0].isdigit() else None
    return state, status


def wait(
    job_id: str,
    chain_path: Path,
    *,
    poll: float = 1.0,
    timeout: float | None = None,
    run: Runner = subprocess.run,
    echo: Callable[[str], None] = print,
) -> int:
    """Block until the job, and every job it resubmitted, ended; the last one's exit status."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status = _wait_one(job_id, chain_path, poll, deadline, run, echo)
        following = read_chain(chain_path).get(job_id, (status, None))[1]
        if following is None:
            echo(f"ezpipe slurm: job {job_id} ended with exit status {status}")
            return status
        echo(f"ezpipe slurm: job {job_id} stopped at its time limit; resubmitted as {following}")
        job_id = following


def _wait_one(
    job_id: str,
    chain_path: Path,
    poll: float,
    deadline: float | None,
    run: Runner,
    echo: Callable[[str], None],
) -> int:
    shown = ""
    while True:
        if job_id in (chain := read_chain(chain_path)):
            return chain[job_id][0]
        state, status = job_state(job_id, run=run)
        if state != shown and state != "GONE":
            echo(f"ezpipe slurm: job {job_id} is {state}")
            shown = state
        if state.split()[0] in TERMINAL_STATES or state == "GONE":
            time.sleep(poll)  # the script may be writing its line right now
            if job_id in (chain := read_chain(chain_path)):
                return chain[job_id][0]
            log.warning("job %s ended (%s) without reporting through %s", job_id, state, chain_path)
            return status if status is not None and status != 0 else 1
        if deadline is not None and time.monotonic() > deadline:
            raise SlurmError(f"job {job_id} is still {state}: stopped waiting (--wait-timeout)")
        time.sleep(poll)


def describe(job: SlurmJob) -> str:
    """A short human summary of what the script does."""
    r = job.resources
    parts = [f"{r.ntasks} task{'s' if r.ntasks > 1 else ''}", f"time {r.time}"]
    if job.resubmit:
        parts.append(f"resubmits itself up to {job.resubmit} times at the time limit")
    return ", ".join(parts)
