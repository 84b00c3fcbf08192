"""Kueue-shaped GPU admission: the pure cycle and its plain-data model.

Entry point for controllers and replays::

    from quarterdeck.queueing import cycle, apply, best_fit
    decisions = cycle(snapshot, placer=best_fit)   # or placer=None: quota only
    snapshot = apply(snapshot, decisions, now)     # replays: carry it all out at once
"""

from quarterdeck.queueing.bestfit import best_fit
from quarterdeck.queueing.cycle import cycle
from quarterdeck.queueing.decisions import Admit, Decisions, Pending, PendingReason, Preempt, apply
from quarterdeck.queueing.model import (
    AdmittedWorkload,
    ClusterQueue,
    Cohort,
    Flavor,
    FlavorQuota,
    Node,
    PodSet,
    PodSetAdmission,
    Preemption,
    Quota,
    ResourceGroup,
    Snapshot,
    Workload,
)
from quarterdeck.queueing.nodes import NodeCapacity, Placer
from quarterdeck.queueing.snapshot import admission_of, snapshot_from_objects

__all__ = [
    "Admit",
    "AdmittedWorkload",
    "ClusterQueue",
    "Cohort",
    "Decisions",
    "Flavor",
    "FlavorQuota",
    "Node",
    "NodeCapacity",
    "Pending",
    "PendingReason",
    "Placer",
    "PodSet",
    "PodSetAdmission",
    "Preempt",
    "Preemption",
    "Quota",
    "ResourceGroup",
    "Snapshot",
    "Workload",
    "admission_of",
    "apply",
    "best_fit",
    "cycle",
    "snapshot_from_objects",
]
