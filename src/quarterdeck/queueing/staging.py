"""Staged pods: the Jobs next in line get their pods before admission, held by our gate.

A suspended Job's pods are created by the job controller only once it is unsuspended,
and on a busy cluster that takes from under a second to several seconds after the
admission: GPUs reserved and idle. With `spec.staging.enable` in the QueueingConfig,
the Jobs next in their ClusterQueue (at most twice the queue's nominal quota of
them, in queue order) are unsuspended with our scheduling gate in their pod
template: the job controller creates their pods while they wait, gated, on no node
and charged to no quota. The worker that writes an admission then pins each gated
pod to the node placement chose and lifts the gate (`gates.gate_patches`);
kube-scheduler binds it at once.

A Job that can be staged is admitted only once it is staged and its pods exist
(`withheld`): until then its Workload waits with reason Staging and is not tried, so
no quota is reserved while the job controller is still creating pods. That costs a
pass (stage, then admit when the gated pods appear) but not time: the pods take as
long to appear either way, and the gated pod's event starts the pass that admits it.

Until admitted, a staged Job runs nothing (every pod it has is gated), so the pass
leaves it unsuspended; if its Workload is deactivated or evicted it is suspended as
any other Job, which deletes the gated pods without counting them as failures. A Job
with `activeDeadlineSeconds` is never staged (its clock starts when it is
unsuspended), nor one that needs what a gated pod cannot be given later: several pod
sets, partial admission, AdmissionChecks, or a flavor's tolerations.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable, Iterable, Mapping

from quarterdeck.queueing.decisions import Pending
from quarterdeck.queueing.jobs import GATE, STAGED, BatchJob, gated
from quarterdeck.queueing.model import ClusterQueue, Snapshot, Workload, in_queue_order
from quarterdeck.queueing.store import Obj
from quarterdeck.queueing.writes import PassReport, Writes

# Reasons of Workloads that wait only for room (an inactive or stopped ClusterQueue,
# a Workload in error, a StrictFIFO line behind its head: other reasons).
WAITING = ("Pending", "Preempting", "Staging")
PATIENCE = 30.0  # seconds a staged Job's pods may take before it is tried without them
STAGING_MESSAGE = "its pods are being created behind the staging gate; tried once they exist"
BEHIND_MESSAGE = "behind Jobs whose pods are being created (staging); tried after them"
LEAD = 2  # stage what would fill this many times a ClusterQueue's nominal quota


def next_in_line(snapshot: Snapshot, pending: Iterable[Pending]) -> list[str]:
    """Keys of the waiting Workloads to stage: per ClusterQueue, in queue order, those
    that would fit in LEAD times its nominal quota together; the first that would not
    ends it. One quota's worth is the next to start; the second covers the job
    controller's lag in creating pods (seconds on a busy cluster), so the pods of a
    Workload exist by the time it is admitted."""
    queues = snapshot.cluster_queues
    waiting: dict[str, list[Workload]] = {}
    for p in pending:
        wl = p.workload
        if p.reason in WAITING and wl.cluster_queue in queues:
            waiting.setdefault(wl.cluster_queue, []).append(wl)
    out: list[str] = []
    for name, wls in waiting.items():
        cq = queues[name]
        if not _stageable_queue(cq, snapshot):
            continue
        room = {res: LEAD * v for res, v in _nominal(cq).items()}
        for wl in in_queue_order(wls):
            if not _stageable(wl):
                continue
            needs = wl.pod_sets[0].total()
            if any(v > room.get(res, 0) for res, v in needs.items()):
                break
            for res, v in needs.items():
                room[res] -= v
            out.append(wl.key)
    return out


def withheld(
    snapshot: Snapshot,
    jobs: Mapping[tuple[str, str], Obj],
    pods_of: Callable[[str, str], list[Obj]],
    fresh: Iterable[str],
    now: float,
) -> list[Pending]:
    """Pending Workloads to keep out of this cycle: per ClusterQueue in queue order,
    those whose pods are coming (reason Staging: a Workload created in this pass, to
    be staged now, or a staged Job with fewer gated pods than it runs, for at most
    PATIENCE seconds), and behind the first of them every one not staged with its
    pods (else an unstaged Job behind would take the quota they leave free, and
    reserve it while its own pods are created)."""
    fresh = set(fresh)
    queues: dict[str, list[Workload]] = {}
    for wl in snapshot.pending:
        cq = snapshot.cluster_queues.get(wl.cluster_queue)
        if cq is not None and _stageable(wl):
            queues.setdefault(cq.name, []).append(wl)
    out = []
    for name, wls in queues.items():
        if not _stageable_queue(snapshot.cluster_queues[name], snapshot):
            continue
        behind = False
        for wl in in_queue_order(wls):
            ns, _, wl_name = wl.key.partition("/")
            job = jobs.get((ns, wl_name.removeprefix("job-")))
            if job is None:
                continue
            when = staged(job)
            pods = _gated_pods(pods_of(ns, job["metadata"]["name"])) if when else 0
            # cheap tests first: this runs for every waiting Job on every pass
            short = when is not None and pods < wl.pod_sets[0].count
            if (wl.key in fresh and _eligible(job)) or (
                when is not None and short and now - _time(when) < PATIENCE
            ):
                out.append(Pending(wl, "Staging", STAGING_MESSAGE, deduced=True))
                behind = True
            elif behind and (when is None or short):
                out.append(Pending(wl, "Pending", BEHIND_MESSAGE, deduced=True))
    return out


def _time(stamp: str) -> float:
    try:
        return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:  # not ours: as if staged long ago
        return 0.0


def _gated_pods(pods: Iterable[Obj]) -> int:
    return sum(
        1
        for pod in pods
        if gated(pod) and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    )


def _stageable_queue(cq: ClusterQueue, snapshot: Snapshot) -> bool:
    if cq.admission_checks:
        return False
    names = {fq.flavor for g in cq.resource_groups for fq in g.flavors}
    return all(not snapshot.flavors[n].tolerations for n in names if n in snapshot.flavors)


def _stageable(wl: Workload) -> bool:
    name = wl.key.partition("/")[2]
    return name.startswith("job-") and len(wl.pod_sets) == 1 and wl.pod_sets[0].min_count is None


def _nominal(cq: ClusterQueue) -> dict[str, int]:
    room: dict[str, int] = {}
    for group in cq.resource_groups:
        for fq in group.flavors:
            for res, quota in fq.resources.items():
                room[res] = room.get(res, 0) + quota.nominal
    return room


def staged(job: Obj) -> str | None:
    """When `job` was staged (RFC 3339), if it is staged now."""
    notes = (job.get("metadata") or {}).get("annotations") or {}
    value = notes.get(STAGED)
    return str(value) if value else None


def held(job: Obj, pods: Iterable[Obj]) -> bool:
    """A staged Job all of whose pods (finished ones aside) still carry our gate: it
    runs nothing, so being unsuspended before admission is not running unadmitted."""
    if staged(job) is None:
        return False
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        if not gated(pod):
            return False
    return True


def stage_patch(job: Obj, stamp: str) -> Obj:
    """Unsuspend `job` with our gate in its pod template (allowed while suspended)."""
    pod_spec = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    gates = [g for g in pod_spec.get("schedulingGates") or [] if g.get("name") != GATE]
    return {
        "metadata": {"annotations": {STAGED: stamp}},
        "spec": {
            "suspend": False,
            "template": {"spec": {"schedulingGates": [*gates, {"name": GATE}]}},
        },
    }


def _eligible(job: Obj) -> bool:
    spec = job.get("spec") or {}
    meta = job.get("metadata") or {}
    return (
        bool(spec.get("suspend"))
        and staged(job) is None
        and spec.get("activeDeadlineSeconds") is None
        and not meta.get("deletionTimestamp")
        and not BatchJob().finished(job)
    )


def stageable(jobs: Iterable[Obj | None]) -> list[Obj]:
    """Those of `jobs` that are suspended and not staged yet."""
    return [job for job in jobs if job is not None and _eligible(job)]


def stage(writes: Writes, job: Obj, stamp: str, report: PassReport) -> None:
    """Unsuspend `job` with our gate in its template (`stage_patch`), unless the cache
    now says it is staged (a pass may decide on a Job its staging write has since
    changed: staging it again was a third more Job writes at 2,000 Jobs)."""
    meta = job["metadata"]
    now = writes.view.jobs.get(meta.get("namespace", ""), meta["name"])
    if now is None or not _eligible(now):
        return
    if writes.patch_job(now, stage_patch(now, stamp), report):
        report.staged.append(f"{meta.get('namespace', '')}/{meta['name']}")


def stage_jobs(
    writes: Writes, jobs: Iterable[Obj | None], stamp: str, report: PassReport
) -> None:
    """Stage those of `jobs` that are suspended and not staged yet; returns once done."""
    writes.each(lambda job: stage(writes, job, stamp, report), stageable(jobs))
