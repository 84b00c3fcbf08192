"""dependsOn: every cycle (any length, self-loops) is found; long chains need no recursion."""

from __future__ import annotations

import itertools
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from quarterdeck.delivery.dependencies import DependencyIndex, cycles, levels
from quarterdeck.delivery.inventory import Owner


def o(name: str) -> Owner:
    return Owner("ns", name)


def test_separate_cycles_and_self_loops_are_all_reported() -> None:
    graph = {
        o("a"): [o("b")],
        o("b"): [o("a")],
        o("c"): [o("d")],
        o("d"): [o("e")],
        o("e"): [o("c")],
        o("s"): [o("s")],
        o("x"): [o("c")],  # waits on a cycle, is not on one
        o("y"): [],
    }
    found = cycles(graph)
    assert set(found) == {o(n) for n in "abcdes"}
    assert found[o("c")] == [o("c"), o("d"), o("e"), o("c")]
    assert found[o("s")] == [o("s"), o("s")]


def test_a_chain_of_1100_is_ordered_without_recursion() -> None:
    n = 1100
    graph = {o(f"n{i:04}"): [o(f"n{i + 1:04}")] for i in range(n)}
    graph[o(f"n{n:04}")] = []
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # anything recursive would fail far below 1,100
    try:
        groups = levels(graph)
        found = cycles(graph)
    finally:
        sys.setrecursionlimit(limit)
    assert found == {}
    assert groups[0] == [o(f"n{n:04}")] and groups[-1] == [o("n0000")] and len(groups) == n + 1


names = st.sampled_from([o(c) for c in "abcdefgh"])


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(names, st.lists(names, max_size=3), max_size=8))
def test_cycle_members_are_exactly_the_nodes_that_reach_themselves(
    graph: dict[Owner, list[Owner]],
) -> None:
    def reaches(start: Owner) -> set[Owner]:
        seen: set[Owner] = set()
        todo = [d for d in graph.get(start, []) if d in graph]
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo += [d for d in graph.get(node, []) if d in graph]
        return seen

    expected = {n for n in graph if n in reaches(n)}
    found = cycles(graph)
    assert set(found) == expected
    for node, path in found.items():
        assert path[0] == path[-1] == node
        assert all(b in graph[a] for a, b in itertools.pairwise(path))
    order = {n: i for i, group in enumerate(levels(graph)) for n in group}
    assert set(order) == set(graph)
    for node, deps in graph.items():
        for dep in deps:
            if dep in graph and node not in found:
                assert order[dep] < order[node]


def test_the_index_finds_cycles_once_per_change_of_the_graph() -> None:
    """The operator asks for the cycles on every look at an Application with dependsOn;
    a chain of 1,100 must not cost a pass over the graph each time."""
    n = 1100
    index = DependencyIndex()
    for i in range(n):
        index.set(o(f"n{i:04}"), [o(f"n{i + 1:04}")] if i < n - 1 else [])
    found = index.cycles()
    assert found == {}
    index.set(o("n0005"), [o("n0006")])  # a status write: dependsOn as it was
    assert index.cycles() is found  # not computed again
    assert index.dependents(o("n0006")) == [o("n0005")]
    index.set(o(f"n{n - 1:04}"), [o("n0000")])  # the end now depends on the head: a loop
    looped = index.cycles()
    assert len(looped) == n and looped[o("n0000")][:2] == [o("n0000"), o("n0001")]
    index.remove(o("n0500"))  # gone: the loop is broken, n0499 still waits for it
    assert index.cycles() == {}
    assert index.dependents(o("n0500")) == [o("n0499")]
    index.set(o("n0499"), [])
    assert index.dependents(o("n0500")) == []
