"""What one cycle decided: admit (with flavors and nodes), preempt, or keep pending and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from quarterdeck.queueing.model import (
    AdmittedWorkload,
    FlavorResource,
    PodSetAdmission,
    Snapshot,
    Workload,
)

PendingReason = Literal["Pending", "Inadmissible", "Preempting", "Blocked", "Stopped"]
"""Pending: no room now. Inadmissible: can never fit as configured (or bad input).
Preempting: victims are being evicted for it. Blocked: behind a StrictFIFO head.
Stopped: its ClusterQueue has a stopPolicy."""


@dataclass(frozen=True, slots=True)
class Admit:
    workload: Workload
    pod_sets: tuple[PodSetAdmission, ...]
    borrows: bool

    @property
    def cluster_queue(self) -> str:
        return self.workload.cluster_queue

    def admitted(self, now: float) -> AdmittedWorkload:
        return AdmittedWorkload(self.workload, self.pod_sets, admitted_at=now)


@dataclass(frozen=True, slots=True)
class Preempt:
    """Evict `victim` (reason as Kueue's: InClusterQueue, InCohortReclamation, ...)."""

    victim: AdmittedWorkload
    preemptor: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Pending:
    """Left pending; a Preempting workload also holds `reserved` quota for this cycle."""

    workload: Workload
    reason: PendingReason
    message: str
    reserved: Mapping[FlavorResource, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decisions:
    admitted: tuple[Admit, ...] = ()
    preempted: tuple[Preempt, ...] = ()
    pending: tuple[Pending, ...] = ()

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
