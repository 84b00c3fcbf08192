"""`place()`: the one call the queueing controller and the simulator make.

A pod set (gang) is placed pod by pod on a scratch copy of the cluster with one scorer;
if any pod finds no node the whole gang is refused, so callers never see half a gang.
With a topology constraint each domain (value of the label) is tried on its own and the
domain that stays tightest after the gang is chosen, which keeps big domains whole for
big gangs.
"""

from __future__ import annotations

import numpy as np

from quarterdeck.placement.cluster import ClusterState, Mask
from quarterdeck.placement.model import Gang, GangPlacement, PodPlacement, Topology
from quarterdeck.placement.scorers import Scorer


def place(
    cluster: ClusterState,
    podset: Gang,
    scorer: Scorer,
    rng: np.random.Generator | None = None,
) -> GangPlacement | None:
    """Where every pod of `podset` goes, or None when the gang cannot be placed whole.

    `cluster` is not changed; carry the result out with `commit`. `rng` breaks ties
    (a fixed seed when omitted, so the same inputs give the same answer).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    everywhere = np.ones(len(cluster), dtype=np.bool_)
    topo = podset.topology
    if topo is None:
        return _place_within(cluster, podset, scorer, rng, everywhere, None)
    values = np.array([s.label(topo.key) or "" for s in cluster.specs], dtype=object)
    best: tuple[int, str, GangPlacement] | None = None
    for domain in sorted({v for v in values if v}):
        inside = values == domain
        got = _place_within(cluster, podset, scorer, rng, inside, domain)
        if got is None:
            continue
        left = _free_gpu_after(cluster, podset, got, inside)
        if best is None or (left, domain) < best[:2]:
            best = (left, domain, got)
    if best is not None:
        return best[2]
    if topo.mode is Topology.PREFERRED:
        return _place_within(cluster, podset, scorer, rng, everywhere, None)
    return None


def commit(cluster: ClusterState, podset: Gang, assignment: GangPlacement) -> None:
    """Bind every pod of `assignment` on `cluster` (the shell's half of `place`)."""
    for pod in assignment.pods:
        cluster.bind(podset.request, pod)


def release(cluster: ClusterState, podset: Gang, assignment: GangPlacement) -> None:
    """Give back everything `commit` took."""
    for pod in assignment.pods:
        cluster.release(podset.request, pod)


def _place_within(
    cluster: ClusterState,
    podset: Gang,
    scorer: Scorer,
    rng: np.random.Generator,
    allowed: Mask,
    domain: str | None,
) -> GangPlacement | None:
    request = podset.request
    if podset.count == 1:
        pod = scorer.choose(cluster, request, cluster.fits(request) & allowed, rng)
        return None if pod is None else GangPlacement((pod,), domain)
    scratch = cluster.copy()
    pods: list[PodPlacement] = []
    for _ in range(podset.count):
        pod = scorer.choose(scratch, request, scratch.fits(request) & allowed, rng)
        if pod is None:
            return None
        scratch.bind(request, pod)
        pods.append(pod)
    return GangPlacement(tuple(pods), domain)


def _free_gpu_after(
    cluster: ClusterState, podset: Gang, assignment: GangPlacement, inside: Mask
) -> int:
    free = int(cluster.gpu_free[inside].sum())
    return free - podset.request.gpu_demand_milli * len(assignment.pods)
