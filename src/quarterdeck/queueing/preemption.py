"""Classic preemption: whom to evict so that a workload fits, and only if it then fits.

Candidates are lower-priority workloads of the same ClusterQueue (`withinClusterQueue`)
and, with `reclaimWithinCohort`, workloads of other cohort members that borrow the
flavor-resources the preemptor needs. In Kueue's order: workloads already evicting
first (they are leaving anyway and cost no new eviction), then other queues' borrowers,
then lower priority, then the most recently admitted. Candidates are removed one at a
time until the preemptor fits in quota *and* on nodes; then each is put back if the
preemptor still fits without evicting it, so the set is minimal in that order. Under
fair sharing a workload of another queue is only taken while that queue's share stays
at least the preemptor's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from quarterdeck.queueing.fairshare import dominant_share, negate
from quarterdeck.queueing.flavors import FlavorAssignment
from quarterdeck.queueing.model import AdmittedWorkload, ClusterQueue, Flavor, Workload
from quarterdeck.queueing.nodes import NodeView
from quarterdeck.queueing.quota import QuotaState

IN_CLUSTER_QUEUE = "InClusterQueue"
IN_COHORT_RECLAMATION = "InCohortReclamation"
IN_COHORT_RECLAIM_WHILE_BORROWING = "InCohortReclaimWhileBorrowing"
IN_COHORT_FAIR_SHARING = "InCohortFairSharing"


@dataclass(frozen=True, slots=True)
class Victim:
    admitted: AdmittedWorkload
    reason: str


@dataclass(frozen=True, slots=True)
class Preemptions:
    """Whom to evict and where the preemptor's pods go once they are gone."""

    victims: tuple[Victim, ...]
    nodes: tuple[Mapping[str, int] | None, ...]
    borrows: bool


def find_victims(
    wl: Workload,
    cq: ClusterQueue,
    assignment: FlavorAssignment,
    quota: QuotaState,
    placement: NodeView | None,
    admitted_by_cq: Mapping[str, Sequence[AdmittedWorkload]],
    flavors: Mapping[str, Flavor],
    strategies: tuple[str, ...] | None,
) -> Preemptions | None:
    """The minimal victim set (in candidate order) that makes `wl` fit, or None.

    `strategies` are the fair-sharing preemption strategies (None: fair sharing off).
    """
    fair_sharing = strategies is not None
    usage = assignment.usage()
    needed = set(usage)
    policy = cq.preemption
    candidates: list[tuple[tuple[bool, float, int, int, float], AdmittedWorkload]] = []
    for adm in admitted_by_cq.get(cq.name, ()):
        w = adm.workload
        lower = w.priority < wl.priority
        newer_equal = w.priority == wl.priority and w.created > wl.created
        allowed = policy.within_cluster_queue == "LowerPriority" and lower
        allowed |= policy.within_cluster_queue == "LowerOrNewerEqualPriority" and (
            lower or newer_equal
        )
        if allowed and needed & adm.usage().keys():
            candidates.append(((not adm.evicting, 0.0, 1, w.priority, -adm.admitted_at), adm))
    if cq.cohort is not None and policy.reclaim_within_cohort != "Never":
        for other in quota.members[cq.name]:
            if other == cq.name:
                continue
            share = dominant_share(quota, other) if fair_sharing else 0.0
            for adm in admitted_by_cq.get(other, ()):
                w = adm.workload
                if policy.reclaim_within_cohort == "LowerPriority" and w.priority >= wl.priority:
                    continue
                if needed & adm.usage().keys():
                    key = (not adm.evicting, -share, 0, w.priority, -adm.admitted_at)
                    candidates.append((key, adm))
    candidates.sort(key=lambda c: (c[0], c[1].workload.key))

    scratch = quota.copy()
    nodes = placement.copy() if placement is not None else None
    chosen: list[AdmittedWorkload] = []
    fit: tuple[tuple[Mapping[str, int] | None, ...], bool] | None = None
    for _, adm in candidates:
        other = adm.workload.cluster_queue
        if other != cq.name and not _may_take(wl, cq, adm, usage, scratch, strategies):
            continue
        _remove(adm, scratch, nodes)
        chosen.append(adm)
        fit = _fits(wl, cq, assignment, chosen, scratch, nodes, flavors, fair_sharing)
        if fit is not None:
            break
    if fit is None:
        return None
    for adm in reversed(chosen[:-1]):
        _remove(adm, scratch, nodes, sign=-1)
        rest = [c for c in chosen if c is not adm]
        again = _fits(wl, cq, assignment, rest, scratch, nodes, flavors, fair_sharing)
        if again is None:
            _remove(adm, scratch, nodes)
        else:
            chosen, fit = rest, again
    victims = tuple(Victim(a, _reason(cq, a, fit[1], fair_sharing)) for a in chosen)
    return Preemptions(victims, fit[0], fit[1])


def _may_take(
    wl: Workload,
    cq: ClusterQueue,
    adm: AdmittedWorkload,
    usage: Mapping[tuple[str, str], int],
    quota: QuotaState,
    strategies: tuple[str, ...] | None,
) -> bool:
    other = adm.workload.cluster_queue
    theirs = adm.usage()
    if not any(quota.borrows(other, fr) for fr in theirs if fr in usage):
        return False  # reclaim only takes back what is borrowed
    if strategies is None:
        return True
    mine = dominant_share(quota, cq.name, usage)
    # Kueue's strategies, in the configured order: a candidate any of them allows.
    for strategy in strategies:
        if strategy == "LessThanOrEqualToFinalShare":
            if mine <= dominant_share(quota, other, negate(theirs)):
                return True
        elif mine < dominant_share(quota, other):
            return True
    return False


def _remove(
    adm: AdmittedWorkload, quota: QuotaState, placement: NodeView | None, sign: int = 1
) -> None:
    quota.add(adm.workload.cluster_queue, adm.usage(), -sign)
    if placement is not None:
        placement.take(adm, -sign)


def _fits(
    wl: Workload,
    cq: ClusterQueue,
    assignment: FlavorAssignment,
    chosen: Sequence[AdmittedWorkload],
    quota: QuotaState,
    placement: NodeView | None,
    flavors: Mapping[str, Flavor],
    fair_sharing: bool,
) -> tuple[tuple[Mapping[str, int] | None, ...], bool] | None:
    """Pods per node for each pod set and whether it borrows, if `wl` now fits.

    Classic reclaim only frees room the preemptor then uses within its nominal quota
    (unless borrowWithinCohort allows); under fair sharing the share rule decides.
    """
    usage = assignment.usage()
    cross = [a for a in chosen if a.workload.cluster_queue != cq.name]
    allow_borrowing = not cross or fair_sharing or _borrow_while_reclaiming(wl, cq, cross)
    if not quota.fits(cq.name, usage, allow_borrowing):
        return None
    borrows = any(quota.borrows(cq.name, fr, v) for fr, v in usage.items())
    if placement is None:
        return tuple(None for _ in assignment.pod_sets), borrows
    scratch = placement.copy()
    placed: list[Mapping[str, int] | None] = []
    for choice in assignment.pod_sets:
        picked = [flavors[f] for f in dict.fromkeys(choice.flavors.values())]
        got, _ = scratch.place(picked, choice.pod_set)
        if got is None:
            return None
        scratch.bind(choice.pod_set, got)
        placed.append(got)
    return tuple(placed), borrows


def _borrow_while_reclaiming(
    wl: Workload, cq: ClusterQueue, cross: Sequence[AdmittedWorkload]
) -> bool:
    policy = cq.preemption
    if policy.borrow_within_cohort != "LowerPriority":
        return False
    limit = policy.borrow_max_priority
    return all(
        a.workload.priority < wl.priority and (limit is None or a.workload.priority <= limit)
        for a in cross
    )


def _reason(cq: ClusterQueue, adm: AdmittedWorkload, borrows: bool, fair_sharing: bool) -> str:
    if adm.workload.cluster_queue == cq.name:
        return IN_CLUSTER_QUEUE
    if fair_sharing:
        return IN_COHORT_FAIR_SHARING
    return IN_COHORT_RECLAIM_WHILE_BORROWING if borrows else IN_COHORT_RECLAMATION
