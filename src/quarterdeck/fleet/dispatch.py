"""Which worker cluster a GPU gang goes to: placed whole on each, the least fragmenting wins.

Pure. MultiKueue hands a Workload to every worker and keeps the first that admits it; here
each worker's free capacity (its nodes minus what its pods already request) is a
``placement.ClusterState``, the gang is placed on each with the same ``placement.place``
the queueing controller uses, and the worker whose GPUs are least fragmented after the
gang (FGD's measure, for a target workload of gangs like this one) is chosen; ties go to
the tighter fit (fewer free GPUs left), then to the name. A worker where the gang does
not fit whole is never chosen, and every worker's reason is kept for the status.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from quarterdeck.placement.cluster import ClusterState
from quarterdeck.placement.fragmentation import TargetWorkload, cluster_fragmentation
from quarterdeck.placement.gang import commit, place
from quarterdeck.placement.model import Gang, NodeSpec, Request
from quarterdeck.placement.scorers import BestFit
from quarterdeck.policy.k8s_quantity import parse_quantity

GPU = "nvidia.com/gpu"
PRODUCT = "nvidia.com/gpu.product"
Obj = Mapping[str, Any]
_DONE = ("Succeeded", "Failed")


@dataclass(frozen=True)
class Choice:
    """The chosen worker ("" when none fits) and why each worker was or was not."""

    worker: str
    reasons: dict[str, str] = field(default_factory=dict)


def _amount(value: Any) -> Fraction:
    try:
        return parse_quantity(str(value))
    except (ValueError, ZeroDivisionError):
        return Fraction(0)


def _requests(pod: Obj) -> tuple[Fraction, Fraction, int]:
    cpu, mem, gpus = Fraction(0), Fraction(0), 0
    for c in (pod.get("spec") or {}).get("containers") or []:
        req = (c.get("resources") or {}).get("requests") or {}
        lim = (c.get("resources") or {}).get("limits") or {}
        cpu += _amount(req.get("cpu", 0))
        mem += _amount(req.get("memory", 0))
        gpus += int(_amount(req.get(GPU, lim.get(GPU, 0))))
    return cpu, mem, gpus


def free_state(nodes: Sequence[Obj], pods: Sequence[Obj]) -> ClusterState:
    """A worker's free capacity as a ClusterState: each Ready, schedulable node's
    allocatable minus the requests of the pods bound to it and not finished."""
    used: dict[str, tuple[Fraction, Fraction, int]] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or (pod.get("status") or {}).get("phase") in _DONE:
            continue
        c, m, g = _requests(pod)
        uc, um, ug = used.get(node, (Fraction(0), Fraction(0), 0))
        used[node] = (uc + c, um + m, ug + g)
    specs: list[NodeSpec] = []
    for node in nodes:
        meta, status = node.get("metadata") or {}, node.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        if not ready or (node.get("spec") or {}).get("unschedulable"):
            continue
        alloc = status.get("allocatable") or {}
        name = str(meta.get("name", ""))
        uc, um, ug = used.get(name, (Fraction(0), Fraction(0), 0))
        cpu = max(0, int((_amount(alloc.get("cpu", 0)) - uc) * 1000))
        mem = max(0, int((_amount(alloc.get("memory", 0)) - um) / (1 << 20)))
        gpus = max(0, int(_amount(alloc.get(GPU, 0))) - ug)
        model = str((meta.get("labels") or {}).get(PRODUCT, "")) if gpus else ""
        specs.append(NodeSpec(name, cpu, mem, gpus, model))
    return ClusterState(specs)


def gang_of(pod_template: Obj, count: int) -> Gang:
    """The gang a Job asks for: ``count`` pods (its parallelism) of its template's requests."""
    cpu, mem, gpus = _requests({"spec": (pod_template.get("spec") or {})})
    request = Request(
        cpu_milli=int(cpu * 1000),
        memory_mib=int(mem / (1 << 20)),
        gpu_count=gpus,
        gpu_milli=1000 if gpus else 0,
    )
    return Gang(request, max(1, count))


def choose_worker(workers: Mapping[str, ClusterState], gang: Gang) -> Choice:
    """The worker where ``gang`` fits whole and leaves the least fragmentation."""
    target = TargetWorkload.from_requests([gang.request] * gang.count)
    best: tuple[float, int, str] | None = None
    reasons: dict[str, str] = {}
    for name in sorted(workers):
        state = workers[name].copy()
        placed = place(state, gang, BestFit())
        if placed is None:
            reasons[name] = f"a gang of {gang.count} does not fit whole"
            continue
        commit(state, gang, placed)
        frag = float(cluster_fragmentation(target, state).sum())
        left = int(state.gpu_free.sum()) // 1000
        reasons[name] = f"fits; fragmentation after {frag / 1000:.1f} GPUs, {left} GPUs left"
        key = (frag, left, name)
        if best is None or key < best:
            best = key
    return Choice(best[2] if best is not None else "", reasons)


# --- the ClusterQueue's side: an AdmissionCheck whose controller is the fleet ---------


def _true(conds: Sequence[Obj], type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True" for c in conds)


def fleet_check(workload: Obj | None, fleet_checks: Collection[str]) -> Obj | None:
    """The fleet AdmissionCheck entry of a Workload that holds quota on the management
    cluster's ClusterQueue (reserved, or admitted after a requeue), neither evicted nor
    finished; None while it does not, or waits for no fleet check. Only such a
    Workload's Job is dispatched: the quota is checked where the queue is."""
    status = (workload or {}).get("status") or {}
    conds = status.get("conditions") or []
    if not _true(conds, "QuotaReserved") or _true(conds, "Evicted") or _true(conds, "Finished"):
        return None
    entries = status.get("admissionChecks") or []
    return next((c for c in entries if c.get("name") in fleet_checks), None)


def check_states(
    entries: Sequence[Obj], name: str, state: str, message: str, now: str
) -> list[dict[str, Any]] | None:
    """``status.admissionChecks`` with ``name`` set to ``state``/``message``; None when
    it says so already (no write). The time moves only when the state does."""
    out: list[dict[str, Any]] = []
    changed = False
    for entry in entries:
        item = dict(entry)
        if item.get("name") == name and (item.get("state"), item.get("message")) != (
            state,
            message,
        ):
            if item.get("state") != state:
                item["lastTransitionTime"] = now
            item["state"], item["message"] = state, message
            changed = True
        out.append(item)
    return out if changed else None


_STATUS_FIELDS = (
    "startTime",
    "completionTime",
    "active",
    "ready",
    "terminating",
    "succeeded",
    "failed",
    "conditions",
)


def mirrored_status(remote: Obj) -> dict[str, Any]:
    """The management Job's ``.status`` as the remote Job has it: the Job is managed by
    the fleet (``spec.managedBy``), so its own job controller leaves the status to us."""
    status = remote.get("status") or {}
    return {k: status[k] for k in _STATUS_FIELDS if status.get(k) is not None}
