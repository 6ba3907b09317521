"""The coordinator's bookkeeping without MPI: workers check in one at a time."""

from __future__ import annotations

from pathlib import Path

from ezpipe import Pipeline
from ezpipe.records import Mode
from ezpipe.reporter import Reporter
from ezpipe.runner import STOP, Coordinator, Plan, plan_modes
from ezpipe.store import Store


def fork_join_plan(folder: Path, policy: str) -> Plan:
    pipeline = Pipeline(folder, echo=False)

    @pipeline.step(name="s{i}")
    def nap(i, up=None):
        return i

    fork = nap(0)
    nap(99, [nap(i, fork) for i in range(1, 9)])
    frozen = pipeline.freeze()
    modes, forced = plan_modes(pipeline.steps, frozen, Mode.CACHED)
    return Plan(pipeline.steps, frozen, modes, forced, policy=policy)


def test_static_waits_for_late_workers_instead_of_calling_a_stall(folder):
    """Under static, the first worker to check in may own nothing in phase 0 (the
    fork is dealt to worker 0): that is waiting for worker 0, not a stall."""
    plan = fork_join_plan(folder, "static")
    coordinator = Coordinator(plan, [0, 1, 2, 3], Store(folder), Reporter(0, enabled=False))
    coordinator.report(2, None)
    assert coordinator.assignments() == []
    coordinator.report(0, None)
    assert coordinator.assignments() == [(0, 0)]
    for rank in (1, 3):
        coordinator.report(rank, None)
        assert coordinator.assignments() == []
    coordinator.report(0, {"status": 0})
    handed = dict(coordinator.assignments())
    assert sorted(handed) == [0, 1, 2, 3]
    assert handed[0] == 1 and handed[1] == 2  # round-robin lanes of phase 1
    assert STOP not in handed.values()
