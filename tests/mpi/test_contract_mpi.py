"""The transport contract of tests/contract.py over real MPI (run under mpiexec -n 4)."""

from __future__ import annotations

import traceback
from collections.abc import Callable

import pytest
from contract import CONTRACT, whole_run
from mpi_helpers import all_ranks, shared_folder

from ezpipe.engine.comm import MPIComm

pytestmark = pytest.mark.mpi


def holds(check: Callable[[], None]) -> bool:
    try:
        check()
    except Exception:
        traceback.print_exc()
        return False
    return True


@pytest.mark.parametrize("check", CONTRACT, ids=lambda f: f.__name__)
def test_mpi_keeps_the_contract(check) -> None:
    assert all_ranks(holds(lambda: check(MPIComm())))


def test_a_whole_run_over_mpi() -> None:
    folder = shared_folder()
    assert all_ranks(holds(lambda: whole_run(MPIComm(), folder)))
