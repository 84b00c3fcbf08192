"""Kueue-shaped GPU admission: the pure cycle and its plain-data model.

Entry point for controllers and replays::

    from quarterdeck.queueing import cycle, apply, GpuPlacer
    decisions = cycle(snapshot, placer=GpuPlacer())  # or placer=None: quota only
    snapshot = apply(snapshot, decisions, now)     # replays: carry it all out at once
"""

from quarterdeck.queueing.cycle import cycle
from quarterdeck.queueing.decisions import Admit, Decisions, Pending, PendingReason, Preempt, apply
from quarterdeck.queueing.gpus import GpuPlacer
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
from quarterdeck.queueing.nodes import FunctionPlacer, NodeCapacity, NodeView, Placer
from quarterdeck.queueing.snapshot import admission_of, snapshot_from_objects

__all__ = [
    "Admit",
    "AdmittedWorkload",
    "ClusterQueue",
    "Cohort",
    "Decisions",
    "Flavor",
    "FlavorQuota",
    "FunctionPlacer",
    "GpuPlacer",
    "Node",
    "NodeCapacity",
    "NodeView",
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
    "cycle",
    "snapshot_from_objects",
]
