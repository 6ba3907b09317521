"""The coordinator's bookkeeping without MPI: check-in order and batches of short steps."""

from __future__ import annotations

from pathlib import Path

from ezpipe import Pipeline
from ezpipe.engine.channels import STOP
from ezpipe.engine.coordinator import BATCH_SECONDS, Coordinator
from ezpipe.events import Observer
from ezpipe.plan import Plan, plan_modes
from ezpipe.records import Mode, Status, StepOutcome


def fork_join(
    folder: Path, policy: str, n: int = 8, reused: frozenset[int] = frozenset()
) -> Coordinator:
    pipeline = Pipeline(folder, echo=False)

    @pipeline.step(name="s{i}")
    def nap(i, up=None):
        return i

    fork = nap(0)
    nap(99, [nap(i, fork) for i in range(1, n + 1)])
    frozen = pipeline.freeze()
    modes, forced = plan_modes(pipeline.steps, frozen, Mode.CACHED)
    plan = Plan(pipeline.steps, frozen, modes, forced, policy=policy)
    return Coordinator(plan, [0, 1, 2, 3], Observer(), reused=reused)


def passed(seconds: float) -> StepOutcome:
    return StepOutcome(status=Status.PASSED, duration=seconds)


def test_static_waits_for_late_workers_instead_of_calling_a_stall(folder):
    """Under static, the first worker to check in may own nothing in phase 0 (the
    fork is dealt to worker 0): that is waiting for worker 0, not a stall."""
    coordinator = fork_join(folder, "static")
    coordinator.report(2, [])
    assert coordinator.assignments() == []
    coordinator.report(0, [])
    assert coordinator.assignments() == [(0, (0,))]
    for rank in (1, 3):
        coordinator.report(rank, [])
        assert coordinator.assignments() == []
    coordinator.report(0, [passed(BATCH_SECONDS)])  # long enough: no batches
    handed = dict(coordinator.assignments())
    assert sorted(handed) == [0, 1, 2, 3]
    assert handed[0] == (1,) and handed[1] == (2,)  # round-robin lanes of phase 1
    assert STOP not in handed.values()


def test_steps_of_a_function_seen_short_go_in_batches_within_a_fair_share(folder):
    coordinator = fork_join(folder, "dag", n=40)
    coordinator.report(0, [])
    assert coordinator.assignments() == [(0, (0,))]  # nothing known yet: one step
    coordinator.report(0, [passed(0.0001)])
    for rank in (1, 2, 3):
        coordinator.report(rank, [])
    first = dict(coordinator.assignments())
    assert [len(b) for b in first.values()] == [1, 1, 1, 1]  # one run is not enough to judge
    for rank in first:
        coordinator.report(rank, [passed(0.0001)])
    handed = dict(coordinator.assignments())
    assert len(handed[0]) == 1 + 9  # the first step and its share: ceil(35 ready / 4)
    assert len(handed[1]) == 1 + 7  # of the 25 left after that: ceil(25 / 4)
    everything = [i for batch in [*first.values(), *handed.values()] for i in batch]
    assert len(everything) == len(set(everything))


def test_a_function_that_once_ran_long_is_never_batched(folder):
    coordinator = fork_join(folder, "dag", n=40)
    coordinator.report(0, [])
    coordinator.assignments()
    coordinator.report(0, [passed(0.0)])
    for rank in (1, 2, 3):
        coordinator.report(rank, [])
    first = dict(coordinator.assignments())
    for rank in first:
        coordinator.report(rank, [passed(0.5 if rank == 2 else 0.0)])
    assert all(len(batch) == 1 for _, batch in coordinator.assignments())


def test_a_chain_stays_on_the_rank_that_holds_its_input(folder):
    pipeline = Pipeline(folder, echo=False)

    @pipeline.step(name="c{i}")
    def link(i, up=None):
        return i

    step = None
    for i in range(5):
        step = link(i, step)
    frozen = pipeline.freeze()
    plan = Plan(pipeline.steps, frozen, *plan_modes(pipeline.steps, frozen, Mode.CACHED))
    coordinator = Coordinator(plan, [0, 1, 2, 3], Observer())
    for rank in (0, 1, 2, 3):
        coordinator.report(rank, [])
    ranks = []
    while (handed := [a for a in coordinator.assignments() if a[1] != STOP]) != []:
        (rank, batch), *others = handed
        assert others == [] and len(batch) == 1
        ranks.append(rank)
        coordinator.report(rank, [passed(BATCH_SECONDS)])
    assert len(ranks) == 5 and len(set(ranks)) == 1


def test_steps_expected_to_be_reused_go_in_batches_at_once_and_only_they(folder):
    """A re-run: what the index says will be reused is batched from the first
    assignment (nothing has run to judge by), a step to compute is not."""
    reused = frozenset(range(1, 31))  # the fork (0) and 31..40 are to be computed
    coordinator = fork_join(folder, "dag", n=40, reused=reused)
    coordinator.report(0, [])
    assert coordinator.assignments() == [(0, (0,))]  # not expected to be reused: alone
    coordinator.report(0, [StepOutcome(status=Status.PASSED, duration=5.0)])
    for rank in (1, 2, 3):
        coordinator.report(rank, [])
    handed = coordinator.assignments()  # the last to check in first, shares shrinking
    assert [len(batch) for _, batch in handed] == [1 + 10, 1 + 7, 1 + 5, 1 + 4]
    everything = [i for _, batch in handed for i in batch]
    assert sorted(everything) == list(range(1, 31))  # the reused ones, none twice
    coordinator.report(3, [StepOutcome(status=Status.PASSED, cached=True)] * 11)
    assert [len(batch) for _, batch in coordinator.assignments()] == [1]  # 31: computed


def test_a_hinted_step_that_ran_after_all_ends_the_hint_for_its_function(folder):
    """The index said reused, the worker recomputed it (its record did not verify):
    its function's steps are no longer counted short on the hint's word."""
    coordinator = fork_join(folder, "dag", n=40, reused=frozenset(range(1, 41)))
    coordinator.report(0, [])
    coordinator.assignments()
    coordinator.report(0, [StepOutcome(status=Status.PASSED, duration=5.0)])
    coordinator.report(1, [])
    (rank, batch), *_ = coordinator.assignments()
    assert len(batch) > 1  # the hint at work
    recomputed = [StepOutcome(status=Status.PASSED, duration=5.0)] * len(batch)
    coordinator.report(rank, recomputed)
    assert [len(b) for _, b in coordinator.assignments()] == [1]
