"""Run under ``mpiexec -n 4 python -m pytest --with-mpi -m mpi tests/mpi``.

Every rank calls the same code; verdicts are combined across ranks so all
ranks pass or fail together and none is left waiting in a collective.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from mpi_helpers import all_ranks, comm, shared_folder

from ezpipe import Pipeline, PlaceHolder, ResultNotAvailableError, Status, StoreError
from ezpipe.engine.comm import MPIComm

pytestmark = pytest.mark.mpi(min_size=2)


def test_reference_example_on_every_rank():
    pipeline = Pipeline(shared_folder(), echo=False)

    @pipeline.step
    def alpha(x):
        return x**2

    @pipeline.step
    def beta(x):
        return x**3

    a, b = alpha(3), beta(2)

    @pipeline.step(depends_on=[a, b])
    def gamma(x, y):
        return x / y

    gamma(PlaceHolder(a), PlaceHolder(b))
    pipeline.initialize_schema()
    pipeline.execute()
    assert isinstance(pipeline.comm, MPIComm)
    assert all_ranks(pipeline.get_result("gamma") == 1.125)
    assert all_ranks(pipeline["gamma"].get_status() == Status.PASSED)


def test_every_rank_computes_and_nothing_runs_twice():
    pipeline = Pipeline(shared_folder(), echo=False)

    @pipeline.step
    def nap(i):
        time.sleep(0.05)
        return (i, comm.rank)

    steps = [nap(i) for i in range(24)]
    frame = pipeline.execute()
    ranks = [pipeline.get_result(s)[1] for s in steps]
    assert all_ranks(sorted(set(ranks)) == list(range(comm.size)))
    assert all_ranks(frame["rank"].tolist() == ranks)
    assert all_ranks([pipeline.get_result(s)[0] for s in steps] == list(range(24)))


def test_failure_skips_dependents_and_later_unrelated_steps_run():
    pipeline = Pipeline(shared_folder(), echo=False)

    @pipeline.step
    def src(i):
        return i

    @pipeline.step
    def bad(x):
        raise KeyError(x)

    @pipeline.step
    def add(*xs):
        return sum(xs)

    s = [src(i) for i in range(4)]
    broken = bad(s[0])
    skipped = add(add(broken, s[1]))
    fine = add(add(s[2], s[3]), s[1])
    frame = pipeline.execute()
    statuses = dict(zip(frame["name"], frame["status"], strict=True))
    ok = statuses == {
        "src": 0,
        "src.1": 0,
        "src.2": 0,
        "src.3": 0,
        "bad": 1,
        "add": 2,
        "add.1": 2,
        "add.2": 0,
        "add.3": 0,
    }
    assert all_ranks(ok), statuses
    assert all_ranks(pipeline.get_result(fine) == 6)
    assert all_ranks(skipped.get_status() == 2)
    try:
        pipeline.get_result(broken)
        raised = False
    except ResultNotAvailableError as exc:
        raised = "KeyError" in str(exc)
    assert all_ranks(raised)


def test_rank_zero_answers_while_running_a_long_step():
    """A long step on rank 0 must not stall the short steps of the other ranks."""
    pipeline = Pipeline(shared_folder(), echo=False)

    @pipeline.step
    def nap(seconds):
        start = time.time()
        time.sleep(seconds)
        return (comm.rank, start, time.time())

    long_step = nap.named("long")(2.0)
    shorts = [nap(0.05) for _ in range(6 * (comm.size - 1))]  # 0.3 s per other rank
    pipeline.execute()
    rank, _, long_end = pipeline.get_result(long_step)
    short = [pipeline.get_result(s) for s in shorts]
    during = [s for s in short if s[2] <= long_end]
    # Every short step finishes on the other ranks while the long one runs.
    assert all_ranks(len(during) == len(shorts)), (rank, len(during))


def test_unusable_folder_raises_on_every_rank(tmp_path_factory):
    blocker = Path(comm.bcast(tempfile.mkdtemp() if comm.rank == 0 else None)) / "file"
    if comm.rank == 0:
        blocker.write_text("not a folder")
    comm.barrier()
    pipeline = Pipeline(blocker / "sub", echo=False)
    pipeline.step(lambda: 1)()
    try:
        pipeline.execute()
        message = ""
    except StoreError as exc:
        message = str(exc)
    assert all_ranks("cannot create the pipeline folder" in message), message
