"""The live queueing state of a cluster, kept in watch caches: the shell's half.

`LiveView` holds one `Cache` per kind the controller reads (Jobs, Pods, Nodes,
Namespaces and the queueing kinds), fed by the process's shared informers
(`kube.informer`), so a pass makes no list call at all; `qd queue list|why` and
`qd queue reconcile --once` fill it with one list per kind. Decoding is paid once
per object version: queueing objects are decoded when their resourceVersion
changes, finished Workloads are set aside, and node usage by other pods is read
from an index of running pods per node, so finished Jobs and their pods cost
nothing per pass.

An object the API server accepted but our semantic checks reject (say a negative
quota) is left out and reported, so one bad object does not blind the view.

A Workload whose admission is still on its way to the API server (the operator's
passes do not wait for it, `inflight`) is read as that write will leave it
(`intend`) until the write has answered (`withdraw`): the next pass counts its quota.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
from lightkube import ApiError, Client
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Namespace, Pod
from lightkube.resources.core_v1 import Node as KubeNode
from lightkube.resources.resource_v1 import ResourceClaim, ResourceClaimTemplate

from quarterdeck.api.queueing import GROUP, VERSION, load_documents
from quarterdeck.api.queueing.manifests import ManifestError, QueueingObject, validate
from quarterdeck.api.queueing.quantity import QuantityError
from quarterdeck.api.queueing.workload import FINISHED, WorkloadStatus, pod_requests
from quarterdeck.api.queueing.workload import Workload as ApiWorkload
from quarterdeck.kube.informer import SharedInformers
from quarterdeck.queueing.config import (
    DEFAULT,
    ConfigError,
    QueueingConfig,
    config_from_objects,
)
from quarterdeck.queueing.dra import (
    DEVICE_CLASS_RESOURCES,
    ClaimDevices,
    ClaimError,
    ClaimKey,
    claim_devices,
)
from quarterdeck.queueing.jobs import JOB_NAME_LABEL, queue_name
from quarterdeck.queueing.model import Node, Snapshot
from quarterdeck.queueing.snapshot import (
    WorkloadMemo,
    node_from_object,
    snapshot_from_objects,
)
from quarterdeck.queueing.store import Cache, Key, Obj, key_of

GLOBAL_KINDS = (
    ("AdmissionCheck", "admissionchecks"),
    ("ProvisioningRequestConfig", "provisioningrequestconfigs"),
    ("ResourceFlavor", "resourceflavors"),
    ("Topology", "topologies"),
    ("Cohort", "cohorts"),
    ("ClusterQueue", "clusterqueues"),
    ("WorkloadPriorityClass", "workloadpriorityclasses"),
)
NAMESPACED_KINDS = (("LocalQueue", "localqueues"), ("Workload", "workloads"))
CONFIG_KIND = ("QueueingConfig", "queueingconfigs")
TERMINAL = ("Succeeded", "Failed")

# one object as last decoded: resourceVersion, what it decoded to (none when finished
# or refused), and why it was refused
_Decoded = tuple[str, list[QueueingObject], str]


class QueueingNotInstalledError(RuntimeError):
    """The queueing CRDs are missing from the cluster."""


def _queueing_resource(kind: str, plural: str) -> Any:
    if (kind, plural) in NAMESPACED_KINDS:
        return create_namespaced_resource(GROUP, VERSION, kind, plural)
    return create_global_resource(GROUP, VERSION, kind, plural)


def pod_index(pod: Obj) -> list[str]:
    """`job/<ns>/<job>` for a Job's pods, `node/<node>` for pods holding a node now."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    out = []
    job = (meta.get("labels") or {}).get(JOB_NAME_LABEL)
    if job:
        out.append(f"job/{meta.get('namespace')}/{job}")
    if spec.get("nodeName") and (pod.get("status") or {}).get("phase") not in TERMINAL:
        out.append(f"node/{spec['nodeName']}")
    return out


class LiveView:
    """Jobs, pods, nodes, namespaces and queueing objects, as of the caches."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.jobs = Cache(Job)
        self.pods = Cache(Pod, index=pod_index)
        self.nodes = Cache(KubeNode)
        self.namespaces = Cache(Namespace)
        self.queueing = {
            kind: Cache(_queueing_resource(kind, plural), track_changes=True)
            for kind, plural in GLOBAL_KINDS + NAMESPACED_KINDS
        }
        self.workloads = self.queueing["Workload"]
        # the one QueueingConfig (named `default`) that the simulator reads from a file
        self.configs = Cache(create_global_resource(GROUP, VERSION, *CONFIG_KIND))
        # per kind, in the cache's order: (namespace, name) -> (resourceVersion, decoded
        # objects, problem); kept up to date from the caches' changed keys
        self._decoded: dict[str, dict[Key, _Decoded]] = {kind: {} for kind in self.queueing}
        self._nodes: dict[str, tuple[str, Node]] = {}
        self._workloads = WorkloadMemo()  # conversions one snapshot leaves to the next
        # Workloads as writes in flight will leave them, and keys to decode again
        self._intents: dict[Key, Obj] = {}
        self._intents_moved: dict[Key, None] = {}
        self._intents_lock = threading.Lock()
        # resource.k8s.io/v1 claims (DRA), read only where the API server serves them
        self.claim_templates = Cache(ResourceClaimTemplate)
        self.resource_claims = Cache(ResourceClaim)
        self.dra: bool | None = None  # decided on the first fill or attach
        self._claims: dict[ClaimKey, tuple[str, ClaimDevices | None]] = {}

    def stores(self) -> list[Cache]:
        dra = [self.claim_templates, self.resource_claims] if self.dra else []
        return [
            self.jobs,
            self.pods,
            self.nodes,
            self.namespaces,
            self.configs,
            *self.queueing.values(),
            *dra,
        ]

    def _detect_dra(self) -> None:
        """Whether the API server serves resource.k8s.io/v1 claims to us (one list)."""
        if self.dra is None:
            try:
                next(iter(self.client.list(ResourceClaimTemplate, chunk_size=1)), None)
                self.dra = True
            except ApiError as err:
                if err.status.code not in (403, 404):
                    raise
                self.dra = False

    def claims(self) -> dict[ClaimKey, ClaimDevices]:
        """Devices of every ResourceClaim and ResourceClaimTemplate, by namespace and name
        (decoded once per resourceVersion; one that cannot be counted is left out, and
        pods naming it wait with the reason)."""
        if not self.dra:
            return {}
        out: dict[ClaimKey, ClaimDevices] = {}
        seen = set()
        for kind, store in (
            ("ResourceClaimTemplate", self.claim_templates),
            ("ResourceClaim", self.resource_claims),
        ):
            for doc in store.list():
                meta = doc.get("metadata") or {}
                key = (meta.get("namespace") or "", kind, meta.get("name") or "")
                seen.add(key)
                rv = str(meta.get("resourceVersion") or "")
                cached = self._claims.get(key)
                if cached is None or cached[0] != rv:
                    spec = doc.get("spec") or {}
                    if kind == "ResourceClaimTemplate":
                        spec = spec.get("spec") or {}
                    try:
                        devices: ClaimDevices | None = claim_devices(spec, f"{kind} {key[2]}")
                    except ClaimError:
                        devices = None
                    cached = (rv, devices)
                    self._claims[key] = cached
                if cached[1] is not None:
                    out[key] = cached[1]
        for key in [k for k in self._claims if k not in seen]:
            del self._claims[key]
        return out

    def config(self) -> tuple[QueueingConfig, str]:
        """The cluster's QueueingConfig, and why it was refused (then the defaults hold,
        as before the object was written, and the pass goes on)."""
        try:
            return config_from_objects(self.configs.list()), ""
        except ConfigError as err:
            return DEFAULT, f"{err} (using the defaults)"

    def fill(self) -> None:
        """List every kind once (no watch): a one-shot view."""
        try:
            self._detect_dra()
            for store in self.stores():
                store.fill(self.client)
        except ApiError as err:
            if err.status.code == 404:
                raise QueueingNotInstalledError(
                    "the queueing CRDs are not installed "
                    "(qd queue crds -o yaml | kubectl apply --server-side -f -)"
                ) from err
            raise

    def attach(self, informers: SharedInformers) -> None:
        """Read every kind from the process's shared informers (started by the caller)."""
        self._detect_dra()
        for store in self.stores():
            store.attach(informers.informer(store.resource))

    def detach(self) -> None:
        """Leave the shared informers (they go on for the process's other controllers)."""
        for store in self.stores():
            store.detach()

    def synced(self) -> bool:
        return all(store.has_synced() for store in self.stores())

    # -- decoded views ----------------------------------------------------------------------
    def objects(self) -> tuple[list[QueueingObject], list[str]]:
        """Every live queueing object (finished Workloads left out), and those rejected.

        Only the keys the caches changed since the last call are read again (decoded
        when their resourceVersion moved), so a pass over 15,000 Workloads of which ten
        changed decodes ten; the order is the caches' (the latest change last)."""
        objects: list[QueueingObject] = []
        problems: list[str] = []
        with self._intents_lock:
            intents = dict(self._intents)
            moved, self._intents_moved = self._intents_moved, {}
        for kind, store in self.queueing.items():
            decoded = self._decoded[kind]
            changed = store.drain_changed()
            if store is self.workloads and moved:
                changed = list(dict.fromkeys([*changed, *moved]))
            for key in changed:
                old = decoded.pop(key, None)
                intent = intents.get(key) if store is self.workloads else None
                doc = intent if intent is not None else store.get(*key)
                if doc is None:
                    continue
                rv = str((doc.get("metadata") or {}).get("resourceVersion") or "")
                rv += "+intent" if intent is not None else ""
                if old is None or old[0] != rv or not rv:
                    old = (rv, *_decode(doc))
                decoded[key] = old
            for _, objs, problem in decoded.values():
                if objs:
                    objects += objs
                if problem:
                    problems.append(problem)
        return objects, problems

    def workload_status(self, doc: Obj) -> WorkloadStatus:
        """Workload `doc`'s status, decoded. While `doc` is at the version the last
        `objects()` decoded, that decode (a pass that keeps 2,000 Jobs in step would
        otherwise decode 2,000 statuses again); call it from the thread that calls
        `objects()`."""
        rv = str((doc.get("metadata") or {}).get("resourceVersion") or "")
        entry = self._decoded["Workload"].get(key_of(doc))
        if rv and entry is not None and entry[0] == rv and entry[1]:
            wl = entry[1][0]
            if isinstance(wl, ApiWorkload):
                return wl.status or WorkloadStatus()
        return msgspec.convert(doc.get("status") or {}, WorkloadStatus)

    def intend(self, doc: Obj) -> None:
        """Read Workload `doc` as it will be once a write in flight has landed."""
        key = key_of(doc)
        with self._intents_lock:
            self._intents[key] = doc
            self._intents_moved[key] = None

    def withdraw(self, namespace: str, name: str) -> None:
        """The write has answered (or failed): read the cache's Workload again."""
        key = (namespace, name)
        with self._intents_lock:
            if self._intents.pop(key, None) is not None:
                self._intents_moved[key] = None

    def queued_jobs(self) -> dict[tuple[str, str], Obj]:
        """Jobs with a queue-name label, by (namespace, name)."""
        out = {}
        for job in self.jobs.list():
            if queue_name(job) is not None:
                meta = job["metadata"]
                out[(meta.get("namespace", ""), meta["name"])] = job
        return out

    def job_pods(self, namespace: str, job: str) -> list[Obj]:
        return self.pods.by_index(f"job/{namespace}/{job}")

    def node_list(self, queued: Iterable[tuple[str, str]]) -> list[Node]:
        """Nodes with what pods outside queued Jobs use on them now."""
        queued_set = set(queued)
        nodes = []
        for doc in self.nodes.list():
            meta = doc.get("metadata") or {}
            name, rv = meta.get("name") or "", str(meta.get("resourceVersion") or "")
            cached = self._nodes.get(name)
            if cached is None or cached[0] != rv:
                cached = (rv, node_from_object(doc, "cluster"))
                self._nodes[name] = cached
            node = cached[1]
            used: dict[str, int] = {}
            for pod in self.pods.by_index(f"node/{name}"):
                pmeta = pod.get("metadata") or {}
                job = (pmeta.get("labels") or {}).get(JOB_NAME_LABEL)
                if job and (pmeta.get("namespace", ""), job) in queued_set:
                    continue
                where = f"pod {pmeta.get('namespace')}/{pmeta.get('name')}"
                spec = {"spec": pod.get("spec") or {}}
                try:  # with its metadata: a GPU share (gpu-milli annotation) counts too
                    asked = pod_requests({"metadata": pmeta, **spec}, where)
                except QuantityError:  # a bad share annotation: what the spec asks
                    asked = pod_requests(spec, where)
                for res, v in asked.items():
                    used[res] = used.get(res, 0) + v
            nodes.append(Node(node.name, node.labels, node.allocatable, used, node.taints))
        return nodes

    def namespace_labels(self) -> dict[str, dict[str, str]]:
        return {
            (n.get("metadata") or {}).get("name", ""): dict(
                (n.get("metadata") or {}).get("labels") or {}
            )
            for n in self.namespaces.list()
        }

    def snapshot(
        self,
        now: float,
        fair_sharing: bool = False,
        device_classes: Mapping[str, str] = DEVICE_CLASS_RESOURCES,
        queued: Iterable[tuple[str, str]] | None = None,
    ) -> tuple[Snapshot, list[QueueingObject], list[str]]:
        """The snapshot the cycle decides on, the objects it came from, those left out;
        `device_classes` is the QueueingConfig's DeviceClass map; `queued`, the queued
        Jobs' keys if the caller has just read them (`queued_jobs`)."""
        objects, problems = self.objects()
        snap = snapshot_from_objects(
            objects,
            nodes=self.node_list(self.queued_jobs() if queued is None else queued),
            namespaces=self.namespace_labels(),
            now=now,
            fair_sharing=fair_sharing,
            claims=self.claims(),
            device_classes=device_classes,
            memo=self._workloads,
        )
        return snap, objects, problems


def _decode(doc: dict[str, Any]) -> tuple[list[QueueingObject], str]:
    meta = doc.get("metadata") or {}
    where = "/".join(p for p in (meta.get("namespace"), meta.get("name")) if p)
    try:
        if doc.get("kind") == "Workload":
            objs: list[QueueingObject] = [_workload(doc, f"Workload {where}")]
        else:
            objs = load_documents([doc], f"{doc.get('kind')} {where}")
    except ManifestError as err:
        return [], str(err)
    live = [
        o
        for o in objs
        if not (isinstance(o, ApiWorkload) and o.status is not None and o.status.is_true(FINISHED))
    ]
    return live, ""


def _workload(doc: dict[str, Any], where: str) -> ApiWorkload:
    """A Workload as the API server stores it. The manifest loader's unknown-field walk
    is for users' files (the server's schema already pruned unknown fields) and costs
    tens of milliseconds per object; with thousands of Workloads that is the pass."""
    try:
        wl = msgspec.convert(doc, ApiWorkload)
        validate(wl)
    except (msgspec.ValidationError, QuantityError, ValueError) as err:
        raise ManifestError(f"{where}: {err}") from err
    return wl


def read_view(client: Client) -> LiveView:
    """A view filled by one list per kind."""
    view = LiveView(client)
    view.fill()
    return view


def read_objects(client: Client) -> tuple[list[QueueingObject], list[str]]:
    """Every queueing object in the cluster (finished Workloads left out), and the
    ones rejected."""
    return read_view(client).objects()


def read_snapshot(
    client: Client, now: float, fair_sharing: bool = False
) -> tuple[Snapshot, list[QueueingObject], list[str]]:
    """The snapshot of the live cluster, the objects it came from, and those left out."""
    return read_view(client).snapshot(now, fair_sharing)
