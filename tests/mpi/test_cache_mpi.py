"""Cache behaviour with 4 ranks in one MPI job (run under mpiexec -n 4 ... --with-mpi)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mpi_helpers import all_ranks, comm, shared_folder

from ezpipe import Pipeline, Status

pytestmark = pytest.mark.mpi(min_size=2)


def build(folder: Path, factor: int, mode: str = "cached"):
    pipeline = Pipeline(folder, echo=False, mode=mode)

    @pipeline.step
    def load(i):
        return i

    @pipeline.step
    def scale(x, f):
        return x * f

    @pipeline.step
    def total(xs):
        return sum(xs)

    loads = [load(i) for i in range(8)]
    return pipeline, total([scale(x, factor) for x in loads])


def test_rerun_change_and_force():
    folder = shared_folder()
    first, result = build(folder, 2)
    assert all_ranks(not first.execute()["cached"].any())
    assert all_ranks(first.get_result(result) == 56)
    again, result = build(folder, 2)
    assert all_ranks(again.execute()["cached"].all())
    changed, result = build(folder, 3)
    frame = changed.execute().set_index("name")
    recomputed = sorted(frame.index[~frame["cached"]])
    assert all_ranks(recomputed == ["scale", *[f"scale.{i}" for i in range(1, 8)], "total"])
    assert all_ranks(changed.get_result(result) == 84)
    forced, result = build(folder, 3, mode="force")
    assert all_ranks(not forced.execute()["cached"].any())


def test_lookup_and_clear_on_every_rank():
    folder = shared_folder()
    pipeline, result = build(folder, 2)
    pipeline.execute()
    handle = pipeline.lookup("scale.3")
    assert all_ranks(handle.cached() and handle.result() == 6)
    comm.barrier()
    cleared = handle.clear_cache() if comm.rank == 0 else None
    cleared = comm.bcast(cleared)
    assert all_ranks(cleared == ["scale.3", "total"])
    assert all_ranks(result.lookup().status == Status.NOT_RUN)
    rerun, result = build(folder, 2)
    frame = rerun.execute().set_index("name")
    assert all_ranks(sorted(frame.index[~frame["cached"]]) == ["scale.3", "total"])
