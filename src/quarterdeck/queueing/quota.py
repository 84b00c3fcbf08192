"""Quota accounting for one cycle: usage per ClusterQueue and what each may still take.

The model is Kueue's resource tree: ClusterQueues are leaves under cohorts, cohorts may
have a parent cohort and quota of their own. Each node's quota (its own nominal plus
what its children lend it) splits into a guaranteed part (quota - lendingLimit) only
its subtree may use and a lendable part stored in the parent. What a queue may still
take of one flavor-resource is its unused guaranteed part plus what its parent can
give, the latter capped by the queue's borrowingLimit, recursively up to the root.
A cohort whose parents form a cycle is cut loose (treated as a root) and reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from quarterdeck.queueing.model import ClusterQueue, Cohort, FlavorResource, Quota

Limit = Literal["nominal", "borrowing", "cohort"]
NO_COHORTS: Mapping[str, Cohort] = {}


@dataclass(frozen=True, slots=True)
class Headroom:
    """How much a queue may still take of one flavor-resource and what binds it."""

    free: int
    limit: Limit


def cohort_key(name: str) -> str:
    """Tree node id of a cohort (":" cannot appear in Kubernetes object names)."""
    return f"cohort:{name}"


class QuotaState:
    """Mutable usage for one cycle; every change goes through `add`."""

    def __init__(
        self, queues: Mapping[str, ClusterQueue], cohorts: Mapping[str, Cohort] = NO_COHORTS
    ) -> None:
        self.queues = queues
        self.parent: dict[str, str | None] = {}
        self.quotas: dict[str, dict[FlavorResource, Quota]] = {}
        self.broken: dict[str, str] = {}  # cohort name -> why it is cut loose
        for name, cq in queues.items():
            self.quotas[name] = dict(cq.flavor_resources())
            self.parent[name] = None if cq.cohort is None else cohort_key(cq.cohort)
            if cq.cohort is not None:
                self._add_cohort(cq.cohort, cohorts)
        self.children: dict[str, list[str]] = {node: [] for node in self.parent}
        for node, parent in self.parent.items():
            if parent is not None:
                self.children[parent].append(node)
        self.subtree: dict[str, dict[FlavorResource, int]] = {}
        self.guaranteed: dict[str, dict[FlavorResource, int]] = {}
        for node in self.parent:
            self._size(node)
        self.usage: dict[str, dict[FlavorResource, int]] = {node: {} for node in self.parent}
        roots: dict[str, list[str]] = {}
        for name in queues:
            roots.setdefault(self.root(name), []).append(name)
        self.members = {name: roots[self.root(name)] for name in queues}

    def _add_cohort(self, name: str, cohorts: Mapping[str, Cohort]) -> None:
        """Register `name` and its ancestors; cut a parent cycle where it closes."""
        path: list[str] = []
        current: str | None = name
        while current is not None:
            if current in path:
                loop = [*path[path.index(current) :], current]
                for member in loop[:-1]:
                    self.broken[member] = "cohort cycle: " + " -> ".join(loop)
                self.parent[cohort_key(path[-1])] = None
                return
            if cohort_key(current) in self.parent:
                return
            path.append(current)
            spec = cohorts.get(current)
            self.quotas[cohort_key(current)] = dict(spec.flavor_resources()) if spec else {}
            parent = spec.parent if spec else None
            self.parent[cohort_key(current)] = None if parent is None else cohort_key(parent)
            current = parent

    def _size(self, node: str) -> None:
        """Subtree quota and guaranteed part of `node`, children first."""
        if node in self.subtree:
            return
        total = {fr: q.nominal for fr, q in self.quotas[node].items()}
        for child in self.children[node]:
            self._size(child)
            for fr, v in self.subtree[child].items():
                total[fr] = total.get(fr, 0) + v - self.guaranteed[child].get(fr, 0)
        self.subtree[node] = total
        self.guaranteed[node] = {
            fr: max(0, total.get(fr, 0) - q.lending_limit)
            for fr, q in self.quotas[node].items()
            if q.lending_limit is not None
        }

    def copy(self) -> QuotaState:
        new = QuotaState.__new__(QuotaState)
        new.queues, new.parent, new.quotas, new.broken = (
            self.queues,
            self.parent,
            self.quotas,
            self.broken,
        )
        new.children, new.subtree, new.guaranteed = self.children, self.subtree, self.guaranteed
        new.members = self.members
        new.usage = {k: dict(v) for k, v in self.usage.items()}
        return new

    def root(self, node: str) -> str:
        while (up := self.parent[node]) is not None:
            node = up
        return node

    def cohort_problem(self, cq: str) -> str | None:
        """Why `cq` cannot be used (its cohort chain has a cycle), or None."""
        node = self.parent.get(cq)
        while node is not None:
            why = self.broken.get(node.removeprefix("cohort:"))
            if why is not None:
                return why
            node = self.parent[node]
        return None

    def used(self, node: str, fr: FlavorResource) -> int:
        return self.usage[node].get(fr, 0)

    def add(self, cq: str, usage: Mapping[FlavorResource, int], sign: int = 1) -> None:
        """Add (sign=1) or remove (sign=-1) a workload's usage, up the whole tree."""
        for fr, v in usage.items():
            node: str | None = cq
            delta = sign * v
            while node is not None and delta:
                mine = self.usage[node]
                before = mine.get(fr, 0)
                mine[fr] = before + delta
                g = self.guaranteed[node].get(fr, 0)
                delta = max(0, before + delta - g) - max(0, before - g)
                node = self.parent[node]

    def headroom(self, cq: str, fr: FlavorResource) -> Headroom:
        """What `cq` may still take of `fr` now, and which limit binds."""
        if fr not in self.quotas[cq]:
            return Headroom(0, "nominal")
        return self._available(cq, fr)

    def _available(self, node: str, fr: FlavorResource) -> Headroom:
        size = self.subtree[node].get(fr, 0)
        used = self.used(node, fr)
        parent = self.parent[node]
        if parent is None:
            return Headroom(max(0, size - used), "nominal" if node in self.queues else "cohort")
        g = self.guaranteed[node].get(fr, 0)
        up = self._available(parent, fr)
        free, limit = up.free, up.limit
        q = self.quotas[node].get(fr)
        if q is not None and q.borrowing_limit is not None:
            cap = size - g - max(0, used - g) + q.borrowing_limit
            if cap < free:
                free, limit = cap, "borrowing"
        return Headroom(max(0, g - used) + max(0, free), limit)

    def capacity(self, cq: str, fr: FlavorResource) -> int:
        """The most `cq` could ever hold of `fr`, were everything else idle."""
        if fr not in self.quotas[cq]:
            return 0
        return self._capacity(cq, fr)

    def _capacity(self, node: str, fr: FlavorResource) -> int:
        size = self.subtree[node].get(fr, 0)
        parent = self.parent[node]
        if parent is None:
            return size
        g = self.guaranteed[node].get(fr, 0)
        up = self._capacity(parent, fr)
        q = self.quotas[node].get(fr)
        if q is not None and q.borrowing_limit is not None:
            up = min(up, size - g + q.borrowing_limit)
        return g + up

    def lendable_above(self, cq: str, resource: str) -> int:
        """Quota of `resource` (all flavors) in the pool `cq` borrows from."""
        parent = self.parent[cq]
        if parent is None:
            return 0
        return sum(v for (_, res), v in self.subtree[parent].items() if res == resource)

    def borrows(self, cq: str, fr: FlavorResource, extra: int = 0) -> bool:
        """Whether `cq` uses (or would, with `extra` more) beyond its nominal quota."""
        q = self.quotas[cq].get(fr)
        return q is not None and self.used(cq, fr) + extra > q.nominal

    def fits(
        self, cq: str, usage: Mapping[FlavorResource, int], allow_borrowing: bool = True
    ) -> bool:
        for fr, v in usage.items():
            if v > self.headroom(cq, fr).free:
                return False
            if not allow_borrowing and self.borrows(cq, fr, v):
                return False
        return True
