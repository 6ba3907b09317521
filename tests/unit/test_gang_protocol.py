"""The gang wire protocol over the ThreadWorld: the real serve loop, fake members.

Rank 0 runs :func:`ezpipe.engine.loop.serve` with a :class:`PlacedCoordinator`
in a thread; every rank (0 included, through the local queue) plays a worker
whose "steps" only note what they were given. Asserted: every member of a gang
gets the same message, no rank is in two steps at once, every step settles, and
every rank is stopped.
"""

from __future__ import annotations

import threading
import time
from itertools import pairwise

import pytest

from ezpipe import Pipeline
from ezpipe.engine.channels import CommChannel, QueueChannel
from ezpipe.engine.fakeworld import ThreadWorld
from ezpipe.engine.gang import Task
from ezpipe.engine.gangcoord import PlacedCoordinator
from ezpipe.engine.loop import serve
from ezpipe.engine.placement import Node
from ezpipe.events import Observer
from ezpipe.plan import Plan, plan_modes
from ezpipe.records import Mode, Status, StepOutcome


def plan_of(folder) -> Plan:
    pipeline = Pipeline(folder, echo=False)
    for n, k in enumerate((2, 4, 2, 3)):

        @pipeline.step(name=f"g{n}k{k}_{{i}}", ranks=k)
        def gang(i, comm):
            return i

        for i in range(3):
            gang(i)

    @pipeline.step(name="one{i}")
    def one(i):
        return i

    for i in range(10):
        one(i)
    frozen = pipeline.freeze()
    modes, forced = plan_modes(pipeline.steps, frozen, Mode.CACHED)
    return Plan(pipeline.steps, frozen, modes, forced)


@pytest.mark.parametrize("size", [4, 8])
def test_gangs_over_the_thread_world(folder, size):
    plan = plan_of(folder)
    log: list[tuple[int, object, float, float]] = []  # (rank, item, start, end)
    lock = threading.Lock()

    def fake_run(rank: int, item: object) -> StepOutcome:
        start = time.monotonic()
        time.sleep(0.002)
        with lock:
            log.append((rank, item, start, time.monotonic()))
        return StepOutcome(status=Status.PASSED, rank=rank, duration=0.002)

    def work(rank: int, channel) -> None:
        outcomes: list[StepOutcome] = []
        while batch := channel.exchange(outcomes):
            outcomes = [fake_run(rank, item) for item in batch]

    def body(comm):
        if comm.rank != 0:
            work(comm.rank, CommChannel(comm))
            return None
        half = size // 2
        nodes = [Node(list(range(half)), [0, 1]), Node(list(range(half, size)), [0, 1])]
        coordinator = PlacedCoordinator(plan, list(range(size)), Observer(), nodes)
        local = QueueChannel()
        thread = threading.Thread(target=serve, args=(coordinator, comm, local))
        thread.start()
        work(0, local)
        thread.join()
        return coordinator

    coordinator = ThreadWorld(size, timeout=60).run(body)[0]
    assert coordinator.done
    assert all(o is not None and o.status == Status.PASSED for o in coordinator.outcomes)
    tasks: dict[int, list[tuple[int, Task]]] = {}
    for rank, item, _, _ in log:
        if isinstance(item, Task):
            tasks.setdefault(item.token, []).append((rank, item))
    assert len(tasks) == 12  # every gang step once
    for members in tasks.values():
        task = members[0][1]
        assert sorted(r for r, _ in members) == sorted(task.members)
        assert all(t == task for _, t in members)  # one message for all members
        assert len(task.members) == plan.steps[task.index].definition.resources.ranks
    for rank in range(size):
        spans = sorted((s, e) for r, _, s, e in log if r == rank)
        assert all(a[1] <= b[0] for a, b in pairwise(spans))


@pytest.mark.parametrize("policy", ["dag", "phase", "static"])
def test_every_policy_places_every_step(folder, policy):
    plan = plan_of(folder)
    plan.policy = policy
    coordinator = PlacedCoordinator(plan, [0, 1, 2, 3], Observer(), [Node([0, 1, 2, 3], [0])])
    for rank in range(4):
        coordinator.report(rank, [])
    while not coordinator.scheduler.finished:
        sent = coordinator.assignments()
        assert sent, "stalled"
        for rank, _ in sent:
            coordinator.report(rank, [StepOutcome(status=Status.PASSED)])
    assert all(o is not None for o in coordinator.outcomes)
