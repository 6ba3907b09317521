from __future__ import annotations

import pytest

from ezpipe import LaunchError
from ezpipe.engine.comm import LocalComm, check_launch, launcher_size, root_call, world


def test_launcher_size_reads_the_launchers_variables():
    assert launcher_size({}) is None
    assert launcher_size({"SLURM_STEP_NUM_TASKS": "1"}) is None
    assert launcher_size({"PMI_SIZE": "4"}) == (4, "PMI_SIZE")
    assert launcher_size({"OMPI_COMM_WORLD_SIZE": "8"}) == (8, "OMPI_COMM_WORLD_SIZE")


def test_singleton_worlds_under_a_multi_task_launch_are_refused():
    with pytest.raises(LaunchError, match="--mpi=pmi2"):
        check_launch(1, {"SLURM_STEP_NUM_TASKS": "4"})
    check_launch(4, {"SLURM_STEP_NUM_TASKS": "4"})  # a real 4-rank world is fine
    check_launch(1, {"SLURM_STEP_NUM_TASKS": "4", "EZPIPE_ALLOW_SINGLETONS": "1"})


def test_world_without_mpi_is_local(monkeypatch):
    monkeypatch.setenv("EZPIPE_MPI", "0")
    comm = world()
    assert isinstance(comm, LocalComm)
    assert (comm.rank, comm.size) == (0, 1)


def test_root_call_returns_or_reraises():
    comm = LocalComm()
    assert root_call(comm, lambda: 41 + 1) == 42

    def boom():
        raise OSError("no disk")

    with pytest.raises(OSError, match="no disk"):
        root_call(comm, boom)
