"""Health of Cluster API and Crossplane objects: what "done" means for infrastructure.

Pure, and free of delivery's types (``delivery.health`` consults ``infrastructure_health``
and wraps the answer), so either module imports without the other.

Cluster API v1beta2 summarises each object in an ``Available`` condition (v1beta1 used
``Ready``, still found under ``status.deprecated.v1beta1`` and on older objects); a
``Failed`` phase or a ``failureReason`` is terminal. Crossplane's managed and composite
resources carry ``Synced`` (the last reconcile reached the provider) and ``Ready`` (the
external resource is usable): Synced False is an error, Ready False is still coming.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

Status = Literal["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"]
Verdict = tuple[Status, str]
Obj = Mapping[str, Any]
CLUSTER_API_GROUPS = ("cluster.x-k8s.io", "controlplane.cluster.x-k8s.io")


def _conditions(obj: Obj) -> list[Mapping[str, Any]]:
    status = obj.get("status") or {}
    conds = list(status.get("conditions") or [])
    deprecated = ((status.get("deprecated") or {}).get("v1beta1") or {}).get("conditions") or []
    return [c for c in [*conds, *deprecated] if isinstance(c, Mapping)]


def _condition(obj: Obj, type_: str) -> Mapping[str, Any] | None:
    return next((c for c in _conditions(obj) if c.get("type") == type_), None)


def _says(obj: Obj, type_: str) -> str | None:
    cond = _condition(obj, type_)
    return None if cond is None else str(cond.get("status"))


def _why(obj: Obj, type_: str) -> str:
    cond = _condition(obj, type_) or {}
    return str(cond.get("message") or cond.get("reason") or f"{type_} is not True")


def _generation_pending(obj: Obj) -> bool:
    gen = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    return gen is not None and (observed is None or observed < gen)


def _cluster_api(obj: Obj, replicas: bool) -> Verdict:
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    if spec.get("paused") or _says(obj, "Paused") == "True":
        return "Suspended", "paused"
    failure = status.get("failureMessage") or status.get("failureReason")
    if str(status.get("phase", "")) == "Failed" or failure:
        return "Degraded", str(failure or "phase Failed")
    if status and _generation_pending(obj):
        return "Progressing", "waiting for the controller to observe the latest spec"
    if replicas and "replicas" in spec:
        want = int(spec.get("replicas") or 0)
        ready = int(status.get("readyReplicas") or 0)
        if ready < want:
            return "Progressing", f"{ready} of {want} replicas ready"
    for type_ in ("Available", "Ready"):  # v1beta2's summary first, then v1beta1's
        said = _says(obj, type_)
        if said == "True":
            return "Healthy", ""
        if said is not None:
            return "Progressing", _why(obj, type_)
    if str(status.get("phase", "")) in ("Provisioned", "Running"):
        return "Healthy", ""
    return "Progressing", f"phase {status.get('phase') or 'unknown'}"


def _cluster(obj: Obj) -> Verdict:
    return _cluster_api(obj, replicas=False)


def _replicated(obj: Obj) -> Verdict:
    return _cluster_api(obj, replicas=True)


def _machine(obj: Obj) -> Verdict:
    status = obj.get("status") or {}
    if str(status.get("phase", "")) == "Failed" or status.get("failureReason"):
        return "Degraded", str(
            status.get("failureMessage") or status.get("failureReason") or "phase Failed"
        )
    if _says(obj, "Ready") == "True" or _says(obj, "Available") == "True":
        return "Healthy", ""
    if str(status.get("phase", "")) == "Running" and not _conditions(obj):
        return "Healthy", ""
    return "Progressing", _why(obj, "Ready") if _condition(
        obj, "Ready"
    ) else f"phase {status.get('phase') or 'Pending'}"


_RULES: dict[tuple[str, str], Callable[[Obj], Verdict]] = {
    ("cluster.x-k8s.io", "Cluster"): _cluster,
    ("cluster.x-k8s.io", "MachineDeployment"): _replicated,
    ("cluster.x-k8s.io", "MachineSet"): _replicated,
    ("cluster.x-k8s.io", "MachinePool"): _replicated,
    ("cluster.x-k8s.io", "Machine"): _machine,
    ("controlplane.cluster.x-k8s.io", "KubeadmControlPlane"): _replicated,
}


def crossplane(obj: Obj) -> Verdict | None:
    """A managed or composite resource, told by its ``Synced`` condition (Crossplane's
    own); None for an object without one."""
    synced = _says(obj, "Synced")
    if synced is None:
        return None
    if synced == "False":
        return "Degraded", _why(obj, "Synced")
    ready = _says(obj, "Ready")
    if synced == "True" and ready == "True":
        return "Healthy", ""
    if ready == "False":
        return "Progressing", _why(obj, "Ready")
    return "Progressing", "waiting for Synced and Ready"


def infrastructure_health(obj: Obj) -> Verdict | None:
    """The health of a Cluster API or Crossplane object; None for any other kind."""
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    rule = _RULES.get((group, str(obj.get("kind", ""))))
    if rule is not None:
        return rule(obj)
    return crossplane(obj)


def cluster_api_ready(cluster: Obj) -> bool:
    """Whether a Cluster API Cluster is up: what its registration (and so its addons)
    waits for. Its summary condition alone decides: a spec edit still being observed
    (a scale-up) does not take a running cluster out of the fleet."""
    meta = cluster.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return False
    for type_ in ("Available", "Ready"):
        said = _says(cluster, type_)
        if said is not None:
            return said == "True"
    return False
