"""graph.generations (plain Kahn, used by freeze) against networkx on random DAGs."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from ezpipe.graph import generations


@st.composite
def dags(draw: st.DrawFn) -> list[list[int]]:
    n = draw(st.integers(0, 30))
    order = draw(st.permutations(range(n)))  # edges follow a hidden order, indices do not
    position = {node: p for p, node in enumerate(order)}
    deps = []
    for i in range(n):
        earlier = [m for m in range(n) if position[m] < position[i]]
        deps.append(sorted(draw(st.sets(st.sampled_from(earlier), max_size=4))) if earlier else [])
    return deps


@settings(max_examples=200, deadline=None)
@given(dags())
def test_generations_match_networkx(deps):
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(deps)))
    graph.add_edges_from((d, i) for i, ds in enumerate(deps) for d in ds)
    assert generations(deps) == [sorted(g) for g in nx.topological_generations(graph)]


def test_a_cycle_gives_none():
    assert generations([[2], [0], [1], []]) is None
    assert generations([[0]]) is None
