"""Under mpiexec -n 4: records per rank, max_concurrent, and capture beside the coordinator.

Run with: mpiexec -n 4 python -m pytest --with-mpi -m mpi tests/mpi
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from mpi_helpers import all_ranks, shared_folder

from ezpipe import Pipeline
from ezpipe.records import StepRecord
from ezpipe.store import Store


def _records(folder: Path) -> dict[str, StepRecord]:
    store = Store(folder)
    return {r.name: r for r in store.read_records(store.entries()) if r is not None}


@pytest.mark.mpi(min_size=2)
def test_max_concurrent_one_never_overlaps() -> None:
    folder = shared_folder()
    pipeline = Pipeline(folder, "capped", echo=False, progress=False)

    @pipeline.step(name="nap_{i}")
    def nap(i):
        time.sleep(0.05)
        return i

    for i in range(8):
        nap(i)
    pipeline.execute(max_concurrent=1)
    records = sorted(_records(folder).values(), key=lambda r: r.start or 0.0)
    ok = len(records) == 8 and all(
        a.end is not None and b.start is not None and a.end <= b.start
        for a, b in itertools.pairwise(records)
    )
    assert all_ranks(ok)


@pytest.mark.mpi(min_size=3)
def test_logs_hold_only_their_step_output() -> None:
    folder = shared_folder()
    pipeline = Pipeline(folder, "captured", echo=True, progress=False)

    @pipeline.step(name="chatty_{i}")
    def chatty(i):
        for j in range(20):
            print(f"chatty {i} line {j}")
            time.sleep(0.01)
        return i

    @pipeline.step(name="broken_{i}")
    def broken(i):
        raise RuntimeError(f"broken {i}")

    @pipeline.step(name="after_{i}")
    def after(x, i):
        return x

    for i in range(4):
        chatty(i)
        after(broken(i), i)
    pipeline.execute()
    records = _records(folder)
    logs = {n: Path(r.log_path).read_text() for n, r in records.items() if r.log_path}
    ok = sorted(logs) == [f"chatty_{i}" for i in range(4)]
    for name, text in logs.items():
        i = name.split("_")[1]
        expected = "".join(f"chatty {i} line {j}\n" for j in range(20))
        ok = ok and text == expected  # no SKIP/PASS lines from the coordinator or reporter
    ranks = {r.rank for r in records.values() if r.rank is not None}
    ok = ok and len(ranks) >= 2 and all(r.host and r.pid for r in records.values() if r.rank)
    assert all_ranks(ok)
