"""What one cycle decided: admit (with flavors and nodes), preempt, or keep pending and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from quarterdeck.queueing.model import (
    AdmittedWorkload,
    FlavorResource,
    PodSetAdmission,
    Snapshot,
    Workload,
    fmt,
)

PendingReason = Literal["Pending", "Inadmissible", "Preempting", "Blocked", "Stopped", "Staging"]
"""Pending: no room now. Inadmissible: can never fit as configured (or bad input).
Preempting: victims are being evicted for it. Blocked: behind a StrictFIFO head.
Stopped: its ClusterQueue has a stopPolicy. Staging: its Job's pods are still being
created behind our gate (the operator's staged pods); not tried until they exist."""


@dataclass(frozen=True, slots=True)
class Admit:
    workload: Workload
    pod_sets: tuple[PodSetAdmission, ...]
    borrows: bool
    placement: str = ""  # why the placer chose its nodes (`NodeView.explain`)
    checks: tuple[str, ...] = ()  # AdmissionChecks to pass before the workload may run

    @property
    def cluster_queue(self) -> str:
        return self.workload.cluster_queue

    def admitted(self, now: float) -> AdmittedWorkload:
        return AdmittedWorkload(
            self.workload, self.pod_sets, admitted_at=now, waiting=bool(self.checks)
        )


@dataclass(frozen=True, slots=True)
class Preempt:
    """Evict `victim` (reason as Kueue's: InClusterQueue, InCohortReclamation, ...)."""

    victim: AdmittedWorkload
    preemptor: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Pending:
    """Left pending; a Preempting workload also holds `reserved` quota for this cycle.

    `deduced`: not tried; the reason is that of a workload of the same shape, queue and
    priority tried before it in the cycle (the same decision, found without trying)."""

    workload: Workload
    reason: PendingReason
    message: str
    reserved: Mapping[FlavorResource, int] = field(default_factory=dict)
    deduced: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class Decisions:
    admitted: tuple[Admit, ...] = ()
    preempted: tuple[Preempt, ...] = ()
    pending: tuple[Pending, ...] = ()

    def to_data(self) -> dict[str, Any]:
        """Plain data for `-o yaml|json`: quantities as people write them."""
        d = self
        return {
            "admitted": [
                {
                    "workload": a.workload.key,
                    "clusterQueue": a.cluster_queue,
                    "borrows": a.borrows,
                    "podSets": [
                        {
                            "name": ps.name,
                            "count": ps.count,
                            "flavors": dict(ps.flavors),
                            "resourceUsage": {r: fmt(v, r) for r, v in ps.usage.items()},
                            **({"nodes": dict(ps.nodes)} if ps.nodes is not None else {}),
                        }
                        for ps in a.pod_sets
                    ],
                }
                for a in d.admitted
            ],
            "preempted": [
                {
                    "workload": p.victim.workload.key,
                    "clusterQueue": p.victim.workload.cluster_queue,
                    "preemptor": p.preemptor,
                    "reason": p.reason,
                    "message": p.message,
                }
                for p in d.preempted
            ],
            "pending": [
                {
                    "workload": p.workload.key,
                    "clusterQueue": p.workload.cluster_queue,
                    "reason": p.reason,
                    "message": p.message,
                }
                for p in d.pending
            ],
        }

    def why(self, key: str) -> str | None:
        """The pending message of workload `key`, if it was left pending."""
        return next((p.message for p in self.pending if p.workload.key == key), None)


def apply(snapshot: Snapshot, decisions: Decisions, now: float) -> Snapshot:
    """The next snapshot if the shell carried every decision out at once.

    Admitted workloads start running; victims leave at once and queue again. Replays
    (the simulator, tests) use this; a controller instead observes the cluster.
    """
    gone = {p.victim.workload.key for p in decisions.preempted}
    admitted_keys = {a.workload.key for a in decisions.admitted}
    admitted = tuple(a for a in snapshot.admitted if a.workload.key not in gone) + tuple(
        a.admitted(now) for a in decisions.admitted
    )
    pending = tuple(w for w in snapshot.pending if w.key not in admitted_keys) + tuple(
        p.victim.workload for p in decisions.preempted
    )
    return replace(snapshot, admitted=admitted, pending=pending, now=now)
