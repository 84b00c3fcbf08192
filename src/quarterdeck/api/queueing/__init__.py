"""queueing.quarterdeck.dev/v1alpha1: Kueue-shaped admission API (field names as in Kueue)."""

from quarterdeck.api.meta import ObjectMeta
from quarterdeck.api.queueing.check import AdmissionCheck
from quarterdeck.api.queueing.clusterqueue import (
    ClusterQueue,
    ClusterQueueSpec,
    Cohort,
    CohortSpec,
    FlavorQuotas,
    LocalQueue,
    LocalQueueSpec,
    ResourceGroup,
    ResourceQuota,
)
from quarterdeck.api.queueing.crd import KINDS, all_crds
from quarterdeck.api.queueing.flavor import ResourceFlavor, ResourceFlavorSpec, Topology
from quarterdeck.api.queueing.manifests import (
    ManifestError,
    QueueingObject,
    load_documents,
    load_files,
    load_manifests,
)
from quarterdeck.api.queueing.meta import API_VERSION, GROUP, VERSION
from quarterdeck.api.queueing.workload import (
    PodSet,
    Workload,
    WorkloadPriorityClass,
    WorkloadSpec,
    pod_requests,
)

__all__ = [
    "API_VERSION",
    "GROUP",
    "KINDS",
    "VERSION",
    "AdmissionCheck",
    "ClusterQueue",
    "ClusterQueueSpec",
    "Cohort",
    "CohortSpec",
    "FlavorQuotas",
    "LocalQueue",
    "LocalQueueSpec",
    "ManifestError",
    "ObjectMeta",
    "PodSet",
    "QueueingObject",
    "ResourceFlavor",
    "ResourceFlavorSpec",
    "ResourceGroup",
    "ResourceQuota",
    "Topology",
    "Workload",
    "WorkloadPriorityClass",
    "WorkloadSpec",
    "all_crds",
    "load_documents",
    "load_files",
    "load_manifests",
    "pod_requests",
]
