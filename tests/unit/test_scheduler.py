"""The scheduler alone, driven by a small discrete-event simulator with a fake clock.

The simulator plays the coordinator: idle workers ask ``next_for`` (in worker
order), a step "runs" for its given duration, and its outcome is reported with
``finish`` at its end time. Everything asserted is about order and placement,
never about wall-clock time.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ezpipe.engine.scheduler import POLICIES, Scheduler
from ezpipe.records import Status


def generations(deps: Sequence[Sequence[int]]) -> list[list[int]]:
    """Topological generations (what graph.freeze calls phases) of a DAG on 0..n-1."""
    level: list[int] = []
    for ds in deps:  # steps only depend on lower indices here
        level.append(1 + max((level[d] for d in ds), default=-1))
    phases: list[list[int]] = [[] for _ in range(max(level, default=-1) + 1)]
    for index, lv in enumerate(level):
        phases[lv].append(index)
    return phases


@dataclass
class Trace:
    start: dict[int, float] = field(default_factory=dict)
    end: dict[int, float] = field(default_factory=dict)
    worker: dict[int, int] = field(default_factory=dict)
    skipped_at: dict[int, float] = field(default_factory=dict)
    runs: list[int] = field(default_factory=list)  # every dispatch, duplicates kept
    peak: int = 0


def simulate(
    deps: Sequence[Sequence[int]],
    durations: Sequence[float],
    n_workers: int,
    policy: str,
    *,
    fail: frozenset[int] = frozenset(),
    max_concurrent: int | None = None,
    todo: Sequence[int] | None = None,
) -> tuple[Scheduler, Trace]:
    sched = Scheduler(deps, generations(deps), n_workers, policy, max_concurrent, todo)
    trace = Trace()
    idle = list(range(n_workers))
    events: list[tuple[float, int, int]] = []  # (end time, worker, step)
    now = 0.0
    while not sched.finished:
        still_idle = []
        for w in idle:
            index = sched.next_for(w)
            if index is None:
                still_idle.append(w)
                continue
            trace.runs.append(index)
            trace.start[index], trace.worker[index] = now, w
            heapq.heappush(events, (now + durations[index], w, index))
        idle = still_idle
        trace.peak = max(trace.peak, len(sched.running))
        assert events, "scheduler stalled: nothing running, nothing handed out"
        now, w, index = heapq.heappop(events)
        trace.end[index] = now
        for child in sched.finish(index, Status.FAILED if index in fail else Status.PASSED):
            trace.skipped_at[child] = now
        idle.append(w)
        idle.sort()
    return sched, trace


def descendants(deps: Sequence[Sequence[int]], roots: set[int], within: set[int]) -> set[int]:
    """Steps of ``within`` reachable from ``roots`` through steps of ``within``."""
    children: list[list[int]] = [[] for _ in deps]
    for index, ds in enumerate(deps):
        for d in ds:
            children[d].append(index)
    out: set[int] = set()
    stack = [c for r in roots for c in children[r]]
    while stack:
        index = stack.pop()
        if index in within and index not in out:
            out.add(index)
            stack.extend(children[index])
    return out


def check_invariants(
    deps: Sequence[Sequence[int]],
    sched: Scheduler,
    trace: Trace,
    fail: frozenset[int],
    todo: Sequence[int] | None = None,
) -> None:
    selected = set(range(len(deps))) if todo is None else set(todo)
    assert len(trace.runs) == len(set(trace.runs)), "a step ran twice"
    assert set(trace.runs) <= selected, "a step outside the selection ran"
    failed = {i for i in trace.runs if i in fail}
    expected_skips = descendants(deps, failed, selected) - set(trace.runs)
    assert set(trace.skipped_at) == expected_skips
    assert set(trace.runs) | set(trace.skipped_at) == selected, "a selected step never settled"
    for index in trace.runs:
        for d in deps[index]:
            if d in selected:
                assert sched.status[d] == Status.PASSED
                assert trace.start[index] >= trace.end[d], f"{index} started before {d} ended"
    for index in trace.skipped_at:
        assert sched.status[index] == Status.SKIPPED
        cause = sched.skip_cause[index]
        assert cause in failed
        assert trace.skipped_at[index] == trace.end[cause], "skip waited for unrelated work"
    for index in trace.runs:
        expected = Status.FAILED if index in fail else Status.PASSED
        assert sched.status[index] == expected


FORK_JOIN = [[], *[[0]] * 8, list(range(1, 9))]  # 0 -> 1..8 -> 9


@pytest.mark.parametrize("policy", POLICIES)
def test_fork_join_runs_every_step_once_in_order(policy):
    durations = [0.0, 5.0, *[1.0] * 7, 0.0]
    sched, trace = simulate(FORK_JOIN, durations, 3, policy)
    check_invariants(FORK_JOIN, sched, trace, frozenset())
    assert sched.finished


def test_static_deals_round_robin_lanes_per_phase():
    deps = [[], [], [], [], [], [0], [1], [2], [3], [4]]  # phases [0..4], [5..9]
    durations = [1.0, 9.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    _, trace = simulate(deps, durations, 2, "static")
    phases = generations(deps)
    for phase in phases:
        for j, index in enumerate(phase):
            assert trace.worker[index] == j % 2, "static must keep ezpyp's round-robin lanes"


@pytest.mark.parametrize("policy", ["static", "phase"])
def test_phase_policies_keep_barriers(policy):
    deps = [[], [], [], [], [0], [1], [2], [3]]
    durations = [10.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    _, trace = simulate(deps, durations, 4, policy)
    for phase, later in pairwise(generations(deps)):
        barrier = max(trace.end[i] for i in phase)
        assert all(trace.start[i] >= barrier for i in later)


def test_dag_has_no_barriers_and_starts_the_critical_path_first():
    # 0 (long) -> 4; 1 -> 5 -> 6 (a longer chain below 1); 2, 3 leaves of phase 0
    deps = [[], [], [], [], [0], [1], [5]]
    durations = [10.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    _, trace = simulate(deps, durations, 1, "dag")
    assert trace.runs[0] == 1, "the step with the deepest chain below it goes first"
    _, trace = simulate(deps, durations, 2, "dag")
    assert trace.start[5] < trace.end[0], "dag must not wait for the whole phase"


def test_phase_balances_where_static_cannot():
    durations = [0.0, *[0.5 if i % 4 == 0 and i < 16 else 0.05 for i in range(40)], 0.0]
    deps = [[], *[[0]] * 40, list(range(1, 41))]
    makespans = {}
    for policy in POLICIES:
        sched, trace = simulate(deps, durations, 4, policy)
        check_invariants(deps, sched, trace, frozenset())
        makespans[policy] = max(trace.end.values())
    assert makespans["phase"] == pytest.approx(0.95)
    assert makespans["dag"] == pytest.approx(0.95)
    assert makespans["static"] == pytest.approx(2.3)


def test_failure_skips_only_its_dependents_at_once():
    # 0 fails quickly; 1 is long and unrelated; 2 <- 0, 3 <- 2, 4 <- 1
    deps = [[], [], [0], [2], [1]]
    durations = [1.0, 50.0, 1.0, 1.0, 1.0]
    for policy in POLICIES:
        sched, trace = simulate(deps, durations, 2, policy, fail=frozenset({0}))
        check_invariants(deps, sched, trace, frozenset({0}))
        assert trace.skipped_at == {2: 1.0, 3: 1.0}, policy
        assert sched.skip_cause == {2: 0, 3: 0}
        assert sched.status[4] == Status.PASSED


@pytest.mark.parametrize("policy", POLICIES)
def test_max_concurrent_holds(policy):
    deps = [[] for _ in range(12)]
    sched, trace = simulate(deps, [1.0] * 12, 6, policy, max_concurrent=2)
    check_invariants(deps, sched, trace, frozenset())
    assert trace.peak == 2


@pytest.mark.parametrize("policy", POLICIES)
def test_todo_subset_runs_only_what_is_selected(policy):
    deps = [[], [0], [1], [], [3]]
    sched, trace = simulate(deps, [1.0] * 5, 2, policy, todo=[1, 2, 4])
    check_invariants(deps, sched, trace, frozenset(), todo=[1, 2, 4])
    assert sorted(trace.runs) == [1, 2, 4]
    assert sched.status[0] == Status.NOT_RUN


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="policy"):
        Scheduler([[]], [[0]], 1, "fifo")
    with pytest.raises(ValueError, match="worker"):
        Scheduler([[]], [[0]], 0)
    with pytest.raises(ValueError, match="max_concurrent"):
        Scheduler([[]], [[0]], 1, max_concurrent=0)


@st.composite
def random_dags(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 25))
    deps = [sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else [] for i in range(n)]
    steps = st.integers(0, n - 1)
    return {
        "deps": deps,
        "durations": draw(st.lists(st.integers(1, 20).map(float), min_size=n, max_size=n)),
        "n_workers": draw(st.integers(1, 5)),
        "policy": draw(st.sampled_from(POLICIES)),
        "fail": frozenset(draw(st.sets(steps, max_size=3))),
        "max_concurrent": draw(st.none() | st.integers(1, 4)),
        "todo": draw(st.none() | st.sets(steps).map(sorted)),
    }


@settings(max_examples=300, deadline=None)
@given(random_dags())
def test_random_dags_run_once_in_order_and_skip_only_dependents(case):
    sched, trace = simulate(
        case["deps"],
        case["durations"],
        case["n_workers"],
        case["policy"],
        fail=case["fail"],
        max_concurrent=case["max_concurrent"],
        todo=case["todo"],
    )
    check_invariants(case["deps"], sched, trace, case["fail"], case["todo"])
    if case["max_concurrent"] is not None:
        assert trace.peak <= case["max_concurrent"]
    if case["policy"] != "dag":
        phases = [[i for i in phase if i in trace.start] for phase in generations(case["deps"])]
        for earlier, later in pairwise(phases):
            barrier = max((trace.end[i] for i in earlier), default=0.0)
            assert all(trace.start[i] >= barrier for i in later)


@settings(max_examples=100, deadline=None)
@given(random_dags())
def test_dag_with_a_worker_per_step_finishes_at_the_critical_path(case):
    """With unlimited workers, dag finishes at the critical path: barriers cannot beat it."""
    deps, durations = case["deps"], case["durations"]
    finish: list[float] = []
    for index, ds in enumerate(deps):
        finish.append(durations[index] + max((finish[d] for d in ds), default=0.0))
    _, trace = simulate(deps, durations, len(deps), "dag")
    assert max(trace.end.values()) == pytest.approx(max(finish))
