"""``health(obj) -> Health``: is a live object doing what it was applied for?

Pure. Built-in rules for the workload and core kinds, then kstatus conventions
(observedGeneration, Ready/Reconciling/Stalled conditions) for anything else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from quarterdeck.fleet.health import infrastructure_health

HealthStatus = Literal["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"]
# Worst first: aggregate() reports the first status present in this order.
SEVERITY: tuple[HealthStatus, ...] = (
    "Degraded",
    "Missing",
    "Progressing",
    "Unknown",
    "Suspended",
    "Healthy",
)
_BAD_WAITING = {
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "InvalidImageName",
    "CreateContainerError",
    "RunContainerError",
}

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Health:
    """A health status and a human-readable reason."""

    status: HealthStatus
    message: str = ""


HEALTHY = Health("Healthy")


def _status(obj: Obj) -> Mapping[str, Any]:
    return obj.get("status") or {}


def _spec(obj: Obj) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def condition(obj: Obj, type_: str) -> Mapping[str, Any] | None:
    """The status condition of ``type_``, if any."""
    for cond in _status(obj).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == type_:
            return cond
    return None


def _is(obj: Obj, type_: str, status: str = "True") -> bool:
    cond = condition(obj, type_)
    return cond is not None and cond.get("status") == status


def _msg(obj: Obj, type_: str) -> str:
    cond = condition(obj, type_) or {}
    return str(cond.get("message") or cond.get("reason") or "")


def _generation_pending(obj: Obj) -> Health | None:
    gen = (obj.get("metadata") or {}).get("generation")
    observed = _status(obj).get("observedGeneration")
    if gen is not None and (observed is None or observed < gen):
        return Health("Progressing", "waiting for the controller to observe the latest spec")
    return None


def _deployment(obj: Obj) -> Health:
    if _spec(obj).get("paused"):
        return Health("Suspended", "deployment is paused")
    pending = _generation_pending(obj)
    if pending:
        return pending
    progressing = condition(obj, "Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health("Degraded", str(progressing.get("message") or "progress deadline exceeded"))
    want = int(_spec(obj).get("replicas", 1))
    st = _status(obj)
    updated, available = int(st.get("updatedReplicas", 0)), int(st.get("availableReplicas", 0))
    if updated < want:
        return Health("Progressing", f"{updated} of {want} replicas updated")
    if int(st.get("replicas", 0)) > updated:
        return Health("Progressing", "old replicas are pending termination")
    if available < want:
        return Health("Progressing", f"{available} of {want} replicas available")
    return HEALTHY


def _statefulset(obj: Obj) -> Health:
    pending = _generation_pending(obj)
    if pending:
        return pending
    want, st = int(_spec(obj).get("replicas", 1)), _status(obj)
    ready = int(st.get("readyReplicas", 0))
    if ready < want:
        return Health("Progressing", f"{ready} of {want} replicas ready")
    strategy = (_spec(obj).get("updateStrategy") or {}).get("type", "RollingUpdate")
    if strategy == "RollingUpdate" and st.get("updateRevision") != st.get("currentRevision"):
        return Health("Progressing", f"{st.get('updatedReplicas', 0)} of {want} replicas updated")
    return HEALTHY


def _daemonset(obj: Obj) -> Health:
    pending = _generation_pending(obj)
    if pending:
        return pending
    st = _status(obj)
    want = int(st.get("desiredNumberScheduled", 0))
    updated, available = int(st.get("updatedNumberScheduled", 0)), int(st.get("numberAvailable", 0))
    if updated < want:
        return Health("Progressing", f"{updated} of {want} pods updated")
    if available < want:
        return Health("Progressing", f"{available} of {want} pods available")
    return HEALTHY


def _replicaset(obj: Obj) -> Health:
    if _is(obj, "ReplicaFailure"):
        return Health("Degraded", _msg(obj, "ReplicaFailure"))
    pending = _generation_pending(obj)
    if pending:
        return pending
    want, available = (
        int(_spec(obj).get("replicas", 1)),
        int(_status(obj).get("availableReplicas", 0)),
    )
    if available < want:
        return Health("Progressing", f"{available} of {want} replicas available")
    return HEALTHY


def _pod(obj: Obj) -> Health:
    st = _status(obj)
    phase = st.get("phase", "Pending")
    if phase == "Succeeded":
        return Health("Healthy", "pod completed")
    if phase == "Failed":
        return Health("Degraded", str(st.get("message") or st.get("reason") or "pod failed"))
    for cs in (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _BAD_WAITING:
            return Health(
                "Degraded",
                f"container {cs.get('name')}: {waiting['reason']}: "
                f"{waiting.get('message', '')}".rstrip(": "),
            )
    if phase == "Running" and _is(obj, "Ready"):
        return HEALTHY
    if _is(obj, "PodScheduled", "False"):
        return Health("Progressing", _msg(obj, "PodScheduled"))
    return Health("Progressing", f"pod is {phase}")


def _job(obj: Obj) -> Health:
    if _is(obj, "Failed"):
        return Health("Degraded", _msg(obj, "Failed") or "job failed")
    if _is(obj, "Complete"):
        return Health("Healthy", "job completed")
    if _spec(obj).get("suspend"):
        return Health("Suspended", "job is suspended")
    return Health("Progressing", f"{_status(obj).get('active', 0)} pods active")


def _load_balanced(obj: Obj) -> Health:
    if obj.get("kind") == "Service" and _spec(obj).get("type") != "LoadBalancer":
        return HEALTHY
    if (_status(obj).get("loadBalancer") or {}).get("ingress"):
        return HEALTHY
    return Health("Progressing", "waiting for a load balancer address")


def _pvc(obj: Obj) -> Health:
    phase = _status(obj).get("phase")
    if phase == "Bound":
        return HEALTHY
    if phase == "Lost":
        return Health("Degraded", "claim lost its volume")
    return Health("Progressing", f"claim is {phase or 'Pending'}")


def _crd(obj: Obj) -> Health:
    if _is(obj, "NamesAccepted", "False"):
        return Health("Degraded", _msg(obj, "NamesAccepted"))
    if _is(obj, "Established"):
        return HEALTHY
    return Health("Progressing", "waiting for the definition to be established")


def _namespace(obj: Obj) -> Health:
    phase = _status(obj).get("phase", "Active")
    return HEALTHY if phase == "Active" else Health("Progressing", f"namespace is {phase}")


def _apiservice(obj: Obj) -> Health:
    if _is(obj, "Available"):
        return HEALTHY
    return Health("Progressing", _msg(obj, "Available") or "waiting for the API to be available")


def kstatus(obj: Obj) -> Health:
    """kstatus conventions for kinds without built-in rules."""
    if _is(obj, "Stalled"):
        return Health("Degraded", _msg(obj, "Stalled"))
    pending = _generation_pending(obj) if _status(obj) else None
    if pending:
        return pending
    if _is(obj, "Reconciling"):
        return Health("Progressing", _msg(obj, "Reconciling"))
    if _is(obj, "Ready", "False"):
        return Health("Progressing", _msg(obj, "Ready"))
    return HEALTHY


_RULES: dict[tuple[str, str], Callable[[Obj], Health]] = {
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("apps", "ReplicaSet"): _replicaset,
    ("", "Pod"): _pod,
    ("batch", "Job"): _job,
    ("", "Service"): _load_balanced,
    ("networking.k8s.io", "Ingress"): _load_balanced,
    ("", "PersistentVolumeClaim"): _pvc,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
    ("", "Namespace"): _namespace,
    ("apiregistration.k8s.io", "APIService"): _apiservice,
    ("delivery.quarterdeck.dev", "Rollout"): lambda obj: _rollout(obj),
}


def _rollout(obj: Obj) -> Health:
    """A Rollout by the phase its controller writes: Degraded says why it aborted."""
    status = _status(obj)
    generation = (obj.get("metadata") or {}).get("generation", 0)
    message = str(status.get("message") or "")
    if status.get("observedGeneration", 0) < generation:
        return Health("Progressing", "rollout controller has not seen this generation yet")
    if status.get("phase") == "Degraded":
        return Health("Degraded", message or "rollout aborted")
    if status.get("phase") == "Healthy":
        return Health("Healthy", message)
    return Health("Progressing", message or "rolling out")


def health(obj: Obj | None) -> Health:
    """The health of a live object; None (not found) is Missing."""
    if obj is None:
        return Health("Missing", "object does not exist")
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return Health("Progressing", "object is being deleted")
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    rule = _RULES.get((group, str(obj.get("kind", ""))))
    if rule is None and (found := infrastructure_health(obj)) is not None:  # fleet's kinds
        return Health(*found)
    return (rule or kstatus)(obj)


def aggregate(healths: Iterable[Health]) -> Health:
    """The worst health of a set, with its message; Healthy when empty."""
    items = list(healths)
    for status in SEVERITY:
        for h in items:
            if h.status == status:
                return h
    return HEALTHY
