"""Gang placement and backfill as pure policy, driven by a simulated clock.

The simulator plays the coordinator: ready steps (best first) go to
:meth:`Placer.plan` whenever ranks are idle, a step "runs" for its duration and
frees its ranks at its end time. Assertions are about which ranks, which nodes
and what started before what, never about wall-clock time.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

import pytest

from ezpipe.engine.placement import Node, Placer, Ready
from ezpipe.options import StepOptions

ONE = StepOptions()


def needs(ranks: int = 1, **more: object) -> StepOptions:
    return StepOptions.make(ranks=ranks, **more)  # type: ignore[arg-type]


def nodes(*sizes: int, gpus: int = 0, memory: int | None = None, cores: int = 0) -> list[Node]:
    out, rank = [], 0
    for size in sizes:
        ranks = list(range(rank, rank + size))
        out.append(Node(ranks, list(range(cores or size)), list(range(gpus)), memory))
        rank += size
    return out


@dataclass
class Run:
    start: dict[int, float] = field(default_factory=dict)
    end: dict[int, float] = field(default_factory=dict)
    members: dict[int, tuple[int, ...]] = field(default_factory=dict)


def simulate(
    placer: Placer,
    steps: list[tuple[StepOptions, float]],
    *,
    known: bool = True,
    ranks: int | None = None,
) -> Run:
    """Run every step (all ready at t=0, in list order = priority) to the end."""
    world = ranks if ranks is not None else len(placer.node_of)
    idle = list(range(world))
    pending = list(range(len(steps)))
    events: list[tuple[float, int]] = []
    run, now = Run(), 0.0
    while pending or events:
        ready = [Ready(i, steps[i][0], steps[i][1] if known else None) for i in pending]
        for p in placer.plan(now, ready, idle):
            run.start[p.index], run.members[p.index] = now, p.members
            heapq.heappush(events, (now + steps[p.index][1], p.index))
            idle = [r for r in idle if r not in p.members]
            pending.remove(p.index)
        assert events, f"stalled at t={now} with {pending} pending and {idle} idle"
        now, index = heapq.heappop(events)
        placer.finish(index)
        run.end[index] = now
        idle.extend(run.members[index])
    return run


def test_a_gang_goes_to_the_fewest_nodes():
    placer = Placer(nodes(2, 2))
    assert sorted(placer.choose(needs(2), [0, 2, 3])) == [2, 3]  # node 1 holds it alone
    assert len({placer.node_of[r] for r in placer.choose(needs(3), [0, 1, 2, 3])}) == 2


def test_gpus_are_never_shared_and_stay_on_their_node():
    placer = Placer(nodes(2, 2, gpus=2))
    steps = [(needs(1, gpus=1), 1.0) for _ in range(6)] + [(needs(2, gpus=2), 1.0)]
    run = simulate(placer, steps)
    spans = [(run.start[i], run.end[i], i) for i in run.start]
    for a_start, a_end, a in spans:  # overlapping steps on one node hold distinct devices
        for b_start, b_end, b in spans:
            if a < b and a_start < b_end and b_start < a_end:
                na = {placer.node_of[r] for r in run.members[a]}
                nb = {placer.node_of[r] for r in run.members[b]}
                if na & nb:
                    assert steps[a][0].gpus + steps[b][0].gpus <= 2 or na != nb


def test_gpu_ids_assigned_are_distinct_per_node():
    placer = Placer(nodes(2, gpus=2))
    first = placer.start(0, needs(1, gpus=1), [0], None)
    second = placer.start(1, needs(1, gpus=1), [1], None)
    assert {first.gpus[0], second.gpus[0]} == {(0,), (1,)}
    assert placer.choose(needs(1, gpus=1), [0, 1]) is None  # none left
    placer.finish(0)
    assert placer.choose(needs(1, gpus=1), [0]) == [0]


def test_memory_of_running_steps_stays_within_the_node():
    gib = 2**30
    placer = Placer(nodes(2, 2, memory=10 * gib))
    run = simulate(placer, [(needs(1, memory="6G"), 1.0) for _ in range(4)])
    for t in sorted(run.start.values()):
        for n in range(2):
            running = [
                i
                for i in run.start
                if run.start[i] <= t < run.end[i] and placer.node_of[run.members[i][0]] == n
            ]
            assert len(running) <= 1  # 2 x 6G > 10G
    assert max(run.end.values()) == 2.0  # two per node at a time would be 1.0: each node ran 2


def test_threads_reserve_cores_and_get_core_ids():
    placer = Placer(nodes(4, cores=4))
    p = placer.start(0, needs(1, threads=3), [0], None)
    assert len(p.cores[0]) == 3
    assert placer.choose(needs(1, threads=2), [1, 2, 3]) is None  # 1 core left
    assert placer.choose(ONE, [1]) == [1]


def test_backfill_uses_reserved_ranks_only_when_it_ends_before_the_shadow():
    placer = Placer(nodes(4))
    placer.start(99, ONE, [0], 10.0)  # rank 0 busy until t=10
    ready = [Ready(0, needs(4), 5.0), Ready(1, ONE, 3.0), Ready(2, ONE, 20.0), Ready(3, ONE, None)]
    started = {p.index: p.members for p in placer.plan(0.0, ready, [1, 2, 3])}
    assert 0 not in started  # the 4-rank step waits for rank 0
    assert 1 in started  # ends at 3 <= 10: fills a rank that would idle
    assert 2 not in started and 3 not in started  # would delay the 4-rank step


def test_the_gang_waits_no_longer_than_the_longest_running_step():
    """Random mixes, all ready at t=0: the best gang starts by the end of the longest
    step running at t=0, however many 1-rank steps are backfilled meanwhile."""
    rng = random.Random(7)
    for _ in range(30):
        steps = [(ONE, rng.uniform(0.5, 5.0)) for _ in range(rng.randint(1, 8))]
        steps.append((needs(rng.choice([2, 4, 8])), 1.0))
        steps += [(ONE, rng.uniform(0.5, 5.0)) for _ in range(30)]
        gang = next(i for i, (o, _) in enumerate(steps) if o.ranks > 1)
        for known in (True, False):
            run = simulate(Placer(nodes(4, 4)), steps, known=known)
            at_start = [j for j in run.start if run.start[j] == 0.0 and j != gang]
            assert run.start[gang] <= max((run.end[j] for j in at_start), default=0.0)


def test_unknown_durations_never_backfill_and_never_deadlock():
    placer = Placer(nodes(2, 2))
    steps = [(ONE, 2.0), (needs(4), 1.0), (ONE, 1.0), (needs(2), 1.0), (ONE, 1.0)]
    run = simulate(placer, steps, known=False)
    assert run.start[1] == 2.0  # waited only for step 0
    assert all(run.start[i] >= run.end[1] for i in (3,))  # gangs wait their turn
    assert len(run.end) == len(steps)


def test_backfill_beats_plain_order_on_a_mixed_workload():
    """With durations known, 1-rank steps fill the ranks a gang would leave idle."""
    steps = [(ONE, 4.0), (needs(4), 2.0)] + [(ONE, 1.0) for _ in range(9)]
    filled = simulate(Placer(nodes(4)), steps)
    strict = simulate(Placer(nodes(4)), steps, known=False)
    assert max(filled.end.values()) < max(strict.end.values())
    assert filled.start[1] == 4.0  # and the gang was not delayed


@pytest.mark.parametrize(
    ("opts", "words"),
    [
        (needs(9), ["9 ranks", "8 worker ranks"]),
        (needs(1, gpus=3), ["3 GPUs"]),
        (needs(2, memory="20G"), ["bytes of memory"]),
    ],
)
def test_impossible_steps_are_explained(opts, words):
    placer = Placer(nodes(4, 4, gpus=2, memory=16 * 2**30))
    why = placer.impossible(opts)
    assert why is not None and all(w in why for w in words)
    assert placer.impossible(needs(8)) is None
