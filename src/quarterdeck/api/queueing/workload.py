"""Workload (the unit of admission) and WorkloadPriorityClass."""

from __future__ import annotations

from typing import Any, ClassVar

from quarterdeck.api.meta import Condition, ObjectMeta
from quarterdeck.api.queueing.check import AdmissionCheckState
from quarterdeck.api.queueing.meta import API_VERSION, Quantity, Spec
from quarterdeck.api.queueing.quantity import QuantityError, to_milli

# Condition types, as in Kueue.
QUOTA_RESERVED = "QuotaReserved"
ADMITTED = "Admitted"
EVICTED = "Evicted"
FINISHED = "Finished"
PREEMPTED = "Preempted"  # reason: InClusterQueue, InCohortReclamation, ... (as Kueue)


class PodSetTopologyRequest(Spec, kw_only=True):
    """Keep a pod set inside one domain of a topology level (e.g. a rack)."""

    required: str | None = None
    preferred: str | None = None
    unconstrained: bool | None = None


class PodSet(Spec, kw_only=True):
    """`count` identical pods described by `template` (a core/v1 PodTemplateSpec)."""

    name: str = "main"
    count: int = 1
    min_count: int | None = None
    template: dict[str, Any] = {}
    topology_request: PodSetTopologyRequest | None = None


class WorkloadSpec(Spec, kw_only=True):
    pod_sets: list[PodSet]
    queue_name: str | None = None
    priority_class_name: str | None = None
    priority: int | None = None
    priority_class_source: str | None = None
    active: bool = True


class TopologyDomainAssignment(Spec, kw_only=True):
    values: list[str]
    count: int


class TopologyAssignment(Spec, kw_only=True):
    """Where the pods go; with levels [kubernetes.io/hostname] the values are node names."""

    levels: list[str]
    domains: list[TopologyDomainAssignment]


class PodDeviceAssignment(Spec, kw_only=True):
    """quarterdeck's own: the node of one pod and the GPU indices it holds there."""

    node: str
    gpus: list[int] = []


class PodSetAssignment(Spec, kw_only=True):
    """`devices` (ours, not Kueue's) records which GPUs placement chose for each pod, so
    the next pass starts from the exact device state (shares stay on their GPU)."""

    name: str
    flavors: dict[str, str] = {}
    resource_usage: dict[str, Quantity] = {}
    count: int | None = None
    topology_assignment: TopologyAssignment | None = None
    devices: list[PodDeviceAssignment] | None = None


class Admission(Spec, kw_only=True):
    cluster_queue: str
    pod_set_assignments: list[PodSetAssignment] = []


class RequeueState(Spec, kw_only=True):
    count: int | None = None
    requeue_at: str | None = None


class WorkloadStatus(Spec, kw_only=True):
    admission: Admission | None = None
    conditions: list[Condition] = []
    requeue_state: RequeueState | None = None
    admission_checks: list[AdmissionCheckState] = []

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    def is_true(self, type_: str) -> bool:
        cond = self.condition(type_)
        return cond is not None and cond.status == "True"


class Workload(Spec, kw_only=True):
    KIND: ClassVar[str] = "Workload"
    api_version: str = API_VERSION
    kind: str = "Workload"
    metadata: ObjectMeta
    spec: WorkloadSpec
    status: WorkloadStatus | None = None


class WorkloadPriorityClass(Spec, kw_only=True):
    """A priority for workloads that does not touch pod priority (unlike PriorityClass)."""

    KIND: ClassVar[str] = "WorkloadPriorityClass"
    api_version: str = API_VERSION
    kind: str = "WorkloadPriorityClass"
    metadata: ObjectMeta
    value: int
    description: str = ""


GPU_SHARE_ANNOTATION = "quarterdeck.dev/gpu-milli"
"""A share of one GPU in milli-GPUs (`"500"`: half of one), on a pod asking for no whole
GPU or MIG instance: Kubernetes extended resources cannot be fractional."""


def pod_requests(template: dict[str, Any], where: str) -> dict[str, int]:
    """Per-pod requests in milli-units, as Kubernetes sizes a pod (KEP-753).

    Containers add up; native sidecars (init containers with `restartPolicy: Always`)
    run beside them and add too; each other init container runs alone beside the
    sidecars started before it; the pod needs the larger of the two, plus overhead.
    A share asked for by `GPU_SHARE_ANNOTATION` counts as that much `nvidia.com/gpu`.
    """
    spec = template.get("spec") or {}
    if not isinstance(spec, dict):
        raise QuantityError(f"{where}.spec: expected an object")
    total: dict[str, int] = {}
    for i, container in enumerate(spec.get("containers") or []):
        for res, milli in _requests(container, f"{where}.spec.containers[{i}]").items():
            total[res] = total.get(res, 0) + milli
    sidecars: dict[str, int] = {}  # sidecars started so far
    init_peak: dict[str, int] = {}
    for i, container in enumerate(spec.get("initContainers") or []):
        own = _requests(container, f"{where}.spec.initContainers[{i}]")
        if isinstance(container, dict) and container.get("restartPolicy") == "Always":
            for res, milli in own.items():
                total[res] = total.get(res, 0) + milli
                sidecars[res] = sidecars.get(res, 0) + milli
            during = dict(sidecars)
        else:
            during = {r: own.get(r, 0) + sidecars.get(r, 0) for r in {*own, *sidecars}}
        for res, milli in during.items():
            init_peak[res] = max(init_peak.get(res, 0), milli)
    for res, milli in init_peak.items():
        total[res] = max(total.get(res, 0), milli)
    for res, value in (spec.get("overhead") or {}).items():
        total[res] = total.get(res, 0) + to_milli(value, f"{where}.spec.overhead.{res}")
    notes = (template.get("metadata") or {}).get("annotations") or {}
    share = notes.get(GPU_SHARE_ANNOTATION)
    if share is not None and not any(
        v for r, v in total.items() if r == "nvidia.com/gpu" or r.startswith("nvidia.com/mig-")
    ):
        field = f"{where}.metadata.annotations[{GPU_SHARE_ANNOTATION}]"
        milli = to_milli(share, field)
        if milli % 1000 or not 0 < milli // 1000 < 1000:
            raise QuantityError(f"{field}: a share of one GPU is 1..999 milli-GPUs, got {share!r}")
        total["nvidia.com/gpu"] = milli // 1000
    return total


def _requests(container: Any, where: str) -> dict[str, int]:
    if not isinstance(container, dict):
        raise QuantityError(f"{where}: expected an object")
    resources = container.get("resources") or {}
    # Kubernetes defaults requests to limits when only limits are set.
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {res: to_milli(v, f"{where}.resources.requests.{res}") for res, v in merged.items()}
