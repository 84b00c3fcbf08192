"""Free capacity of real nodes per flavor, so admission only admits what can be placed.

Kueue admits on quota alone and its users' top complaint is admitted workloads whose
pods then sit Pending. The cycle keeps this node view beside the quota view and asks a
`Placer` to put the whole gang on nodes of the assigned flavors before admitting it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from quarterdeck.queueing.model import AdmittedWorkload, Flavor, Node, PodSet


@dataclass(frozen=True, slots=True)
class NodeCapacity:
    """One candidate node as a placer sees it: labels and what is free right now."""

    name: str
    labels: Mapping[str, str]
    allocatable: Mapping[str, int]
    free: Mapping[str, int]


class Placer(Protocol):
    """Puts all `pod_set.count` pods on `nodes`, or returns None (never half a gang).

    The result maps node name to the number of pods placed there.
    """

    def __call__(
        self, nodes: Sequence[NodeCapacity], pod_set: PodSet
    ) -> Mapping[str, int] | None: ...


class NodeState:
    """Mutable free capacity per node for one cycle."""

    def __init__(self, nodes: Iterable[Node], admitted: Iterable[AdmittedWorkload] = ()) -> None:
        self.nodes: dict[str, Node] = {n.name: n for n in nodes}
        self.free: dict[str, dict[str, int]] = {
            n.name: {r: v - n.used.get(r, 0) for r, v in n.allocatable.items()}
            for n in self.nodes.values()
        }
        for adm in admitted:
            self.take(adm)

    def copy(self) -> NodeState:
        new = NodeState.__new__(NodeState)
        new.nodes = self.nodes
        new.free = {k: dict(v) for k, v in self.free.items()}
        return new

    def take(self, admitted: AdmittedWorkload, sign: int = 1) -> None:
        """Account (sign=1) or give back (sign=-1) the pods of a placed workload."""
        by_name = {ps.name: ps for ps in admitted.workload.pod_sets}
        for psa in admitted.pod_sets:
            spec = by_name.get(psa.name)
            if psa.nodes is None or spec is None:
                continue
            self.bind(spec, psa.nodes, sign)

    def bind(self, pod_set: PodSet, placement: Mapping[str, int], sign: int = 1) -> None:
        for node, pods in placement.items():
            free = self.free.get(node)
            if free is None:  # the node is gone; nothing to account
                continue
            for res, v in pod_set.requests.items():
                free[res] = free.get(res, 0) - sign * v * pods

    def candidates(self, flavors: Sequence[Flavor], pod_set: PodSet) -> list[NodeCapacity]:
        """Nodes carrying every flavor's labels and the pod set's selector, taints tolerated."""
        tolerations = [*pod_set.tolerations, *(t for f in flavors for t in f.tolerations)]
        out: list[NodeCapacity] = []
        for name, node in self.nodes.items():
            if any(node.labels.get(k) != v for f in flavors for k, v in f.node_labels.items()):
                continue
            if any(node.labels.get(k) != v for k, v in pod_set.node_selector.items()):
                continue
            hard = (t for t in node.taints if t.effect != "PreferNoSchedule")
            if any(not any(tol.tolerates(t) for tol in tolerations) for t in hard):
                continue
            out.append(NodeCapacity(name, node.labels, node.allocatable, self.free[name]))
        return out


def describe_shortfall(nodes: Sequence[NodeCapacity], pod_set: PodSet) -> str:
    """Why a gang did not fit: how many of its pods the best node could hold, and the total."""
    if not nodes:
        return "no node matches the flavor"
    fits_total = 0
    best = 0
    for node in nodes:
        per_node = min(
            (node.free.get(r, 0) // v for r, v in pod_set.requests.items() if v > 0),
            default=pod_set.count,
        )
        per_node = max(0, per_node)
        fits_total += per_node
        best = max(best, per_node)
    return (
        f"{len(nodes)} matching nodes hold {fits_total} of {pod_set.count} pods "
        f"(at most {best} on one node)"
    )


class Placement:
    """A node view plus a placer; checks every answer so a bad placer cannot over-commit."""

    def __init__(self, state: NodeState, placer: Placer) -> None:
        self.state = state
        self.placer = placer

    def copy(self) -> Placement:
        return Placement(self.state.copy(), self.placer)

    def place(
        self, flavors: Sequence[Flavor], pod_set: PodSet
    ) -> tuple[Mapping[str, int] | None, str]:
        """Pods per node for the whole pod set, or None and a one-line reason."""
        candidates = self.state.candidates(flavors, pod_set)
        got = self.placer(candidates, pod_set)
        if got is None:
            return None, describe_shortfall(candidates, pod_set)
        by_name = {c.name: c for c in candidates}
        valid = sum(got.values()) == pod_set.count and all(
            n in by_name
            and pods >= 0
            and all(
                v * pods <= by_name[n].free.get(r, 0) for r, v in pod_set.requests.items() if v > 0
            )
            for n, pods in got.items()
        )
        if not valid:
            return None, f"placer returned an invalid placement {dict(got)}"
        return {n: p for n, p in got.items() if p > 0}, ""
