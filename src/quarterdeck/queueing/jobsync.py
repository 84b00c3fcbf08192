"""Jobs and their Workloads kept in step, before the cycle decides.

For every Job with a queue-name label: a Workload when it has none; Finished on its
Workload once it has finished, or once every pod it needs has succeeded (so its
quota is free in this same pass, not after the job controller's own lag); suspended if
it runs without an admitted Workload (as Kueue's job reconciler does), whatever its
LocalQueue; the admission patch again if its Workload is admitted and it is still
suspended (a pass killed in between). An evicted Workload's quota is released once
its Job's pods have stopped, because until then they still hold their nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import msgspec

from quarterdeck.api.meta import Condition
from quarterdeck.api.queueing import GROUP, VERSION, ResourceFlavor
from quarterdeck.api.queueing import Workload as ApiWorkload
from quarterdeck.api.queueing.workload import (
    ADMITTED,
    EVICTED,
    FINISHED,
    QUOTA_RESERVED,
    WorkloadStatus,
)
from quarterdeck.queueing.jobs import BatchJob, PodSetUpdateConflict
from quarterdeck.queueing.staging import held, staged
from quarterdeck.queueing.status import after_checks, quota_released, set_condition, stopping
from quarterdeck.queueing.store import Obj
from quarterdeck.queueing.writes import PassReport, Writes

ADAPTER = BatchJob()
PODS_SUCCEEDED = "every pod the Job needs has succeeded; the Job is not marked Complete yet"
JobKey = tuple[str, str]


def status_of(doc: Obj | None) -> WorkloadStatus:
    return msgspec.convert((doc or {}).get("status") or {}, WorkloadStatus)


def admitted_now(status: WorkloadStatus) -> bool:
    """Holds quota and may run: reserved, admitted, neither evicted nor finished."""
    return (
        status.admission is not None
        and status.is_true(QUOTA_RESERVED)
        and status.is_true(ADMITTED)  # False while AdmissionChecks are pending
        and not status.is_true(EVICTED)
        and not status.is_true(FINISHED)
    )


def job_of(key: str, jobs: Mapping[JobKey, Obj]) -> Obj | None:
    """The Job owning the Workload `ns/job-NAME`, if it is one of `jobs`."""
    ns, _, name = key.partition("/")
    if not name.startswith("job-"):
        return None
    return jobs.get((ns, name.removeprefix("job-")))


def pods_succeeded(job: Obj, pods: list[Obj], since: str) -> bool:
    """Every pod the Job needs has succeeded since it was admitted (`since`, RFC 3339)
    and none still runs: its GPUs are free now, seconds before the job controller
    marks it Complete. Kueue frees such pods' quota too (reclaimable pods); this
    frees the whole Workload's at once. Pods of an earlier admission do not count."""
    spec = job.get("spec") or {}
    pods = [p for p in pods if (p.get("metadata") or {}).get("creationTimestamp", "") >= since]
    if spec.get("suspend") or not pods:
        return False
    phases = [(p.get("status") or {}).get("phase") for p in pods]
    if any(phase not in ("Succeeded", "Failed") for phase in phases):
        return False
    completions = spec.get("completions")
    needed = int(completions) if completions is not None else 1
    return phases.count("Succeeded") >= needed


def all_pods_done(job: Obj, pods: list[Obj], status: WorkloadStatus) -> bool:
    """Admitted now, and every pod the Job needs has succeeded since (a staged Job's
    pods since its staging, which comes before the admission)."""
    admitted = status.condition(ADMITTED)
    if admitted is None or not admitted_now(status):
        return False
    since = admitted.last_transition_time
    since = min(since, staged(job) or since)
    return pods_succeeded(job, pods, since)


def write_finished(
    writes: Writes,
    ns: str,
    name: str,
    status: WorkloadStatus,
    reason: str,
    message: str,
    stamp: str,
    report: PassReport,
    resource_version: str | None = None,
) -> bool:
    """Mark Workload `ns/name` Finished (its quota is free); with `resource_version`,
    only if it is still at that version."""
    done = Condition(type=FINISHED, status="True", reason=reason, message=message)
    body = {"conditions": msgspec.to_builtins(set_condition(list(status.conditions), done, stamp))}
    if writes.patch_status(ns, name, body, report, resource_version):
        report.finished.append(f"{ns}/{name}")
        return True
    return False


def settled(job: Obj, workload: Obj | None) -> bool:
    """A finished Job whose Workload says Finished: nothing left to do, ever (cheap)."""
    if workload is None or not ADAPTER.finished(job):
        return False
    conds = (workload.get("status") or {}).get("conditions") or []
    return any(c.get("type") == FINISHED and c.get("status") == "True" for c in conds)


def sync_jobs(
    writes: Writes,
    jobs: Mapping[JobKey, Obj],
    flavors: Mapping[str, ResourceFlavor],
    stamp: str,
    report: PassReport,
    creates: int | None = None,
) -> None:
    """Workloads for new Jobs (at most `creates`, the oldest Jobs first: a pass must
    not wait on a burst of thousands), Finished for finished ones; no Job runs
    unadmitted and no admitted Job stays suspended."""
    workloads = writes.view.workloads
    work, new = [], []
    for key, job in jobs.items():
        doc = workloads.get(key[0], f"job-{key[1]}")
        if doc is None and not job["metadata"].get("deletionTimestamp"):
            new.append((key, job))
        elif not settled(job, doc):
            work.append((key, job))
    if creates is not None and len(new) > creates:
        new.sort(key=lambda item: (item[1]["metadata"].get("creationTimestamp") or "", item[0]))
        new = new[:creates]
    steps = [step for k, j in work + new if (step := job_step(writes, k, j, flavors, stamp))]
    writes.each(lambda step: step(report), steps)


def _workload_body(job: Obj) -> Obj:
    meta = job["metadata"]
    body: Obj = msgspec.to_builtins(ADAPTER.workload(job))
    body |= {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Workload"}
    body["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": meta["name"],
            "uid": meta.get("uid", ""),
            "controller": True,
        }
    ]
    return body


Step = Callable[[PassReport], object]  # a write (or a few), given where to report


def job_step(
    writes: Writes, key: JobKey, job: Obj, flavors: Mapping[str, ResourceFlavor], stamp: str
) -> Step | None:
    """What keeping `job` and its Workload in step needs written, decided on the caches
    (None when nothing: most Jobs on most passes). The pass decides this for every Job
    itself and sends only the writes to the pool (at 2,000 Jobs, a pool task per Job
    per pass was half the pass thread's CPU)."""
    if job["metadata"].get("deletionTimestamp"):
        return None  # going away: no new Workload, nothing to suspend or resume
    ns, name = key
    wl_name = f"job-{name}"
    doc = writes.view.workloads.get(ns, wl_name)
    finished = ADAPTER.finished(job)
    if doc is None:
        if finished:
            return None

        def create(report: PassReport) -> None:
            if writes.create_workload(ns, _workload_body(job), report):
                report.created.append(f"{ns}/{wl_name}")
            step = _step_on(writes, key, job, finished, None, WorkloadStatus(), flavors, stamp)
            if step is not None:
                step(report)

        return create
    status = writes.view.workload_status(doc)
    return _step_on(writes, key, job, finished, doc, status, flavors, stamp)


def _step_on(
    writes: Writes,
    key: JobKey,
    job: Obj,
    finished: bool,
    doc: Obj | None,
    status: WorkloadStatus,
    flavors: Mapping[str, ResourceFlavor],
    stamp: str,
) -> Step | None:
    ns, name = key
    wl_name = f"job-{name}"
    pods = writes.view.job_pods(ns, name)
    done_pods = not finished and all_pods_done(job, pods, status)
    if finished or done_pods or status.is_true(FINISHED):  # Finished: nothing left to do
        if status.is_true(FINISHED):
            return None
        reason, message = ("JobFinished", "") if finished else ("PodsSucceeded", PODS_SUCCEEDED)
        # guarded: the finisher may have just written it (a second write was a sixth of
        # the Finished writes at 2,000 Jobs); a refused one is decided again
        rv = ((doc or {}).get("metadata") or {}).get("resourceVersion")
        return partial(
            write_finished, writes, ns, wl_name, status, reason, message, stamp,
            resource_version=rv,
        )  # fmt: skip
    if status.is_true(QUOTA_RESERVED) and not status.is_true(EVICTED):
        answered = after_checks(status, stamp)
        if answered is not None:

            def answer(report: PassReport) -> None:
                now = _checks_answered(writes, ns, wl_name, *answered, report)
                step = _suspend_or_resume(writes, key, job, doc, now, pods, flavors)
                if step is not None:
                    step(report)

            return answer
    return _suspend_or_resume(writes, key, job, doc, status, pods, flavors)


def _suspend_or_resume(
    writes: Writes,
    key: JobKey,
    job: Obj,
    doc: Obj | None,
    status: WorkloadStatus,
    pods: list[Obj],
    flavors: Mapping[str, ResourceFlavor],
) -> Step | None:
    """No Job runs without an admitted Workload; no admitted Job stays suspended."""
    ns, name = key
    suspended = bool((job.get("spec") or {}).get("suspend"))
    admitted = admitted_now(status)
    active = doc is None or (doc.get("spec") or {}).get("active") is not False
    if not suspended and not admitted and active and held(job, pods):
        return None  # staged: its pods wait behind our gate for the admission
    if not suspended and not admitted:

        def suspend(report: PassReport) -> None:
            if writes.patch_job(job, ADAPTER.on_evict(job), report):
                report.suspended.append(f"{ns}/{name}")
                writes.event(
                    job,
                    "Warning",
                    "Suspended",
                    "running without an admitted Workload: suspended until its queue admits it",
                )

        return suspend
    if suspended and admitted and status.admission is not None:
        updates = [u for check in status.admission_checks for u in check.pod_set_updates]
        try:
            patch = ADAPTER.on_admit(job, status.admission, flavors, updates)
        except PodSetUpdateConflict as err:  # stays suspended until a check changes its update
            message = str(err)
            return lambda _: writes.event(job, "Warning", "InvalidPodSetUpdate", message)

        def resume(report: PassReport) -> None:
            if writes.patch_job(job, patch, report):
                report.resumed.append(f"{ns}/{name}")

        return resume
    return None


def _checks_answered(
    writes: Writes,
    ns: str,
    name: str,
    status: WorkloadStatus,
    deactivate: bool,
    report: PassReport,
) -> WorkloadStatus:
    """Write what the AdmissionChecks decided; the status as now written."""
    body = msgspec.to_builtins(status)
    if status.admission is None:
        body["admission"] = None  # a merge patch must say so to clear it
        body["admissionChecks"] = None
    if not writes.patch_status(ns, name, body, report):
        return status_of(writes.view.workloads.get(ns, name))
    if deactivate:  # rejected: it stays out of the queue until someone reactivates it
        writes.patch_workload(ns, name, {"spec": {"active": False}}, report)
    return status


def release_stopped(
    writes: Writes,
    workloads: list[ApiWorkload],
    jobs: Mapping[JobKey, Obj],
    stamp: str,
    report: PassReport,
) -> None:
    """Release the quota of evicted Workloads whose Job's pods have all stopped."""
    for wl in workloads:
        if not stopping(wl.status) or wl.status is None:
            continue
        ns, name = wl.metadata.namespace or "", wl.metadata.name
        owner = jobs.get((ns, name.removeprefix("job-"))) if name.startswith("job-") else None
        if owner is None or _stopped(writes, owner):
            body = msgspec.to_builtins(quota_released(wl.status, stamp))
            if writes.patch_status(ns, name, body | {"admission": None}, report):
                report.stopped.append(f"{ns}/{name}")


def _stopped(writes: Writes, job: Obj) -> bool:
    """A suspended Job none of whose pods still runs or terminates (they hold nodes)."""
    if not (job.get("spec") or {}).get("suspend"):
        return False
    meta = job["metadata"]
    pods = writes.view.job_pods(meta.get("namespace", ""), meta["name"])
    return all((p.get("status") or {}).get("phase") in ("Succeeded", "Failed") for p in pods)
