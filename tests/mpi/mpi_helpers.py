"""What every MPI test needs: one folder for all ranks, and a verdict all ranks share."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mpi4py import MPI

comm = MPI.COMM_WORLD


def shared_folder() -> Path:
    """A fresh folder made by rank 0, the same path on every rank."""
    name = tempfile.mkdtemp(prefix="ezpipe-mpi-") if comm.rank == 0 else None
    return Path(comm.bcast(name)) / "pipe"


def all_ranks(ok: bool) -> bool:
    """True on every rank only if ``ok`` holds on every rank (so all fail together)."""
    return comm.allreduce(bool(ok), op=MPI.LAND)
