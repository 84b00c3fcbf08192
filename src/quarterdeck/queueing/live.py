"""The live queueing state of a cluster, read through one client: the shell's half.

Lists the queueing kinds, Nodes, Namespaces, and the pods that are not queued
workloads (their requests count as used node capacity), and builds the `Snapshot`
the pure cycle decides on. An object the API server accepted but our semantic
checks reject (say a negative quota) is left out and reported, so one bad object
does not blind the view of all others.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from lightkube import ApiError, Client
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Namespace, Pod
from lightkube.resources.core_v1 import Node as KubeNode

from quarterdeck.api.queueing import GROUP, VERSION, load_documents
from quarterdeck.api.queueing.manifests import ManifestError, QueueingObject
from quarterdeck.api.queueing.workload import pod_requests
from quarterdeck.queueing.jobs import queue_name
from quarterdeck.queueing.model import Node, Snapshot
from quarterdeck.queueing.snapshot import node_from_object, snapshot_from_objects

GLOBAL_KINDS = (
    ("ResourceFlavor", "resourceflavors"),
    ("Topology", "topologies"),
    ("Cohort", "cohorts"),
    ("ClusterQueue", "clusterqueues"),
    ("WorkloadPriorityClass", "workloadpriorityclasses"),
)
NAMESPACED_KINDS = (("LocalQueue", "localqueues"), ("Workload", "workloads"))


class QueueingNotInstalledError(RuntimeError):
    """The queueing CRDs are missing from the cluster."""


def _dict(obj: Any) -> dict[str, Any]:
    return cast(dict[str, Any], obj.to_dict())


def read_objects(client: Client) -> tuple[list[QueueingObject], list[str]]:
    """Every queueing object in the cluster, and one line per object left out."""
    docs: list[dict[str, Any]] = []
    try:
        for kind, plural in GLOBAL_KINDS:
            res = create_global_resource(GROUP, VERSION, kind, plural)
            docs += [_dict(o) for o in client.list(res)]
        for kind, plural in NAMESPACED_KINDS:
            nres = create_namespaced_resource(GROUP, VERSION, kind, plural)
            docs += [_dict(o) for o in client.list(nres, namespace="*")]
    except ApiError as err:
        if err.status.code == 404:
            raise QueueingNotInstalledError(
                "the queueing CRDs are not installed "
                "(qd queue crds -o yaml | kubectl apply --server-side -f -)"
            ) from err
        raise
    objects: list[QueueingObject] = []
    problems: list[str] = []
    for doc in docs:
        meta = doc.get("metadata") or {}
        where = "/".join(p for p in (meta.get("namespace"), meta.get("name")) if p)
        try:
            objects += load_documents([doc], f"{doc.get('kind')} {where}")
        except ManifestError as err:
            problems.append(str(err))
    return objects, problems


def read_nodes(client: Client) -> list[Node]:
    """Nodes with what pods outside queued Jobs already use on them."""
    queued = {
        ((doc.get("metadata") or {}).get("namespace"), (doc.get("metadata") or {}).get("name"))
        for doc in (_dict(job) for job in client.list(Job, namespace="*"))
        if queue_name(doc) is not None
    }
    used: dict[str, dict[str, int]] = {}
    for pod in client.list(Pod, namespace="*"):
        doc = _dict(pod)
        spec, meta = doc.get("spec") or {}, doc.get("metadata") or {}
        node = spec.get("nodeName")
        phase = (doc.get("status") or {}).get("phase")
        if not node or phase in ("Succeeded", "Failed") or _owned_by(meta, queued):
            continue
        per_node = used.setdefault(node, {})
        for res, v in pod_requests({"spec": spec}, f"pod {meta.get('name')}").items():
            per_node[res] = per_node.get(res, 0) + v
    nodes = []
    for n in client.list(KubeNode):
        doc = _dict(n)
        node = node_from_object(doc, "cluster")
        nodes.append(
            Node(node.name, node.labels, node.allocatable, used.get(node.name, {}), node.taints)
        )
    return nodes


def _owned_by(meta: dict[str, Any], jobs: Iterable[tuple[str | None, str | None]]) -> bool:
    owners = meta.get("ownerReferences") or []
    ns = meta.get("namespace")
    return any(o.get("kind") == "Job" and (ns, o.get("name")) in set(jobs) for o in owners)


def read_snapshot(
    client: Client, now: float, fair_sharing: bool = False
) -> tuple[Snapshot, list[QueueingObject], list[str]]:
    """The snapshot of the live cluster, the objects it came from, and those left out."""
    objects, problems = read_objects(client)
    namespaces = {
        n.metadata.name: dict(n.metadata.labels or {})
        for n in client.list(Namespace)
        if n.metadata is not None and n.metadata.name
    }
    snap = snapshot_from_objects(
        objects, nodes=read_nodes(client), namespaces=namespaces, now=now, fair_sharing=fair_sharing
    )
    return snap, objects, problems
