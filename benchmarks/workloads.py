"""The workloads as plain data (dependency lists and sleep durations), and their runners.

The same DAG runs on ezpipe (one step per node, upstream results passed as
arguments so inputs are loaded from the store as in real use) and on
``mpi4py.futures.MPIPoolExecutor`` (a task per node, submitted when its
dependencies are done, critical path first, nothing persisted).
"""

from __future__ import annotations

import queue
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Workload:
    name: str
    deps: list[list[int]]
    durations: list[float]

    @property
    def critical_path(self) -> float:
        finish: list[float] = []
        for index, ds in enumerate(self.deps):
            finish.append(self.durations[index] + max((finish[d] for d in ds), default=0.0))
        return max(finish, default=0.0)

    def lower_bound(self, ranks: int) -> float:
        """No schedule on ``ranks`` ranks beats max(critical path, total / ranks)."""
        return max(self.critical_path, sum(self.durations) / ranks)


def noops(n: int) -> Workload:
    """W1: ``n`` independent no-op steps."""
    return Workload(f"noop{n}", [[] for _ in range(n)], [0.0] * n)


def chain(n: int) -> Workload:
    """W2: ``n`` no-op steps, each depending on the previous one."""
    return Workload(f"chain{n}", [[i - 1] if i else [] for i in range(n)], [0.0] * n)


def fork_join() -> Workload:
    """W3: a fork, 40 sleeps (36 x 0.05 s, 4 x 0.5 s at positions 0, 4, 8, 12, so that
    round-robin over 4 ranks deals every long one to the same rank), a join."""
    sleeps = [0.5 if i % 4 == 0 and i < 16 else 0.05 for i in range(40)]
    deps = [[], *[[0]] * 40, list(range(1, 41))]
    return Workload("forkjoin", deps, [0.0, *sleeps, 0.0])


def layered_dag(seed: int = 7, layers: int = 8, width: int = 12) -> Workload:
    """W4: ``layers`` x ``width`` sleeps of 0.01-0.3 s; each step after the first layer
    depends on 1-3 steps drawn from any earlier layer (edges skip layers)."""
    rng = random.Random(seed)
    deps: list[list[int]] = []
    durations: list[float] = []
    for layer in range(layers):
        for _ in range(width):
            if layer:
                parents = rng.sample(range(width * layer), rng.randint(1, 3))
                # the previous layer always gets one edge, so the layers stay layers
                parents[0] = width * (layer - 1) + rng.randrange(width)
                deps.append(sorted(set(parents)))
            else:
                deps.append([])
            durations.append(round(rng.uniform(0.01, 0.3), 3))
    return Workload(f"dag{seed}", deps, durations)


WORKLOADS = {"noop": noops, "chain": chain, "forkjoin": fork_join, "dag": layered_dag}


def build(name: str, *params: str) -> Workload:
    return WORKLOADS[name](*map(int, params))  # type: ignore[operator]


def noop(i: int) -> int:
    return i


def nap(seconds: float, *_inputs: Any) -> float:
    if seconds:
        time.sleep(seconds)
    return seconds


def run_ezpipe(work: Workload, folder: Path, policy: str) -> dict[str, Any]:
    """One ezpipe run of ``work``; rank 0's figures (execute() wall time, ranks used)."""
    from benchmarks.common import timed_execute
    from ezpipe import Pipeline

    pipeline = Pipeline(folder, work.name, policy=policy, echo=False)
    step = pipeline.step(name="n{index}")(_step)
    nodes: list[Any] = []
    for index, ds in enumerate(work.deps):
        nodes.append(step(index, work.durations[index], [nodes[d] for d in ds]))
    seconds = timed_execute(pipeline)
    frame = pipeline.summary
    assert frame is not None
    if not (frame["status"] == 0).all():
        raise RuntimeError(f"{work.name}: not every step passed:\n{frame}")
    return {"seconds": seconds, "ranks_used": sorted(int(r) for r in frame["rank"].unique())}


def _step(index: int, seconds: float, inputs: Sequence[Any]) -> int:
    if seconds:
        time.sleep(seconds)
    return index


def run_futures(work: Workload) -> dict[str, Any]:
    """``work`` on MPIPoolExecutor: tasks submitted as their dependencies finish."""
    from mpi4py.futures import MPIPoolExecutor

    n = len(work.deps)
    children: list[list[int]] = [[] for _ in range(n)]
    waiting = [len(ds) for ds in work.deps]
    for index, ds in enumerate(work.deps):
        for d in ds:
            children[d].append(index)
    level = [0.0] * n  # bottom level in seconds: critical path first, as ezpipe's dag
    for index in reversed(range(n)):
        level[index] += work.durations[index]
        for d in work.deps[index]:
            level[d] = max(level[d], level[index])
    done: queue.SimpleQueue[int] = queue.SimpleQueue()
    with MPIPoolExecutor() as pool:
        pool.bootup()
        workers = pool.num_workers

        def submit(i: int) -> None:
            future = pool.submit(nap, work.durations[i])
            future.add_done_callback(lambda f, i=i: done.put(i))

        start = time.perf_counter()
        for i in sorted((i for i in range(n) if not waiting[i]), key=lambda i: -level[i]):
            submit(i)
        for _ in range(n):  # one completion at a time, in the order they come
            freed = []
            for child in children[done.get()]:
                waiting[child] -= 1
                if not waiting[child]:
                    freed.append(child)
            for i in sorted(freed, key=lambda i: -level[i]):
                submit(i)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "workers": workers}
