"""Every option of a run, validated once, and the one reader of ``EZPIPE_*`` variables.

``ezpipe run`` and job scripts steer a script whose ``execute()`` call they
cannot edit through environment variables; a value set there wins over the
one in the script (the command line is the later, more specific wish). Every
variable ezpipe reads is declared in :data:`ENV`, parsed by :func:`env` with
one idea of "true", and a malformed value is an error that names the variable,
not a silent default. Options are validated when they are given (``Pipeline(...)``
and ``execute(...)``), on every rank alike, so rank 0 never raises alone.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import DefinitionError
from .records import Mode

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})
POLICIES: tuple[str, ...] = ("static", "phase", "dag")
PROGRESS_STYLES: tuple[str, ...] = ("bar", "lines", "off")
CONSOLE_LEVELS: tuple[str, ...] = ("quiet", "normal", "verbose")


@dataclass(frozen=True)
class EnvVar:
    """One environment variable ezpipe reads: its type and what it is for."""

    name: str
    kind: str  # bool, int, float, str, list, mode, progress, console
    help: str


ENV: dict[str, EnvVar] = {
    v.name: v
    for v in (
        EnvVar("EZPIPE_DRY_RUN", "bool", "ezpipe run --dry-run: report, run nothing"),
        EnvVar("EZPIPE_RUN_ONLY", "list", "JSON list of regular expressions (--run-only)"),
        EnvVar("EZPIPE_FROM_STEP", "list", "JSON list of step names (--from-step)"),
        EnvVar("EZPIPE_MAX_CONCURRENT", "int", "at most this many steps at once"),
        EnvVar("EZPIPE_MODE", "mode", "cache mode of the run"),
        EnvVar("EZPIPE_ACCEPT", "list", "JSON list of functions whose new code is accepted"),
        EnvVar("EZPIPE_ACCEPT_SCHEME", "bool", "1: adopt results of key scheme v1"),
        EnvVar("EZPIPE_TEE_OUTPUT", "bool", "echo each step's output, prefixed, to the job"),
        EnvVar("EZPIPE_PROGRESS", "progress", "bar, lines or off"),
        EnvVar("EZPIPE_CONSOLE", "console", "quiet, normal or verbose (ezpipe run -q/-v)"),
        EnvVar("EZPIPE_LOCK_TIMEOUT", "float", "seconds to wait for another run's folder lock"),
        EnvVar("EZPIPE_PROGRESS_INTERVAL", "float", "seconds between progress lines"),
        EnvVar("EZPIPE_SWITCH_INTERVAL", "float", "rank 0's GIL switch interval during a run"),
        EnvVar("EZPIPE_LOG_LEVEL", "str", "level of the ezpipe logger (WARNING)"),
        EnvVar("EZPIPE_MPI", "bool", "0: never use MPI, run in-process"),
        EnvVar("EZPIPE_EXIT_ON_FAILURE", "bool", "1: execute() exits 1 when steps failed"),
        EnvVar("EZPIPE_ALLOW_SINGLETONS", "bool", "1: allow N tasks that each see 1 rank"),
        EnvVar("EZPIPE_RUN_REPORT", "str", "file where execute() notes how it ended"),
        EnvVar("EZPIPE_MPIEXEC", "str", "the MPI launcher ezpipe run uses"),
        EnvVar("EZPIPE_LOCK", "str", "lease: a lease file instead of flock (Lustre); flock"),
        EnvVar("EZPIPE_STORE_LAYOUT", "str", "packed (default) or folder, for new folders"),
        EnvVar("EZPIPE_LAUNCHER_PID", "int", "set by ezpipe run: study ranks end without it"),
        EnvVar("EZPIPE_SLURM_SCRIPT", "str", "set by ezpipe slurm job scripts: the script"),
        EnvVar("EZPIPE_SLURM_ATTEMPT", "int", "set by job scripts: resubmission number"),
        EnvVar("EZPIPE_SLURM_RESUBMIT", "int", "set by job scripts: resubmissions allowed"),
        EnvVar("EZPIPE_SLURM_PREVIOUS_JOB", "str", "set by job scripts: the job resubmitted"),
        EnvVar("EZPIPE_GRACE", "float", "seconds a failed multi-rank step's ranks get (30)"),
        EnvVar("EZPIPE_PRETEND_NODES", "int", "tests: split each node's ranks into N nodes"),
        EnvVar("EZPIPE_NODE_GPUS", "str", "GPU ids per node (0,1,2,3) or a count"),
        EnvVar("EZPIPE_NODE_CORES", "int", "cores per node (default: the CPUs a rank sees)"),
        EnvVar("EZPIPE_NODE_MEMORY", "str", "memory per node, 64G (default: MemTotal)"),
    )
}


def _parse(spec: EnvVar, raw: str) -> Any:
    lowered = raw.lower()
    if spec.kind == "bool":
        if lowered in TRUE or lowered in FALSE:
            return lowered in TRUE
        raise ValueError("expected 1/0, true/false, yes/no or on/off")
    if spec.kind == "int":
        return int(raw)
    if spec.kind == "float":
        return float(raw)
    if spec.kind == "list":
        try:
            value = json.loads(raw)
        except ValueError:
            return [raw]  # a single pattern or name, not JSON
        return [value] if isinstance(value, str) else [str(v) for v in value]
    if spec.kind == "mode":
        return Mode.parse(raw)
    if spec.kind == "progress":
        if lowered in PROGRESS_STYLES:
            return lowered
        if lowered in FALSE:
            return "off"
        raise ValueError(f"expected one of {PROGRESS_STYLES}")
    if spec.kind == "console":
        if lowered in CONSOLE_LEVELS:
            return lowered
        raise ValueError(f"expected one of {CONSOLE_LEVELS}")
    return raw


def env(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """The parsed value of a declared ``EZPIPE_*`` variable, or None when unset or empty."""
    spec = ENV[name]
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return None
    try:
        return _parse(spec, raw)
    except ValueError as exc:
        raise DefinitionError(f"environment variable {name}={raw!r}: {exc}") from None


def _as_list(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class RunOptions:
    """The options of one ``execute()``: the pipeline's defaults, the call's, the environment's.

    Frozen and validated on construction, so whatever holds one can trust it.
    """

    mode: Mode = Mode.CACHED
    policy: str = "dag"
    max_concurrent: int | None = None
    dry_run: bool = False
    run_only: tuple[str, ...] | None = None
    from_step: tuple[str, ...] | None = None
    strict: bool = False
    echo: bool = True
    fsync: bool = False
    lock_timeout: float = 0.0
    tee_output: bool = True
    progress: bool | str = True
    switch_interval: float = 0.0005  # seconds; see ezpipe.engine.loop and docs/architecture.md
    exit_on_failure: bool = False  # end the script with status 1 when steps failed
    accept: tuple[str, ...] | None = None  # functions whose changed code keeps old results
    accept_scheme: bool = False  # adopt results computed under key scheme v1
    console: str = "normal"

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", Mode.parse(self.mode))
        object.__setattr__(self, "run_only", _as_list(self.run_only))
        object.__setattr__(self, "from_step", _as_list(self.from_step))
        object.__setattr__(self, "accept", _as_list(self.accept))
        if self.policy not in POLICIES:
            raise DefinitionError(
                f"unknown scheduling policy {self.policy!r}; use one of {POLICIES}"
            )
        if self.max_concurrent is not None and (
            not isinstance(self.max_concurrent, int) or self.max_concurrent < 1
        ):
            raise DefinitionError(f"max_concurrent must be at least 1, got {self.max_concurrent}")
        if not isinstance(self.lock_timeout, (int, float)) or self.lock_timeout < 0:
            raise DefinitionError(f"lock_timeout must be >= 0 seconds, got {self.lock_timeout!r}")
        if not 0 < self.switch_interval <= 1:
            raise DefinitionError(
                f"switch_interval must be in (0, 1] seconds, got {self.switch_interval!r}"
            )
        if isinstance(self.progress, str) and self.progress not in PROGRESS_STYLES:
            raise DefinitionError(
                f"unknown progress style {self.progress!r}; use one of {PROGRESS_STYLES}"
            )
        if self.console not in CONSOLE_LEVELS:
            raise DefinitionError(
                f"unknown console level {self.console!r}; use one of {CONSOLE_LEVELS}"
            )

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with the given options changed; ``None`` values keep the current one."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def with_environment(self, environ: Mapping[str, str] | None = None) -> RunOptions:
        """These options overridden by what ``ezpipe run`` passed through the environment."""
        return self.replace(
            mode=env("EZPIPE_MODE", environ),
            dry_run=env("EZPIPE_DRY_RUN", environ) or None,
            run_only=env("EZPIPE_RUN_ONLY", environ),
            from_step=env("EZPIPE_FROM_STEP", environ),
            max_concurrent=env("EZPIPE_MAX_CONCURRENT", environ),
            tee_output=env("EZPIPE_TEE_OUTPUT", environ),
            progress=env("EZPIPE_PROGRESS", environ),
            switch_interval=env("EZPIPE_SWITCH_INTERVAL", environ),
            exit_on_failure=env("EZPIPE_EXIT_ON_FAILURE", environ),
            accept=env("EZPIPE_ACCEPT", environ),
            accept_scheme=env("EZPIPE_ACCEPT_SCHEME", environ),
            console=env("EZPIPE_CONSOLE", environ),
            lock_timeout=env("EZPIPE_LOCK_TIMEOUT", environ),
        )

    def steering(self) -> dict[str, Any]:
        """The options that steer which steps run (what ``run.json`` records)."""
        out: dict[str, Any] = {
            "dry_run": self.dry_run,
            "run_only": list(self.run_only) if self.run_only else None,
            "from_step": list(self.from_step) if self.from_step else None,
            "max_concurrent": self.max_concurrent,
            "mode": self.mode.value,
        }
        return {k: v for k, v in out.items() if v not in (None, False)}


def steering_environment(
    *,
    dry_run: bool = False,
    run_only: Iterable[str] | None = None,
    from_step: Iterable[str] | None = None,
    max_concurrent: int | None = None,
    mode: str | None = None,
    tee_output: bool | None = None,
    progress: str | None = None,
    console: str | None = None,
    accept: Iterable[str] | None = None,
    accept_scheme: bool = False,
    lock_timeout: float | None = None,
) -> dict[str, str]:
    """The variables through which ``ezpipe run`` passes its options to the script."""
    out: dict[str, str] = {}
    if dry_run:
        out["EZPIPE_DRY_RUN"] = "1"
    if accept:
        out["EZPIPE_ACCEPT"] = json.dumps(list(accept))
    if accept_scheme:
        out["EZPIPE_ACCEPT_SCHEME"] = "1"
    if run_only:
        out["EZPIPE_RUN_ONLY"] = json.dumps(list(run_only))
    if from_step:
        out["EZPIPE_FROM_STEP"] = json.dumps(list(from_step))
    if max_concurrent is not None:
        out["EZPIPE_MAX_CONCURRENT"] = str(max_concurrent)
    if mode is not None:
        out["EZPIPE_MODE"] = Mode.parse(mode).value
    if tee_output is not None:
        out["EZPIPE_TEE_OUTPUT"] = "1" if tee_output else "0"
    if progress is not None:
        out["EZPIPE_PROGRESS"] = progress
    if console is not None:
        out["EZPIPE_CONSOLE"] = console
    if lock_timeout is not None:
        out["EZPIPE_LOCK_TIMEOUT"] = repr(float(lock_timeout))
    return out


MEMORY_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_memory(value: int | float | str | None) -> int | None:
    """Bytes from ``4_000_000``, ``"512M"``, ``"16G"`` or ``"1.5GB"`` (powers of 1,024)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        amount = int(value)
    elif isinstance(value, str):
        text = value.strip().lower().removesuffix("ib").removesuffix("b")
        unit = text[-1] if text and text[-1] in MEMORY_UNITS else ""
        try:
            amount = int(float(text[: len(text) - len(unit)]) * MEMORY_UNITS[unit])
        except ValueError:
            raise DefinitionError(f"memory={value!r} is not a size like 512M or 16G") from None
    else:
        raise DefinitionError(f"memory={value!r} is not a size like 512M or 16G")
    if amount <= 0:
        raise DefinitionError(f"memory must be positive, got {value!r}")
    return amount


def _count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DefinitionError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


@dataclass(frozen=True)
class StepOptions:
    """What one step function needs to run: validated when the decorator is applied.

    ``ranks`` (a decomposition can change the result) is part of the step's key;
    ``threads``, ``gpus``, ``memory``, ``timeout`` and ``priority`` only steer where
    and when it runs, so changing them never invalidates a cached result.
    ``gang`` says whether the function takes the step's communicator as ``comm``
    (any explicit ``ranks=``, 1 included).
    """

    ranks: int = 1
    threads: int = 1
    gpus: int = 0
    memory: int | None = None  # bytes
    timeout: float | None = None  # seconds
    priority: float | None = None  # higher runs first; None: from the critical path
    gang: bool = False

    @classmethod
    def make(
        cls,
        *,
        ranks: int | None = None,
        threads: int | None = None,
        gpus: int | None = None,
        memory: int | float | str | None = None,
        timeout: float | None = None,
        priority: float | None = None,
    ) -> StepOptions:
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
        ):
            raise DefinitionError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if priority is not None and (
            isinstance(priority, bool) or not isinstance(priority, (int, float))
        ):
            raise DefinitionError(f"priority must be a number, got {priority!r}")
        return cls(
            ranks=1 if ranks is None else _count("ranks", ranks, 1),
            threads=1 if threads is None else _count("threads", threads, 1),
            gpus=0 if gpus is None else _count("gpus", gpus, 0),
            memory=parse_memory(memory),
            timeout=None if timeout is None else float(timeout),
            priority=None if priority is None else float(priority),
            gang=ranks is not None,
        )

    def signature(self, func: Callable[..., Any]) -> inspect.Signature:
        """What a call binds: without ``comm`` for a step given ``ranks=`` (ezpipe passes it)."""
        signature = inspect.signature(func)
        if not self.gang:
            return signature
        if "comm" not in signature.parameters:
            name = getattr(func, "__qualname__", type(func).__qualname__)
            raise DefinitionError(
                f"{name} is a ranks={self.ranks} step, so it must take its communicator "
                f"as a parameter named 'comm'; its signature is {signature}"
            )
        return signature.replace(
            parameters=[p for n, p in signature.parameters.items() if n != "comm"]
        )

    @property
    def placed(self) -> bool:
        """Does the step need more than one plain rank (placement by node)?"""
        return self.ranks > 1 or self.threads > 1 or self.gpus > 0 or self.memory is not None


DEFAULT_STEP = StepOptions()
