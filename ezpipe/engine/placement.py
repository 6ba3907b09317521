"""Where and when placed steps run: gang scheduling with backfill, as pure policy.

No MPI, no clock of its own, no disk: :meth:`Placer.plan` is given the time,
the ready steps (best first), the idle ranks and what runs, and answers which
steps start now on which ranks, so tests drive it with a simulated clock.

The rules, EASY backfilling adapted to ranks and node resources:

* A step starts on the idle ranks that fit its needs (``threads``, ``gpus`` and
  ``memory`` per rank within what its node has left), on as few nodes as
  possible (the fullest node that fits it alone, else the nodes with the most
  idle ranks first).
* The best ready step that cannot start holds a **reservation**: the idle ranks
  it will use, and a shadow time, when enough running steps are expected to
  end. Only one reservation exists at a time, so reservations never deadlock.
* A later step may use reserved ranks only when it is expected to end before
  the shadow time (a step of unknown duration never is), so backfilling never
  delays the reserved step, and a ready k-rank step never waits longer than
  the longest step running when it became the head; ranks the reservation does
  not need are free for anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import DefinitionError
from ..options import StepOptions
from ..plan import Plan


@dataclass
class Node:
    """What one node has: its ranks, core ids, GPU ids and memory (bytes, None: unknown)."""

    ranks: list[int]
    cores: list[int]
    gpus: list[int] = field(default_factory=list)
    memory: int | None = None


@dataclass(frozen=True)
class Placement:
    """A step started on ``members`` (its rank 0 first), with cores and GPUs per member."""

    index: int
    members: tuple[int, ...]
    cores: tuple[tuple[int, ...], ...]
    gpus: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Ready:
    """A ready step as the placer sees it."""

    index: int
    needs: StepOptions
    expected: float | None  # seconds, None: unknown


class Placer:
    """Node resources in use, and the placement decisions over them."""

    def __init__(self, nodes: Sequence[Node]) -> None:
        self.nodes = list(nodes)
        self.node_of = {r: n for n, node in enumerate(self.nodes) for r in node.ranks}
        self.capacity = [max(len(n.cores), len(n.ranks)) for n in self.nodes]
        self.used_cores = [0] * len(self.nodes)
        self.held_cores: list[set[int]] = [set() for _ in self.nodes]
        self.free_gpus: list[list[int]] = [list(n.gpus) for n in self.nodes]
        self.used_memory = [0] * len(self.nodes)
        self.running: dict[int, tuple[Placement, StepOptions, float | None]] = {}

    # -- feasibility ----------------------------------------------------------------------------
    def impossible(self, needs: StepOptions) -> str | None:
        """Why no placement could ever run the step on an empty world, or None."""
        if needs.ranks > len(self.node_of):
            return f"it needs {needs.ranks} ranks and the job has {len(self.node_of)} worker ranks"
        per_node = [self._fits_alone(n, needs) for n in range(len(self.nodes))]
        if sum(per_node) < needs.ranks:
            parts = []
            if needs.threads > 1:
                parts.append(f"{needs.threads} cores")
            if needs.gpus:
                parts.append(f"{needs.gpus} GPUs")
            if needs.memory:
                parts.append(f"{needs.memory} bytes of memory")
            best = max((n.gpus and len(n.gpus)) or 0 for n in self.nodes)
            return (
                f"each of its {needs.ranks} ranks needs {' and '.join(parts) or 'a rank'}, and "
                f"the nodes can hold only {sum(per_node)} such ranks "
                f"(cores per node: {self.capacity}, GPUs per node up to {best}, "
                f"memory per node: {[n.memory for n in self.nodes]})"
            )
        return None

    def _fits_alone(self, n: int, needs: StepOptions) -> int:
        """How many ranks of the step node ``n`` could hold when nothing else runs."""
        node = self.nodes[n]
        count = min(len(node.ranks), self.capacity[n] // needs.threads)
        if needs.gpus:
            count = min(count, len(node.gpus) // needs.gpus)
        if needs.memory and node.memory is not None:
            count = min(count, node.memory // needs.memory)
        return count

    def _room(self, n: int, needs: StepOptions, idle: int) -> int:
        """How many of ``idle`` ranks on node ``n`` the step could use now."""
        count = min(idle, (self.capacity[n] - self.used_cores[n]) // needs.threads)
        if needs.gpus:
            count = min(count, len(self.free_gpus[n]) // needs.gpus)
        node = self.nodes[n]
        if needs.memory and node.memory is not None:
            count = min(count, (node.memory - self.used_memory[n]) // needs.memory)
        return max(count, 0)

    def choose(self, needs: StepOptions, idle: Sequence[int]) -> list[int] | None:
        """``needs.ranks`` of the ``idle`` ranks on as few nodes as possible, or None."""
        by_node: dict[int, list[int]] = {}
        for rank in idle:
            by_node.setdefault(self.node_of[rank], []).append(rank)
        room = {n: self._room(n, needs, len(rs)) for n, rs in by_node.items()}
        k = needs.ranks
        alone = [n for n, r in room.items() if r >= k]
        if alone:  # best fit: the node with the least room that holds it all
            n = min(alone, key=lambda n: (room[n], n))
            return by_node[n][:k]
        if sum(room.values()) < k:
            return None
        chosen: list[int] = []
        for n in sorted(room, key=lambda n: (-room[n], n)):
            chosen.extend(by_node[n][: min(room[n], k - len(chosen))])
            if len(chosen) == k:
                break
        return chosen

    # -- state ----------------------------------------------------------------------------------
    def start(
        self, index: int, needs: StepOptions, members: Sequence[int], end: float | None
    ) -> Placement:
        cores: list[tuple[int, ...]] = []
        gpus: list[tuple[int, ...]] = []
        for rank in members:
            n = self.node_of[rank]
            self.used_cores[n] += needs.threads
            self.used_memory[n] += needs.memory or 0
            mine: tuple[int, ...] = ()
            if needs.threads > 1:
                free = [c for c in self.nodes[n].cores if c not in self.held_cores[n]]
                mine = tuple(free[: needs.threads])
                self.held_cores[n].update(mine)
            cores.append(mine)
            gpus.append(tuple(self.free_gpus[n][: needs.gpus]))
            del self.free_gpus[n][: needs.gpus]
        placement = Placement(index, tuple(members), tuple(cores), tuple(gpus))
        self.running[index] = (placement, needs, end)
        return placement

    def finish(self, index: int) -> None:
        placement, needs, _ = self.running.pop(index)
        for rank, cores, gpus in zip(
            placement.members, placement.cores, placement.gpus, strict=True
        ):
            n = self.node_of[rank]
            self.used_cores[n] -= needs.threads
            self.used_memory[n] -= needs.memory or 0
            self.held_cores[n].difference_update(cores)
            self.free_gpus[n].extend(gpus)
            self.free_gpus[n].sort()

    # -- the decision ---------------------------------------------------------------------------
    def _shadow(self, now: float, k: int, idle: int) -> float | None:
        """When ``k`` ranks are expected free (None: a step it waits for has no estimate)."""
        free = idle
        for placement, _, end in sorted(
            self.running.values(), key=lambda t: float("inf") if t[2] is None else t[2]
        ):
            if free >= k:
                break
            if end is None:
                return None
            free += len(placement.members)
            shadow = max(end, now)
            if free >= k:
                return shadow
        return now if free >= k else None

    def plan(
        self, now: float, ready: Sequence[Ready], idle: Sequence[int], limit: int | None = None
    ) -> list[Placement]:
        """The steps of ``ready`` (best first) to start now on ``idle`` ranks."""
        free = list(idle)
        out: list[Placement] = []
        reserved: set[int] = set()
        shadow: float | None = None
        held = False
        for item in ready:
            if not free or (limit is not None and len(self.running) >= limit):
                break
            needs = item.needs
            usable = free
            if held:
                ends_in_time = (
                    shadow is not None
                    and item.expected is not None
                    and now + item.expected <= shadow
                )
                usable = free if ends_in_time else [r for r in free if r not in reserved]
            members = self.choose(needs, usable)
            if members is None:
                if not held:  # the best blocked step: hold ranks for it
                    held = True
                    shadow = self._shadow(now, needs.ranks, len(free))
                    reserved = set(self._reserve(needs, free))
                continue
            end = None if item.expected is None else now + item.expected
            out.append(self.start(item.index, needs, members, end))
            free = [r for r in free if r not in members]
        return out

    def _reserve(self, needs: StepOptions, free: Sequence[int]) -> list[int]:
        """The idle ranks a blocked step will use: those on the nodes with most idle ranks."""
        by_node: dict[int, list[int]] = {}
        for rank in free:
            by_node.setdefault(self.node_of[rank], []).append(rank)
        out: list[int] = []
        for n in sorted(by_node, key=lambda n: (-len(by_node[n]), n)):
            out.extend(by_node[n])
        return out[: needs.ranks]


def refuse_oversized(plan: Plan, workers: int) -> None:
    """Refuse, before anything runs, a step that needs more ranks than the job has."""
    for index in plan.selected:
        step = plan.steps[index]
        k = step.definition.resources.ranks
        if k > workers:
            raise DefinitionError(
                f"step {step.name!r} needs ranks={k} but this job has {workers} worker "
                f"rank(s): launch at least {k} ranks (mpiexec -n {k}) or lower ranks="
            )


def refuse_unplaceable(plan: Plan, nodes: Sequence[Node]) -> None:
    """Refuse a step whose threads, GPUs or memory no node of the job can give."""
    placer = Placer(nodes)
    for index in plan.selected:
        step = plan.steps[index]
        why = placer.impossible(step.definition.resources)
        if why is not None:
            raise DefinitionError(f"step {step.name!r} can never run in this job: {why}")
