"""A best-fit placer: the smallest adapter that satisfies `Placer`.

Used when `quarterdeck.placement` is not available to the caller; it packs pods onto
the node whose scarcest requested resource is left tightest, and honours a required or
preferred topology level by trying one domain (label value) at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from quarterdeck.queueing.model import PodSet
from quarterdeck.queueing.nodes import NodeCapacity


def best_fit(nodes: Sequence[NodeCapacity], pod_set: PodSet) -> Mapping[str, int] | None:
    """Place every pod of `pod_set` on `nodes` or return None."""
    level = pod_set.topology_required or pod_set.topology_preferred
    if level is not None:
        domains: dict[str, list[NodeCapacity]] = {}
        for node in nodes:
            value = node.labels.get(level)
            if value is not None:
                domains.setdefault(value, []).append(node)
        # Tightest domain first keeps big domains whole for big gangs.
        for _, members in sorted(domains.items(), key=lambda d: (_room(d[1], pod_set), d[0])):
            placed = _pack(members, pod_set)
            if placed is not None:
                return placed
        if pod_set.topology_required is not None:
            return None
    return _pack(nodes, pod_set)


def _room(nodes: Sequence[NodeCapacity], pod_set: PodSet) -> int:
    return sum(_pods_fitting(n.free, pod_set) for n in nodes)


def _pods_fitting(free: Mapping[str, int], pod_set: PodSet) -> int:
    wanted = [(r, v) for r, v in pod_set.requests.items() if v > 0]
    if not wanted:
        return pod_set.count
    return max(0, min(free.get(r, 0) // v for r, v in wanted))


def _pack(nodes: Sequence[NodeCapacity], pod_set: PodSet) -> dict[str, int] | None:
    free = {n.name: dict(n.free) for n in nodes}
    alloc = {n.name: n.allocatable for n in nodes}
    placed: dict[str, int] = {}
    for _ in range(pod_set.count):
        best: tuple[float, str] | None = None
        for name, f in free.items():
            if _pods_fitting(f, pod_set) < 1:
                continue
            # Leftover share of the scarcest requested resource after this pod.
            left = min(
                (
                    (f.get(r, 0) - v) / max(alloc[name].get(r, 0), 1)
                    for r, v in pod_set.requests.items()
                    if v > 0
                ),
                default=0.0,
            )
            if best is None or (left, name) < best:
                best = (left, name)
        if best is None:
            return None
        name = best[1]
        for r, v in pod_set.requests.items():
            free[name][r] = free[name].get(r, 0) - v
        placed[name] = placed.get(name, 0) + 1
    return placed
