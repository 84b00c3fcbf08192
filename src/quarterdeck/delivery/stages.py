"""Apply order: CRDs and Namespaces, then cluster-scoped objects, then namespaced ones.

Whether a kind is cluster-scoped comes from discovery in the shell; a default set
of the well-known built-in kinds covers renders made with no cluster at hand.
"""

from __future__ import annotations

from collections.abc import Iterable

from quarterdeck.delivery.manifests import Key, Obj, group_of

GroupKind = tuple[str, str]

FOUNDATION: frozenset[GroupKind] = frozenset(
    {("apiextensions.k8s.io", "CustomResourceDefinition"), ("", "Namespace")}
)
CLUSTER_SCOPED: frozenset[GroupKind] = FOUNDATION | {
    ("", "Node"),
    ("", "PersistentVolume"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("networking.k8s.io", "IngressClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("apiregistration.k8s.io", "APIService"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
}
STAGES = ("foundation", "cluster", "namespaced")

# Within a stage objects are applied concurrently; this order only makes plans stable
# and puts what others reference (accounts, config) ahead of what references it.
_KIND_ORDER = (
    "Namespace",
    "CustomResourceDefinition",
    "PriorityClass",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Role",
    "RoleBinding",
    "Service",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Ingress",
)


def cluster_scoped_kinds(crds: Iterable[Obj], known: frozenset[GroupKind]) -> frozenset[GroupKind]:
    """``known`` plus the cluster-scoped kinds that CRDs in the same render define."""
    extra = set()
    for crd in crds:
        spec = crd.get("spec") or {}
        if spec.get("scope") == "Cluster":
            extra.add((str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", ""))))
    return known | extra


def stage_of(key: Key, cluster_scoped: frozenset[GroupKind]) -> int:
    """0 for CRDs and Namespaces, 1 for other cluster-scoped kinds, 2 for the rest."""
    gk = (key.group, key.kind)
    if gk in FOUNDATION:
        return 0
    return 1 if gk in cluster_scoped else 2


def sort_key(key: Key) -> tuple[int, Key]:
    """Stable order inside a stage: well-known kinds first, then by identity."""
    rank = _KIND_ORDER.index(key.kind) if key.kind in _KIND_ORDER else len(_KIND_ORDER)
    return (rank, key)


def with_namespace(obj: Obj, default: str, cluster_scoped: frozenset[GroupKind]) -> Obj:
    """``obj`` with its namespace filled for namespaced kinds and cleared for cluster ones."""
    gk = (group_of(str(obj["apiVersion"])), str(obj["kind"]))
    meta = obj.get("metadata") or {}
    if gk in cluster_scoped:
        if not meta.get("namespace"):
            return obj
        return {**obj, "metadata": {k: v for k, v in meta.items() if k != "namespace"}}
    if meta.get("namespace"):
        return obj
    return {**obj, "metadata": {**meta, "namespace": default}}
