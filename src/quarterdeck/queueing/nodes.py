"""Node views for placement-aware admission: the gang must fit on real nodes.

Kueue admits on quota alone and its users' top complaint is admitted workloads whose
pods then sit Pending. The cycle keeps a node view beside the quota view and admits a
flavor only when the view places the whole gang on nodes of that flavor.

A `Placer` starts one `NodeView` per cycle. `GpuPlacer` (in `gpus.py`) is the one the
controller uses, backed by `quarterdeck.placement`; `FunctionPlacer` wraps any plain
function over free capacity per node, for other resources and for tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from quarterdeck.queueing.model import AdmittedWorkload, Flavor, Node, PodDevices, PodSet


class NodeView(Protocol):
    """Mutable node state for one cycle."""

    def copy(self) -> NodeView: ...

    def place(
        self, flavors: Sequence[Flavor], pod_set: PodSet
    ) -> tuple[Mapping[str, int] | None, str]:
        """Pods per node for the whole pod set on nodes of `flavors`, or None and why."""
        ...

    def bind(self, pod_set: PodSet, placement: Mapping[str, int]) -> None:
        """Take the room of a placement this view just returned."""
        ...

    def take(self, admitted: AdmittedWorkload, sign: int = 1) -> None:
        """Account (1) or give back (-1) the pods of a running workload."""
        ...

    def devices(self, pod_set: PodSet) -> tuple[PodDevices, ...] | None:
        """Node and devices of each pod of `pod_set` as last bound (None: not tracked)."""
        ...

    def explain(self, pod_set: PodSet) -> str:
        """Why the last placement of `pod_set` went where it did ("" if untold)."""
        ...


class Placer(Protocol):
    def start(self, nodes: Sequence[Node], admitted: Sequence[AdmittedWorkload]) -> NodeView: ...


def matches(node: Node, flavors: Sequence[Flavor], pod_set: PodSet) -> bool:
    """Node carries every flavor's labels and the selector; its hard taints are tolerated."""
    if any(node.labels.get(k) != v for f in flavors for k, v in f.node_labels.items()):
        return False
    if any(node.labels.get(k) != v for k, v in pod_set.node_selector.items()):
        return False
    if any(node.labels.get(k) not in values for k, values in pod_set.node_affinity):
        return False
    tolerations = [*pod_set.tolerations, *(t for f in flavors for t in f.tolerations)]
    hard = (t for t in node.taints if t.effect != "PreferNoSchedule")
    return all(any(tol.tolerates(t) for tol in tolerations) for t in hard)


@dataclass(frozen=True, slots=True)
class NodeCapacity:
    """One candidate node as a placement function sees it: what is free right now."""

    name: str
    labels: Mapping[str, str]
    allocatable: Mapping[str, int]
    free: Mapping[str, int]


PlaceFunction = Callable[[Sequence[NodeCapacity], PodSet], Mapping[str, int] | None]


class FunctionPlacer:
    """Any function over free capacity per node (all resources, no device detail)."""

    def __init__(self, function: PlaceFunction) -> None:
        self.function = function

    def start(self, nodes: Sequence[Node], admitted: Sequence[AdmittedWorkload]) -> NodeView:
        return NodeState(nodes, admitted, self.function)


class NodeState:
    """Free capacity per node as plain sums; every answer of the function is checked."""

    def __init__(
        self,
        nodes: Iterable[Node],
        admitted: Iterable[AdmittedWorkload] = (),
        function: PlaceFunction | None = None,
    ) -> None:
        self.function = function
        self.nodes: dict[str, Node] = {n.name: n for n in nodes}
        self.free: dict[str, dict[str, int]] = {
            n.name: {r: v - n.used.get(r, 0) for r, v in n.allocatable.items()}
            for n in self.nodes.values()
        }
        for adm in admitted:
            self.take(adm)

    def copy(self) -> NodeState:
        new = NodeState.__new__(NodeState)
        new.function, new.nodes = self.function, self.nodes
        new.free = {k: dict(v) for k, v in self.free.items()}
        return new

    def take(self, admitted: AdmittedWorkload, sign: int = 1) -> None:
        by_name = {ps.name: ps for ps in admitted.workload.pod_sets}
        for psa in admitted.pod_sets:
            spec = by_name.get(psa.name)
            if psa.nodes is not None and spec is not None:
                self._add(spec, psa.nodes, sign)

    def devices(self, pod_set: PodSet) -> tuple[PodDevices, ...] | None:
        return None  # plain sums: no device detail

    def explain(self, pod_set: PodSet) -> str:
        return ""  # a plain function: nothing to tell

    def bind(self, pod_set: PodSet, placement: Mapping[str, int]) -> None:
        self._add(pod_set, placement, 1)

    def _add(self, pod_set: PodSet, placement: Mapping[str, int], sign: int) -> None:
        for node, pods in placement.items():
            free = self.free.get(node)
            if free is None:  # the node is gone; nothing to account
                continue
            for res, v in pod_set.requests.items():
                free[res] = free.get(res, 0) - sign * v * pods

    def candidates(self, flavors: Sequence[Flavor], pod_set: PodSet) -> list[NodeCapacity]:
        return [
            NodeCapacity(name, node.labels, node.allocatable, self.free[name])
            for name, node in self.nodes.items()
            if matches(node, flavors, pod_set)
        ]

    def place(
        self, flavors: Sequence[Flavor], pod_set: PodSet
    ) -> tuple[Mapping[str, int] | None, str]:
        if self.function is None:
            raise ValueError("NodeState without a place function cannot place")
        candidates = self.candidates(flavors, pod_set)
        got = self.function(candidates, pod_set)
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


def describe_shortfall(nodes: Sequence[NodeCapacity], pod_set: PodSet) -> str:
    """Why a gang did not fit: how many of its pods the nodes could hold, and the total."""
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
