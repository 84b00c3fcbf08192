"""``dependsOn`` between Applications: who waits for whom, and cycles.

Pure; the controller passes the graph (application -> its dependencies) and the
set of Ready applications.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from quarterdeck.delivery.inventory import Owner

Graph = Mapping[Owner, Iterable[Owner]]


def waiting_for(app: Owner, graph: Graph, ready: Iterable[Owner]) -> list[Owner]:
    """The dependencies of ``app`` that are not Ready yet (missing ones count as not Ready)."""
    done = set(ready)
    return sorted(d for d in graph.get(app, ()) if d not in done)


def find_cycle(graph: Graph) -> list[Owner] | None:
    """A dependency cycle (first node repeated at the end), or None."""
    state: dict[Owner, int] = {}  # 1 = on the current path, 2 = finished
    path: list[Owner] = []

    def visit(node: Owner) -> list[Owner] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def levels(graph: Graph) -> list[list[Owner]]:
    """Applications grouped so that each group depends only on earlier groups.

    Applications in one group are independent and reconciled concurrently. Members
    of a cycle get a level too (the controller stalls them instead of syncing).
    """
    depth: dict[Owner, int] = {}

    def level(node: Owner, path: frozenset[Owner]) -> int:
        if node in depth:
            return depth[node]
        if node in path:
            return 0
        deps = [d for d in graph.get(node, []) if d in graph]
        value = 1 + max((level(d, path | {node}) for d in deps), default=-1)
        depth[node] = value
        return value

    for node in sorted(graph):
        level(node, frozenset())
    groups: dict[int, list[Owner]] = {}
    for node, value in depth.items():
        groups.setdefault(value, []).append(node)
    return [sorted(groups[k]) for k in sorted(groups)]
