"""The queueing controller's reconcile pass: read, decide (pure cycle), act, record.

One pass: every Job with a queue-name label gets its Workload; a finished Job marks
its Workload Finished (its quota is free); the live snapshot goes through `cycle()`;
admissions, preemptions and pending reasons are written to Workload status and
carried out on the Jobs (`jobs.BatchJob` patches); pods held by our scheduling gate
are pinned to the nodes placement chose and released. `run()` repeats passes.

Jobs are expected to be created suspended (the mutating webhook will do that; until
then, create them with `spec.suspend: true`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

import msgspec
from lightkube import ApiError, Client
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType

from quarterdeck.api.meta import Condition
from quarterdeck.api.queueing import GROUP, VERSION, ResourceFlavor
from quarterdeck.api.queueing import ClusterQueue as ApiClusterQueue
from quarterdeck.api.queueing import Workload as ApiWorkload
from quarterdeck.api.queueing.manifests import QueueingObject
from quarterdeck.api.queueing.workload import FINISHED, QUOTA_RESERVED, WorkloadStatus
from quarterdeck.queueing.cycle import cycle
from quarterdeck.queueing.decisions import Admit, Decisions, Pending, Preempt
from quarterdeck.queueing.gpus import GpuPlacer
from quarterdeck.queueing.jobs import (
    GATE,
    BatchJob,
    pods_to_nodes,
    queue_name,
    release_gate,
)
from quarterdeck.queueing.live import read_snapshot
from quarterdeck.queueing.metrics import QueueMetrics
from quarterdeck.queueing.model import AdmittedWorkload, Snapshot
from quarterdeck.queueing.snapshot import admission_of
from quarterdeck.queueing.status import (
    cluster_queue_status,
    quota_released,
    set_condition,
    stopping,
    workload_status,
)

FIELD_MANAGER = "quarterdeck-queueing"
WorkloadResource = create_namespaced_resource(GROUP, VERSION, "Workload", "workloads")
ClusterQueueResource = create_global_resource(GROUP, VERSION, "ClusterQueue", "clusterqueues")
ADAPTER = BatchJob()


@dataclass
class PassReport:
    """What one pass did, by workload or pod key."""

    created: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    admitted: list[str] = field(default_factory=list)
    preempted: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # evicted, pods gone, quota released
    problems: list[str] = field(default_factory=list)


def _dict(obj: Any) -> dict[str, Any]:
    return cast(dict[str, Any], obj.to_dict())


def _rfc3339(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


def reconcile_once(
    client: Client,
    now: float,
    placer: GpuPlacer | None = None,
    metrics: QueueMetrics | None = None,
) -> PassReport:
    """One read-decide-act pass over the whole cluster."""
    report = PassReport()
    stamp = _rfc3339(now)
    jobs = {
        (d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
        for d in (_dict(j) for j in client.list(Job, namespace="*"))
        if queue_name(d) is not None
    }
    _sync_workloads(client, jobs, stamp, report)
    snapshot, objects, problems = read_snapshot(client, now=now)
    report.problems += problems
    workloads = {
        f"{o.metadata.namespace}/{o.metadata.name}": o
        for o in objects
        if isinstance(o, ApiWorkload)
    }
    decided = cycle(snapshot, placer if placer is not None else GpuPlacer())
    # A victim still stopping was evicted by an earlier pass: nothing new to do to it.
    evicting = {k for k, o in workloads.items() if stopping(o.status)}
    decisions = replace(
        decided,
        preempted=tuple(p for p in decided.preempted if p.victim.workload.key not in evicting),
    )
    if metrics is not None:
        metrics.observe(snapshot, decisions, now)
    flavors = {o.metadata.name: o for o in objects if isinstance(o, ResourceFlavor)}
    for pre in decisions.preempted:
        _record(client, workloads, pre.victim.workload.key, pre, stamp)
        job = _job_of(workloads.get(pre.victim.workload.key), jobs)
        if job is not None:
            _patch_job(client, job, ADAPTER.on_evict(job))
        report.preempted.append(pre.victim.workload.key)
    for adm in decisions.admitted:
        _record(client, workloads, adm.workload.key, adm, stamp)
        job = _job_of(workloads.get(adm.workload.key), jobs)
        if job is not None:
            _patch_job(client, job, ADAPTER.on_admit(job, admission_of(adm), flavors))
        report.admitted.append(adm.workload.key)
    for pen in decisions.pending:
        _record(client, workloads, pen.workload.key, pen, stamp)
        report.pending.append(pen.workload.key)
    running = tuple(a for a in snapshot.admitted if a.workload.key not in evicting)
    _release_gates(client, running, workloads, report)
    # Victims keep their quota until their pods stop, so the queue's usage counts them.
    _write_queue_status(client, snapshot, replace(decisions, preempted=()), objects)
    return report


def _write_queue_status(
    client: Client, snapshot: Snapshot, decisions: Decisions, objects: list[QueueingObject]
) -> None:
    """Counts and usage per ClusterQueue after this pass, written only when they change."""
    current = {o.metadata.name: o.status for o in objects if isinstance(o, ApiClusterQueue)}
    fields = ("pendingWorkloads", "reservingWorkloads", "admittedWorkloads")
    lists = ("flavorsReservation", "flavorsUsage")
    for name, new in cluster_queue_status(snapshot, decisions).items():
        data = msgspec.to_builtins(new)
        body = {f: data.get(f, 0) for f in fields} | {f: data.get(f, []) for f in lists}
        old = msgspec.to_builtins(current.get(name) or {})
        if all(old.get(f, 0) == body[f] for f in fields) and all(
            old.get(f, []) == body[f] for f in lists
        ):
            continue
        client.patch(
            ClusterQueueResource.Status,
            name,
            {"status": body},
            patch_type=PatchType.MERGE,
            field_manager=FIELD_MANAGER,
        )


def run(
    client: Client,
    interval: float = 1.0,
    clock: Callable[[], float] = time.time,
    passes: int | None = None,
    metrics: QueueMetrics | None = None,
) -> None:
    """Reconcile every `interval` seconds (forever, or `passes` times)."""
    done = 0
    while passes is None or done < passes:
        reconcile_once(client, clock(), metrics=metrics)
        done += 1
        time.sleep(interval)


def _sync_workloads(
    client: Client, jobs: Mapping[tuple[str, str], dict[str, Any]], stamp: str, report: PassReport
) -> None:
    """Create missing Workloads for queued Jobs; mark those of finished Jobs Finished."""
    existing = {
        (d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
        for d in (_dict(w) for w in client.list(WorkloadResource, namespace="*"))
    }
    for (ns, name), job in jobs.items():
        key = (ns, f"job-{name}")
        wl = existing.get(key)
        if wl is None:
            body = msgspec.to_builtins(ADAPTER.workload(job))
            body["metadata"]["ownerReferences"] = [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": name,
                    "uid": job["metadata"].get("uid", ""),
                    "controller": True,
                }
            ]
            client.create(WorkloadResource.from_dict(body), namespace=ns)
            report.created.append(f"{ns}/{key[1]}")
        elif ADAPTER.finished(job):
            status = msgspec.convert(wl.get("status") or {}, WorkloadStatus)
            if not status.is_true(FINISHED):
                done = Condition(type=FINISHED, status="True", reason="JobFinished")
                conds = set_condition(list(status.conditions), done, stamp)
                _patch_status(client, ns, key[1], {"conditions": msgspec.to_builtins(conds)})
                report.finished.append(f"{ns}/{key[1]}")
    for (ns, name), wl in existing.items():
        status = msgspec.convert(wl.get("status") or {}, WorkloadStatus)
        if not stopping(status) or status.is_true(FINISHED):
            continue
        owner = jobs.get((ns, name.removeprefix("job-"))) if name.startswith("job-") else None
        if owner is None or _stopped(client, owner):
            body = msgspec.to_builtins(quota_released(status, stamp))
            _patch_status(client, ns, name, body | {"admission": None})
            report.stopped.append(f"{ns}/{name}")


def _stopped(client: Client, job: Mapping[str, Any]) -> bool:
    """A suspended Job none of whose pods still runs or terminates (they hold nodes)."""
    if not (job.get("spec") or {}).get("suspend"):
        return False
    meta = job["metadata"]
    pods = client.list(
        Pod, namespace=meta.get("namespace"), labels={"batch.kubernetes.io/job-name": meta["name"]}
    )
    return all(p.status is not None and p.status.phase in ("Succeeded", "Failed") for p in pods)


def _record(
    client: Client,
    workloads: Mapping[str, ApiWorkload],
    key: str,
    decision: Admit | Pending | Preempt,
    stamp: str,
) -> None:
    """Write the decision to Workload status, skipping writes that change nothing."""
    wl = workloads.get(key)
    if wl is None:
        return
    new = workload_status(wl.status, decision, stamp)
    old = wl.status or WorkloadStatus()
    if isinstance(decision, Pending):
        was = old.condition(QUOTA_RESERVED)
        if was is not None and (was.reason, was.message) == (decision.reason, decision.message):
            return
    body = msgspec.to_builtins(new)
    if new.admission is None:
        body["admission"] = None  # a merge patch must say so to clear it
    ns, name = key.split("/", 1)
    _patch_status(client, ns, name, body)


def _patch_status(client: Client, ns: str, name: str, status: Mapping[str, Any]) -> None:
    client.patch(
        WorkloadResource.Status,
        name,
        {"status": dict(status)},
        namespace=ns,
        patch_type=PatchType.MERGE,
        field_manager=FIELD_MANAGER,
    )


def _job_of(
    wl: ApiWorkload | None, jobs: Mapping[tuple[str, str], dict[str, Any]]
) -> dict[str, Any] | None:
    if wl is None or not wl.metadata.name.startswith("job-"):
        return None
    return jobs.get((wl.metadata.namespace, wl.metadata.name.removeprefix("job-")))


def _patch_job(client: Client, job: Mapping[str, Any], patch: Mapping[str, Any]) -> None:
    meta = job["metadata"]
    client.patch(
        Job,
        meta["name"],
        dict(patch),
        namespace=meta.get("namespace"),
        patch_type=PatchType.MERGE,
        field_manager=FIELD_MANAGER,
    )


def _release_gates(
    client: Client,
    admitted: tuple[AdmittedWorkload, ...],
    workloads: Mapping[str, QueueingObject],
    report: PassReport,
) -> None:
    """Pin gated pods of admitted Jobs to their nodes and lift the gate."""
    placements: dict[tuple[str, str], Counter[str]] = {}
    for adm in admitted:
        ns, name = adm.workload.key.split("/", 1)
        if not name.startswith("job-"):
            continue
        nodes: Counter[str] = Counter()
        for ps in adm.pod_sets:
            nodes.update(ps.nodes or {})
        if nodes:
            placements[(ns, name.removeprefix("job-"))] = nodes
    if not placements:
        return
    gated: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for pod in (_dict(p) for p in client.list(Pod, namespace="*")):
        meta, spec = pod["metadata"], pod.get("spec") or {}
        owner = next(
            (o["name"] for o in meta.get("ownerReferences") or [] if o["kind"] == "Job"), None
        )
        key = (meta.get("namespace", ""), owner or "")
        if key not in placements or (pod.get("status") or {}).get("phase") in (
            "Succeeded",
            "Failed",
        ):
            continue
        node = spec.get("nodeName") or (spec.get("nodeSelector") or {}).get(
            "kubernetes.io/hostname"
        )
        if any(g.get("name") == GATE for g in spec.get("schedulingGates") or []):
            gated.setdefault(key, []).append(pod)
        elif node:
            placements[key][node] -= 1  # already placed: that slot is taken
    for key, pods in gated.items():
        free = {n: c for n, c in placements[key].items() if c > 0}
        by_name = {p["metadata"]["name"]: p for p in pods}
        for pod_name, node in pods_to_nodes(list(by_name), free).items():
            try:
                client.patch(
                    Pod,
                    pod_name,
                    release_gate(by_name[pod_name], node),
                    namespace=key[0],
                    patch_type=PatchType.MERGE,
                    field_manager=FIELD_MANAGER,
                )
                report.released.append(f"{key[0]}/{pod_name}")
            except ApiError as err:
                report.problems.append(f"pod {key[0]}/{pod_name}: {err.status.message}")
