"""The queueing kinds as CRDs, generated from the msgspec types by `quarterdeck.api.crd`.

Regenerate the committed manifests with
`python -m quarterdeck.api.crd quarterdeck.api.queueing deploy/crds`.
"""

from __future__ import annotations

from typing import Any

from quarterdeck.api.crd import KindSpec, PrinterColumn, crd
from quarterdeck.api.queueing.check import AdmissionCheck, ProvisioningRequestConfig
from quarterdeck.api.queueing.clusterqueue import ClusterQueue, Cohort, LocalQueue
from quarterdeck.api.queueing.config import QueueingConfig
from quarterdeck.api.queueing.flavor import ResourceFlavor, Topology
from quarterdeck.api.queueing.meta import GROUP, VERSION
from quarterdeck.api.queueing.workload import Workload, WorkloadPriorityClass

CATEGORIES = ("quarterdeck", "queueing")


def _kind(
    tp: type[Any],
    plural: str,
    scope: str,
    short: tuple[str, ...] = (),
    columns: tuple[PrinterColumn, ...] = (),
) -> KindSpec:
    return KindSpec(tp, GROUP, VERSION, plural, scope, short, CATEGORIES, columns)


KINDS: tuple[KindSpec, ...] = (
    _kind(
        AdmissionCheck,
        "admissionchecks",
        "Cluster",
        (),
        (PrinterColumn("Controller", ".spec.controllerName"),),
    ),
    _kind(ProvisioningRequestConfig, "provisioningrequestconfigs", "Cluster"),
    _kind(ResourceFlavor, "resourceflavors", "Cluster", ("flavor", "rf")),
    _kind(Topology, "topologies", "Cluster"),
    _kind(Cohort, "cohorts", "Cluster", (), (PrinterColumn("Parent", ".spec.parentName"),)),
    _kind(
        ClusterQueue,
        "clusterqueues",
        "Cluster",
        ("cq",),
        (
            PrinterColumn("Cohort", ".spec.cohort"),
            PrinterColumn("Strategy", ".spec.queueingStrategy"),
            PrinterColumn("Pending", ".status.pendingWorkloads", "integer"),
            PrinterColumn("Admitted", ".status.admittedWorkloads", "integer"),
        ),
    ),
    _kind(
        LocalQueue,
        "localqueues",
        "Namespaced",
        ("queue", "lq"),
        (
            PrinterColumn("ClusterQueue", ".spec.clusterQueue"),
            PrinterColumn("Pending", ".status.pendingWorkloads", "integer"),
            PrinterColumn("Admitted", ".status.admittedWorkloads", "integer"),
        ),
    ),
    _kind(
        Workload,
        "workloads",
        "Namespaced",
        ("wl",),
        (
            PrinterColumn("Queue", ".spec.queueName"),
            PrinterColumn("Reserved in", ".status.admission.clusterQueue"),
            PrinterColumn("Admitted", '.status.conditions[?(@.type=="Admitted")].status'),
        ),
    ),
    _kind(WorkloadPriorityClass, "workloadpriorityclasses", "Cluster", ("wpc",)),
    _kind(
        QueueingConfig,
        "queueingconfigs",
        "Cluster",
        (),
        (
            PrinterColumn("Policy", ".spec.placement.policy"),
            PrinterColumn("FairSharing", ".spec.fairSharing.enable", "boolean"),
        ),
    ),
)


def all_crds() -> list[dict[str, Any]]:
    """Every queueing CRD, in an order safe to apply."""
    return [crd(kind) for kind in KINDS]
