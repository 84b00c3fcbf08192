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
