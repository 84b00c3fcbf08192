"""``dependsOn`` between Applications: who waits for whom, and cycles.

Pure; the controller passes the graph (application -> its dependencies) and the
set of Ready applications. Nothing here recurses: a chain of thousands of
Applications costs a loop, never the interpreter's stack.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from quarterdeck.delivery.inventory import Owner

Graph = Mapping[Owner, Iterable[Owner]]


def waiting_for(app: Owner, graph: Graph, ready: Iterable[Owner]) -> list[Owner]:
    """The dependencies of ``app`` that are not Ready yet (missing ones count as not Ready)."""
    done = set(ready)
    return sorted(d for d in graph.get(app, ()) if d not in done)


def components(graph: Graph) -> list[list[Owner]]:
    """Strongly connected components (Tarjan's algorithm, iterative), dependencies first."""
    index: dict[Owner, int] = {}
    low: dict[Owner, int] = {}
    on_stack: set[Owner] = set()
    stack: list[Owner] = []
    out: list[list[Owner]] = []
    edges = {n: sorted(d for d in deps if d in graph) for n, deps in graph.items()}
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[Owner, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            deps = edges[node]
            if i < len(deps):
                work.append((node, i + 1))
                dep = deps[i]
                if dep not in index:
                    work.append((dep, 0))
                elif dep in on_stack:
                    low[node] = min(low[node], index[dep])
                continue
            if low[node] == index[node]:
                group: list[Owner] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                out.append(sorted(group))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out


def _path(start: Owner, members: set[Owner], graph: Graph) -> list[Owner]:
    """One cycle through ``start`` inside its component (first node repeated at the end)."""
    seen = {start: start}
    queue = [start]
    while queue:  # breadth-first back to start
        node = queue.pop(0)
        for dep in sorted(graph.get(node, ())):
            if dep == start:
                chain = [node]
                while chain[-1] != start:
                    chain.append(seen[chain[-1]])
                return [*reversed(chain), start]
            if dep in members and dep not in seen:
                seen[dep] = node
                queue.append(dep)
    return [start, start]


def cycles(graph: Graph) -> dict[Owner, list[Owner]]:
    """Every Application on a dependsOn cycle (self-loops too) -> a cycle it is on."""
    out: dict[Owner, list[Owner]] = {}
    for group in components(graph):
        members = set(group)
        if len(group) == 1 and group[0] not in set(graph.get(group[0], ())):
            continue
        for node in group:
            out[node] = _path(node, members, graph)
    return out


def find_cycle(graph: Graph) -> list[Owner] | None:
    """A dependency cycle (first node repeated at the end), or None."""
    found = cycles(graph)
    return found[min(found)] if found else None


def levels(graph: Graph) -> list[list[Owner]]:
    """Applications grouped so that each group depends only on earlier groups.

    Applications in one group are independent and reconciled concurrently. Members
    of a cycle share one level (the controller stalls them instead of syncing).
    """
    depth: dict[Owner, int] = {}
    edges = {n: [d for d in deps if d in graph] for n, deps in graph.items()}
    for group in components(graph):  # dependencies come first
        members = set(group)
        value = 1 + max((depth[d] for n in group for d in edges[n] if d not in members), default=-1)
        for node in group:
            depth[node] = value
    groups: dict[int, list[Owner]] = {}
    for node, value in depth.items():
        groups.setdefault(value, []).append(node)
    return [sorted(groups[k]) for k in sorted(groups)]


class DependencyIndex:
    """Every Application's dependsOn, kept as they change: who depends on whom, and the
    cycles, found once per change of the graph instead of once per reconcile.

    The operator looks at each Application at least once a tick; finding cycles over
    the whole graph on each look made a chain of 1,100 cost 1,100 full passes a tick
    (about 33 ms each), enough to starve every other Application. Not thread-safe:
    the caller holds its lock.
    """

    def __init__(self) -> None:
        self._deps: dict[Owner, tuple[Owner, ...]] = {}
        self._dependents: dict[Owner, set[Owner]] = {}
        self._cycles: dict[Owner, list[Owner]] | None = {}

    def set(self, app: Owner, deps: Iterable[Owner]) -> None:
        """Record the dependencies of ``app`` (added or changed)."""
        new = tuple(deps)
        if self._deps.get(app) == new:
            return  # a status write: the graph is as it was
        self._drop_edges(app)
        self._deps[app] = new
        for dep in new:
            self._dependents.setdefault(dep, set()).add(app)
        self._cycles = None

    def remove(self, app: Owner) -> None:
        """``app`` is gone; those that depend on it still do (they wait for it)."""
        if app in self._deps:
            self._drop_edges(app)
            del self._deps[app]
            self._cycles = None

    def dependents(self, app: Owner) -> list[Owner]:
        """The Applications that list ``app`` in dependsOn."""
        return sorted(self._dependents.get(app, ()))

    def cycles(self) -> dict[Owner, list[Owner]]:
        """``cycles`` of the current graph, computed at most once per change."""
        if self._cycles is None:
            self._cycles = cycles(self._deps)
        return self._cycles

    def _drop_edges(self, app: Owner) -> None:
        for dep in self._deps.get(app, ()):
            users = self._dependents.get(dep)
            if users is not None:
                users.discard(app)
                if not users:
                    del self._dependents[dep]
