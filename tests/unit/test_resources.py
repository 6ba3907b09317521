"""What a step used, the summary columns, the allocation check and the derived resources."""

from __future__ import annotations

import os

import numpy as np

from ezpipe import Pipeline
from ezpipe.engine import allocation
from ezpipe.engine.placement import Node
from ezpipe.engine.resources import Usage, applied, gpu_ids


def test_peak_memory_is_the_steps_own_not_the_process_lifetime_peak(folder):
    pipeline = Pipeline(folder, echo=False, progress=False)

    @pipeline.step
    def big():
        block = np.ones(400 * 2**20 // 8)  # 400 MiB touched
        return float(block[-1])

    @pipeline.step
    def small(x):
        block = np.ones(50 * 2**20 // 8)
        return float(block[-1]) + x

    small(big())
    frame = pipeline.execute()
    peaks = dict(zip(frame["name"], frame["peak_mb"], strict=True))
    base = Usage().stop().peak_memory / 2**20  # this process's size now, after a reset
    assert peaks["big"] >= base + 350
    assert peaks["small"] < peaks["big"] - 250  # not big's peak again
    record = pipeline.store.read_record("big", pipeline.steps[0].key)
    assert record.cpu_time is not None and record.cpu_time > 0
    assert 0 < record.cpu_efficiency <= 1.5


def test_gpu_ids_are_numbered_as_this_process_sees_its_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    with applied(1, gpus=(5,)):
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"  # for child processes
        assert gpu_ids() == (1,)  # cuda:1 in this process is device 5
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "4,5"


def test_applied_limits_threads_sets_variables_and_gpus_and_restores_them(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    before = os.environ.get("OMP_NUM_THREADS")
    with applied(3, gpus=(2, 5)):
        assert os.environ["OMP_NUM_THREADS"] == "3"
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "2,5"
        assert gpu_ids() == (2, 5)
        from threadpoolctl import threadpool_info

        assert all(p["num_threads"] <= 3 for p in threadpool_info())
    assert os.environ.get("OMP_NUM_THREADS") == before
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    assert gpu_ids() == ()


def steps_with(folder, **options):
    pipeline = Pipeline(folder, echo=False)

    @pipeline.step(**options)
    def f(x, comm=None):
        return x

    @pipeline.step
    def g(x):
        return x

    f(1)
    g(2)
    pipeline.freeze()
    return pipeline.steps


def test_derive_takes_the_largest_request(folder):
    steps = steps_with(folder, ranks=4, threads=8, gpus=2, memory="3G")
    derived = allocation.derive(steps)
    assert derived == allocation.Derived(4, 8, 2, 3 * 2**30)
    assert allocation.derive(steps, tasks=16).tasks == 16
    assert allocation.derive(steps, tasks=2).tasks == 4  # never fewer than the widest step


def test_the_allocation_check_names_what_to_change(folder):
    steps = steps_with(folder, ranks=2, threads=8, gpus=2)
    nodes = [Node([0, 1], [0, 1], [0], None)]
    environ = {"SLURM_NTASKS": "4", "SLURM_CPUS_PER_TASK": "2"}
    verdict = allocation.check(steps, 2, nodes, str(folder), environ)
    assert not verdict.ok
    assert "SLURM_NTASKS" in verdict.line and "srun --mpi=pmi2 -n 4" in verdict.line
    assert "--cpus-per-task=8" in verdict.line
    assert "--gpus-per-node=2" in verdict.line
    good = allocation.check(
        steps, 4, [Node([0, 1], [0, 1], [0, 1], None)], str(folder), {"SLURM_NTASKS": "4"}
    )
    assert good.ok and good.line.startswith("ezpipe: allocation ok")


def test_run_json_holds_the_verdict(folder):
    pipeline = Pipeline(folder, echo=False, progress=False)

    @pipeline.step
    def f():
        return 1

    f()
    pipeline.execute()
    run = pipeline.store.read_run_record()
    assert run is not None and run.allocation.startswith("ezpipe: allocation")
