"""Does the job fit the steps? The start-up allocation check, and the derived resources.

:func:`check` runs on rank 0 at the start of every run and compares what the
job was given with what its steps ask for: the world size against Slurm's task
count, CPUs per task against the largest ``threads=``, the GPUs a node shows
against the largest ``gpus=``, and free space and inodes in the pipeline
folder. One verdict line goes to the job output and to ``run.json``. What
would make a step impossible is refused earlier, on every rank, by
:func:`ezpipe.engine.placement.refuse_unplaceable`; what only wastes or
oversubscribes the allocation is a warning in the verdict.

:func:`derive` turns a frozen pipeline's step resources into what a Slurm job
should ask for (``ezpipe slurm`` renders it; each value can be overridden).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..steps import Step
from .placement import Node

MIN_FREE_BYTES = 1 << 30  # below 1 GiB free, results may not fit
MIN_FREE_INODES = 10_000  # each step takes a folder and two or three files


@dataclass(frozen=True)
class Derived:
    """What a job running these steps needs."""

    tasks: int  # ranks: at least the largest step's, more to run steps side by side
    cpus_per_task: int  # the largest threads=
    gpus_per_task: int  # the largest gpus=
    mem_per_task: int | None  # bytes: the largest memory=, None: no step asked


def derive(steps: Sequence[Step], tasks: int | None = None) -> Derived:
    """The resources a job for ``steps`` should request; ``tasks`` overrides the count."""
    res = [s.definition.resources for s in steps]
    widest = max((r.ranks for r in res), default=1)
    memory = [r.memory for r in res if r.memory is not None]
    return Derived(
        tasks=max(widest, tasks or widest),
        cpus_per_task=max((r.threads for r in res), default=1),
        gpus_per_task=max((r.gpus for r in res), default=0),
        mem_per_task=max(memory) if memory else None,
    )


@dataclass
class Verdict:
    ok: bool
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        word = "ok" if self.ok else "WARNING"
        parts = self.problems + self.notes
        return f"ezpipe: allocation {word}: {'; '.join(parts)}"


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check(
    steps: Sequence[Step],
    size: int,
    nodes: Sequence[Node] | None,
    folder: str,
    environ: Mapping[str, str] = os.environ,
) -> Verdict:
    """Compare the job's allocation with the steps' needs (rank 0, before running)."""
    need = derive(steps)
    verdict = Verdict(ok=True)
    tasks = environ.get("SLURM_NTASKS", "").strip()
    if tasks.isdigit() and int(tasks) != size:
        verdict.problems.append(
            f"the world has {size} ranks but Slurm allocated {tasks} tasks (SLURM_NTASKS): "
            f"launch with srun --mpi=pmi2 -n {tasks}"
        )
    else:
        verdict.notes.append(f"{size} ranks")
    cpus = environ.get("SLURM_CPUS_PER_TASK", "").strip()
    if cpus.isdigit() and int(cpus) < need.cpus_per_task:
        verdict.problems.append(
            f"a step asks threads={need.cpus_per_task} but each task has {cpus} CPUs "
            f"(SLURM_CPUS_PER_TASK): ask for --cpus-per-task={need.cpus_per_task}"
        )
    elif need.cpus_per_task > 1:
        verdict.notes.append(f"threads up to {need.cpus_per_task}")
    if need.gpus_per_task:
        visible = min((len(n.gpus) for n in nodes or ()), default=0)
        if visible < need.gpus_per_task:
            verdict.problems.append(
                f"a step asks gpus={need.gpus_per_task} but a node shows {visible} GPUs: "
                f"ask for --gpus-per-node={need.gpus_per_task} (or set EZPIPE_NODE_GPUS)"
            )
        else:
            verdict.notes.append(f"{visible} GPUs per node >= gpus={need.gpus_per_task}")
    try:
        fs = os.statvfs(folder if os.path.exists(folder) else os.path.dirname(folder) or ".")
    except OSError as exc:
        verdict.problems.append(f"cannot read the folder's file system: {exc}")
    else:
        free, inodes = fs.f_bavail * fs.f_frsize, fs.f_favail
        low_inodes = fs.f_files > 0 and inodes < MIN_FREE_INODES
        if free < MIN_FREE_BYTES or low_inodes:
            verdict.problems.append(
                f"the folder's file system has {_gib(free)} and {inodes} inodes free"
            )
        else:
            verdict.notes.append(f"{_gib(free)} free in the folder")
    verdict.ok = not verdict.problems
    return verdict
