"""Queue-wait and utilisation objectives of a ClusterQueue, with their error budget. Pure.

Wait is a Workload's creation to its admission (Kueue's `QuotaReserved` time), for
Workloads admitted in the window (`QueueWaits`). The error budget is the share of allowed misses
(`1 - target` of the Workloads may wait longer than `waitP95`) not yet used: 1.0 is
untouched, 0 is spent, below 0 is over.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from quarterdeck.api.duration import parse_duration
from quarterdeck.api.showback import QueueObjectiveSpec
from quarterdeck.showback.observe import timestamp

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class ObjectiveState:
    workloads: int
    wait_p50: float | None
    wait_p95: float | None
    utilisation: float | None
    error_budget_remaining: float | None
    met: bool
    message: str


@dataclass(frozen=True)
class Wait:
    """One admitted Workload's wait: creation to quota reservation in `cluster_queue`."""

    cluster_queue: str
    reserved_at: float
    seconds: float


def admission_wait(wl: Obj) -> Wait | None:
    """The wait of a Workload that holds quota in a ClusterQueue; None for any other."""
    status = wl.get("status") or {}
    cq = (status.get("admission") or {}).get("clusterQueue")
    if not cq:
        return None
    created = timestamp((wl.get("metadata") or {}).get("creationTimestamp"))
    reserved = next(
        (
            c
            for c in status.get("conditions") or []
            if c.get("type") == "QuotaReserved" and c.get("status") == "True"
        ),
        None,
    )
    at = timestamp((reserved or {}).get("lastTransitionTime"))
    if created is None or at is None:
        return None
    return Wait(str(cq), at, max(0.0, at - created))


class QueueWaits:
    """The waits of every ClusterQueue, kept across passes and updated incrementally.

    A pass hands over all Workloads; only those whose `resourceVersion` moved since the
    last update are read again (a Workload's version changes with every write to it), and
    the waits are grouped by queue once, so asking for each queue is a lookup, not a walk
    over every Workload per queue (which cost a busy queueing controller's process about
    15% of its CPU). Workloads gone from the list are forgotten."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], tuple[str, Wait | None]] = {}
        self._by_queue: dict[str, list[Wait]] = {}

    def update(self, workloads: Iterable[Obj]) -> None:
        seen: dict[tuple[str, str], tuple[str, Wait | None]] = {}
        for wl in workloads:
            meta = wl.get("metadata") or {}
            key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
            version = str(meta.get("resourceVersion") or "")
            known = self._seen.get(key)
            if version and known is not None and known[0] == version:
                seen[key] = known
            else:
                seen[key] = (version, admission_wait(wl))
        by_queue: dict[str, list[Wait]] = defaultdict(list)
        for _, wait in seen.values():
            if wait is not None:
                by_queue[wait.cluster_queue].append(wait)
        self._seen, self._by_queue = seen, dict(by_queue)

    def queues(self) -> list[str]:
        """The ClusterQueues with at least one admitted Workload, sorted."""
        return sorted(self._by_queue)

    def since(self, cluster_queue: str, since: float) -> list[float]:
        """Seconds waited by each Workload reserved in `cluster_queue` at `since` or later."""
        return [w.seconds for w in self._by_queue.get(cluster_queue, ()) if w.reserved_at >= since]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): a value that was actually observed."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def evaluate(
    spec: QueueObjectiveSpec, waits: Sequence[float], utilisation: float | None
) -> ObjectiveState:
    p50, p95 = percentile(waits, 50), percentile(waits, 95)
    problems = []
    budget = None
    if spec.wait_p50 and p50 is not None and p50 > parse_duration(spec.wait_p50):
        problems.append(f"p50 wait {p50:.0f}s > {spec.wait_p50}")
    if spec.wait_p95:
        limit = parse_duration(spec.wait_p95)
        if p95 is not None and p95 > limit:
            problems.append(f"p95 wait {p95:.0f}s > {spec.wait_p95}")
        if waits:
            allowed = (1 - spec.target) * len(waits)
            misses = sum(1 for w in waits if w > limit)
            budget = 1 - misses / allowed if allowed else (1.0 if not misses else -1.0)
    floor = spec.utilisation
    if floor is not None and utilisation is not None and utilisation * 100 < floor:
        problems.append(f"utilisation {utilisation * 100:.1f}% < {spec.utilisation:g}%")
    met = not problems
    return ObjectiveState(
        len(waits),
        p50,
        p95,
        utilisation,
        budget,
        met,
        "objectives met" if met else "; ".join(problems),
    )
