"""The ``fleet.quarterdeck.dev/v1alpha1`` API: ManagedCluster and ClusterSet.

A ManagedCluster is one registered cluster: the registry writes it (from a kubeconfig
Secret or a Cluster API ``Cluster``), its labels are the ones ClusterSets select on, and
its status says whether the cluster answers (version, nodes, GPUs, last contact), the
way Open Cluster Management's ManagedCluster and Argo CD's cluster Secrets do.

A ClusterSet stamps one Application per selected cluster from a template, in waves
(Sveltos' ClusterProfile, Argo CD's ApplicationSet cluster generator with progressive
syncs). The types are the single definition; the CRDs are generated from them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from quarterdeck.api.crd import KindSpec, PrinterColumn
from quarterdeck.api.delivery import ApplicationSpec
from quarterdeck.api.meta import Condition, LocalReference, ObjectMeta

GROUP = "fleet.quarterdeck.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
_READY = '.status.conditions[?(@.type=="Ready")]'

SourceKind = Literal["Secret", "ClusterAPI"]


class ClusterSource(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Where the registration came from: a kubeconfig Secret, or a Cluster API Cluster
    (whose ``<name>-kubeconfig`` Secret holds the kubeconfig under ``value``)."""

    kind: SourceKind
    name: str
    namespace: str = ""


class ManagedClusterSpec(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Written by the registry, not by users: edits are overwritten."""

    source: ClusterSource
    server: str = ""


class GpuCount(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """GPUs of one model (``nvidia.com/gpu.product``) across the cluster's nodes."""

    model: str
    allocatable: int = 0
    nodes: int = 0


class ManagedClusterStatus(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    conditions: list[Condition] = []
    reachable: bool = False
    server_version: str = ""
    nodes: int = 0
    ready_nodes: int = 0
    gpus: list[GpuCount] = []
    last_contact: str = ""  # RFC 3339 of the last answer from the cluster


class ManagedCluster(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """One registered cluster (cluster-scoped)."""

    api_version: str = API_VERSION
    kind: str = "ManagedCluster"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ManagedClusterSpec
    status: ManagedClusterStatus | None = None


class LabelSelectorRequirement(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    key: Annotated[str, msgspec.Meta(min_length=1)]
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = []


class LabelSelector(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """A metav1.LabelSelector; empty selects every registered cluster."""

    match_labels: dict[str, str] = {}
    match_expressions: list[LabelSelectorRequirement] = []


class Rollout(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Order across clusters: waves by the value of ``waveLabel`` (numeric values in
    numeric order, then the rest by name; clusters without the label last), at most
    ``maxConcurrent`` clusters of a wave moving at once, and no wave before the one
    ahead of it is healthy."""

    wave_label: str = ""
    max_concurrent: Annotated[int, msgspec.Meta(ge=1)] = 1_000_000


class ClusterSetSpec(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    cluster_selector: LabelSelector = msgspec.field(default_factory=LabelSelector)
    source_ref: Annotated[
        LocalReference, msgspec.Meta(description="The Source whose revision is rolled out.")
    ]
    template: Annotated[
        ApplicationSpec,
        msgspec.Meta(
            description="The Application stamped per cluster; destination.cluster, "
            "sourceRef and revision are set by the ClusterSet."
        ),
    ]
    rollout: Rollout = msgspec.field(default_factory=Rollout)
    suspend: bool = False


class ClusterRollout(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Where one selected cluster stands."""

    cluster: str
    application: str
    wave: str = ""
    revision: str = ""  # the revision its Application is pinned to
    state: Literal["Pending", "Progressing", "Healthy", "Unhealthy", "Unknown"] = "Pending"
    message: str = ""


class ClusterSetStatus(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    conditions: list[Condition] = []
    observed_generation: int = 0
    revision: str = ""  # the Source revision being rolled out
    selected: int = 0
    healthy: int = 0
    current_wave: str = ""
    clusters: list[ClusterRollout] = []


class ClusterSet(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    api_version: str = API_VERSION
    kind: str = "ClusterSet"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ClusterSetSpec
    status: ClusterSetStatus | None = None


def decode_managed_cluster(raw: dict[str, Any]) -> ManagedCluster:
    return msgspec.convert(raw, ManagedCluster)


def decode_cluster_set(raw: dict[str, Any]) -> ClusterSet:
    return msgspec.convert(raw, ClusterSet)


KINDS = (
    KindSpec(
        ManagedCluster,
        GROUP,
        VERSION,
        "managedclusters",
        scope="Cluster",
        short_names=("qmc",),
        categories=("quarterdeck",),
        columns=(
            PrinterColumn("Server", ".spec.server"),
            PrinterColumn("Reachable", ".status.reachable", type="boolean"),
            PrinterColumn("Version", ".status.serverVersion"),
            PrinterColumn("Nodes", ".status.nodes", type="integer"),
            PrinterColumn("Ready", f"{_READY}.status"),
            PrinterColumn("Status", f"{_READY}.message", priority=1),
            PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
        ),
    ),
    KindSpec(
        ClusterSet,
        GROUP,
        VERSION,
        "clustersets",
        short_names=("qcs",),
        categories=("quarterdeck",),
        columns=(
            PrinterColumn("Revision", ".status.revision"),
            PrinterColumn("Selected", ".status.selected", type="integer"),
            PrinterColumn("Healthy", ".status.healthy", type="integer"),
            PrinterColumn("Wave", ".status.currentWave"),
            PrinterColumn("Ready", f"{_READY}.status"),
            PrinterColumn("Status", f"{_READY}.message"),
        ),
    ),
)
