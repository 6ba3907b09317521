"""The placed coordinator's protocol without MPI: gang messages, member reports, priorities."""

from __future__ import annotations

from pathlib import Path

import pytest

from ezpipe import DefinitionError, Pipeline
from ezpipe.engine.coordinator import Coordinator
from ezpipe.engine.gang import Task
from ezpipe.engine.gangcoord import PlacedCoordinator
from ezpipe.engine.placement import Node, refuse_oversized
from ezpipe.events import Observer
from ezpipe.graph import RANKS_ARGUMENT
from ezpipe.options import StepOptions
from ezpipe.plan import Plan, durations, plan_modes
from ezpipe.records import Mode, Status, StepOutcome, StepRecord


def make_plan(pipeline: Pipeline) -> Plan:
    frozen = pipeline.freeze()
    modes, forced = plan_modes(pipeline.steps, frozen, Mode.CACHED)
    return Plan(pipeline.steps, frozen, modes, forced)


def passed() -> StepOutcome:
    return StepOutcome(status=Status.PASSED, duration=0.01)


def gang_pipeline(folder: Path) -> Pipeline:
    pipeline = Pipeline(folder, echo=False)

    @pipeline.step(ranks=2)
    def pair(i, comm):
        return i

    @pipeline.step
    def one(i):
        return i

    pair(0)
    one(1)
    one(2)
    return pipeline


def test_a_gang_is_sent_to_all_its_members_and_settled_by_its_rank_0(folder):
    plan = make_plan(gang_pipeline(folder))
    nodes = [Node([0, 1], [0, 1]), Node([2, 3], [0, 1])]
    coordinator = PlacedCoordinator(plan, [0, 1, 2, 3], Observer(), nodes)
    for rank in range(4):
        coordinator.report(rank, [])
    sent = coordinator.assignments()
    tasks = {rank: batch[0] for rank, batch in sent if isinstance(batch[0], Task)}
    assert len(tasks) == 2 and len(set(tasks.values())) == 1  # one message, two members
    task = next(iter(tasks.values()))
    assert set(task.members) == set(tasks) and task.index == 0
    assert {coordinator.placer.node_of[r] for r in task.members} in ({0}, {1})  # one node
    plain = sorted(batch[0] for rank, batch in sent if not isinstance(batch[0], Task))
    assert plain == [1, 2]
    member = task.members[1]
    coordinator.report(member, [StepOutcome(status=Status.PASSED)])
    assert coordinator.outcomes[0] is None  # a member's report only frees it
    assert member in coordinator.idle
    coordinator.report(task.leader, [passed()])
    assert coordinator.outcomes[0] is not None and coordinator.outcomes[0].status == Status.PASSED


def test_a_member_failure_with_a_silent_rank_0_is_called_stuck(folder, monkeypatch):
    monkeypatch.setenv("EZPIPE_GRACE", "1")
    plan = make_plan(gang_pipeline(folder))
    now = [0.0]
    coordinator = PlacedCoordinator(
        plan, [0, 1], Observer(), [Node([0, 1], [0, 1])], clock=lambda: now[0]
    )
    coordinator.report(0, [])
    coordinator.report(1, [])
    (_, (task,)), *_ = [a for a in coordinator.assignments() if isinstance(a[1][0], Task)]
    other = task.members[1]
    coordinator.report(other, [StepOutcome(status=Status.FAILED, error="ValueError: no")])
    now[0] = 1.5
    coordinator.overdue()
    assert coordinator.stuck is None  # within twice the grace period
    now[0] = 2.5
    coordinator.overdue()
    assert coordinator.stuck is not None
    index, outcome = coordinator.stuck
    assert index == 0 and outcome.stuck == (task.leader,)
    assert "rank 1 raised ValueError; rank 0 did not return within 2 s" in outcome.error
    assert coordinator.stopping


def test_ranks_is_in_the_key_and_ranks_1_keeps_old_keys(folder):
    keys = {}
    for ranks in (None, 1, 2):
        pipeline = Pipeline(folder / str(ranks), echo=False)
        options = {} if ranks is None else {"ranks": ranks}

        @pipeline.step(name="s", **options)
        def solve(x, comm=None):
            return x

        solve(1)
        pipeline.freeze()
        keys[ranks] = pipeline.steps[0].key
    plain = Pipeline(folder / "plain", echo=False)

    @plain.step(name="s")
    def solve(x, comm=None):
        return x

    solve(1)
    plain.freeze()
    assert keys[None] == plain.steps[0].key  # no ranks=: the key of before
    assert keys[2] != keys[1]
    assert RANKS_ARGUMENT.startswith("\x00")  # no parameter can collide with it


def test_resources_other_than_ranks_are_not_in_the_key(folder):
    keys = set()
    for options in ({}, {"threads": 4}, {"gpus": 1}, {"memory": "2G"}, {"timeout": 5}):
        pipeline = Pipeline(folder / str(len(keys)), echo=False)

        @pipeline.step(name="s", **options)
        def f(x):
            return x

        f(1)
        pipeline.freeze()
        keys.add(pipeline.steps[0].key)
    assert len(keys) == 1


def test_a_ranks_step_must_take_comm_and_options_are_validated(folder):
    pipeline = Pipeline(folder, echo=False)
    with pytest.raises(DefinitionError, match="parameter named 'comm'"):

        @pipeline.step(ranks=2)
        def no_comm(x):
            return x

    for bad in ({"ranks": 0}, {"threads": 1.5}, {"memory": "lots"}, {"timeout": -1}):
        with pytest.raises(DefinitionError):
            pipeline.step(**bad)
    assert StepOptions.make(memory="1.5G").memory == int(1.5 * 2**30)


def test_oversized_steps_are_refused_with_the_numbers(folder):
    plan = make_plan(gang_pipeline(folder))
    refuse_oversized(plan, 2)
    with pytest.raises(DefinitionError, match="needs ranks=2 but this job has 1 worker"):
        refuse_oversized(plan, 1)


def test_earlier_durations_put_the_long_point_of_a_sweep_first(folder):
    """The new user's sweep: 200 points, the one 3 s point defined last. With the
    first run's records in the folder, the second run starts it first."""
    pipeline = Pipeline(folder, echo=False)

    @pipeline.step(name="p{i}")
    def point(i):
        return i

    for i in range(200):
        point(i)
    plan = make_plan(pipeline)
    for step in plan.steps:  # what a first run of an older definition left
        seconds = 3.0 if step.index == 199 else 0.01
        pipeline.store.write_record(
            StepRecord(name=step.name, key="0" * 64, status=Status.PASSED, duration=seconds)
        )
    history = durations(plan, pipeline.store)
    assert history[199] == 3.0
    first = Coordinator(plan, [0, 1, 2, 3], Observer(), history).scheduler.next_for(0)
    assert first == 199
    assert Coordinator(plan, [0, 1, 2, 3], Observer()).scheduler.next_for(0) == 0


def test_an_explicit_priority_overrides_the_critical_path(folder):
    pipeline = Pipeline(folder, echo=False)

    @pipeline.step(name="a{i}")
    def a(i):
        return i

    @pipeline.step(priority=5)
    def urgent():
        return 0

    for i in range(3):
        a(i)
    urgent()
    plan = make_plan(pipeline)
    assert Coordinator(plan, [0], Observer()).scheduler.next_for(0) == 3


def test_a_step_far_past_its_deadline_is_called_stuck_naming_the_silent_ranks(folder, monkeypatch):
    monkeypatch.setenv("EZPIPE_GRACE", "1")
    pipeline = Pipeline(folder, echo=False)

    @pipeline.step(ranks=2, timeout=5)
    def pair(comm):
        return 0

    pair()
    now = [0.0]
    coordinator = PlacedCoordinator(
        make_plan(pipeline), [0, 1], Observer(), [Node([0, 1], [0, 1])], clock=lambda: now[0]
    )
    coordinator.report(0, [])
    coordinator.report(1, [])
    ((_, (task,)), _) = coordinator.assignments()
    now[0] = 6.9  # neither rank reported; deadline 5 s + twice the grace not yet passed
    coordinator.overdue()
    assert coordinator.stuck is None
    now[0] = 7.1
    coordinator.overdue()
    assert coordinator.stuck is not None
    _, outcome = coordinator.stuck
    assert outcome.stuck == task.members
    assert outcome.error == "ranks 0, 1 did not return within 7 s"
