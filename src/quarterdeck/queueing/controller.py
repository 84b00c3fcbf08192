"""The queueing controller's reconcile pass: read (caches), decide (pure cycle), act, record.

One pass over a `LiveView` (watch caches in the operator, one list per kind for a
one-shot pass): every Job with a queue-name label gets its Workload; a finished Job
marks its Workload Finished (its quota is free in this same pass); the snapshot goes
through `cycle()`; admissions, preemptions and pending reasons are written to
Workload status, carried out on the Jobs and told as Events on the Jobs. Each write's
answer goes back into the view at once, so the Workload created for a new Job is
admitted in the pass that created it.

Every pass completes what an earlier one (or a killed operator) left half done, and
no Job bypasses the queue, with or without the admission policy:
- a labelled Job running without an admitted Workload is suspended (as Kueue's job
  reconciler does), whatever its LocalQueue; its Workload says why it waits;
- an admitted Workload whose Job is still suspended gets the admission patch again;
- an evicted Workload's quota is released once its Job's pods have stopped.
A write that fails (say the Workload was deleted meanwhile) is one line in
`PassReport.problems`; the rest of the pass goes on.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol, TypeVar

import msgspec
from lightkube import ApiError, Client
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod

from quarterdeck.api.meta import Condition
from quarterdeck.api.queueing import GROUP, VERSION, ResourceFlavor
from quarterdeck.api.queueing import ClusterQueue as ApiClusterQueue
from quarterdeck.api.queueing import Workload as ApiWorkload
from quarterdeck.api.queueing.manifests import QueueingObject
from quarterdeck.api.queueing.workload import (
    EVICTED,
    FINISHED,
    QUOTA_RESERVED,
    Admission,
    WorkloadStatus,
)
from quarterdeck.queueing.config import DEFAULT, QueueingConfig, configure, placer_from
from quarterdeck.queueing.cycle import cycle
from quarterdeck.queueing.decisions import Admit, Decisions, Pending, Preempt
from quarterdeck.queueing.gpus import GpuPlacer
from quarterdeck.queueing.jobs import GATE, BatchJob, pinned_node, pods_to_nodes, release_gate
from quarterdeck.queueing.live import LiveView, read_view
from quarterdeck.queueing.metrics import QueueMetrics
from quarterdeck.queueing.model import AdmittedWorkload, Snapshot
from quarterdeck.queueing.nodes import Placer
from quarterdeck.queueing.snapshot import admission_of
from quarterdeck.queueing.status import (
    cluster_queue_status,
    quota_released,
    set_condition,
    stopping,
    workload_status,
)
from quarterdeck.queueing.store import Cache, Obj, Writer

FIELD_MANAGER = "quarterdeck-queueing"
WorkloadResource = create_namespaced_resource(GROUP, VERSION, "Workload", "workloads")
ClusterQueueResource = create_global_resource(GROUP, VERSION, "ClusterQueue", "clusterqueues")
ADAPTER = BatchJob()
T = TypeVar("T")
MESSAGE_REFRESH = 30.0  # seconds between rewrites of a waiting Workload's message


class Recorder(Protocol):
    """Where Events go (`kube.events.EventRecorder` has this shape)."""

    def event(self, regarding: Obj, type_: str, reason: str, message: str) -> None: ...


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
    suspended: list[str] = field(default_factory=list)  # ran without an admitted Workload
    resumed: list[str] = field(default_factory=list)  # admitted, Job was still suspended
    problems: list[str] = field(default_factory=list)


def _rfc3339(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


def _job_ref(job: Obj) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": job.get("metadata") or {}}


def _status(doc: Obj | None) -> WorkloadStatus:
    return msgspec.convert((doc or {}).get("status") or {}, WorkloadStatus)


def admitted_now(status: WorkloadStatus) -> bool:
    """Holds quota and may run: reserved, admitted, neither evicted nor finished."""
    return (
        status.admission is not None
        and status.is_true(QUOTA_RESERVED)
        and not status.is_true(EVICTED)
        and not status.is_true(FINISHED)
    )


def _placement(config: QueueingConfig) -> tuple[object, ...]:
    """What a placer is built from: a change of any of it means a new placer."""
    return (config.policy, config.seed, config.recent_admitted, config.fallback)


class Controller:
    """Passes over one view; `reconcile(now)` is one pass."""

    def __init__(
        self,
        client: Client,
        view: LiveView,
        placer: Placer | None = None,
        metrics: QueueMetrics | None = None,
        recorder: Recorder | None = None,
        fair_sharing: bool = False,
        writers: int = 16,
    ) -> None:
        self.view = view
        self.writer = Writer(client, FIELD_MANAGER)
        # Without an explicit placer, the placer follows the cluster's QueueingConfig:
        # rebuilt when its placement changes, kept otherwise (FGD learns across passes).
        self.fixed_placer = placer is not None
        self.placer = placer if placer is not None else GpuPlacer()
        self.config = DEFAULT
        self.metrics = metrics
        self.recorder = recorder
        self.fair_sharing = fair_sharing
        # Writes to different objects go out together: on a loaded API server one
        # request takes tens of milliseconds, and a pass may write thousands.
        self._pending_written: dict[str, float] = {}  # workload key -> time of the write
        self.pool = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="queueing-write")

    def _each(self, fn: Callable[[T], None], items: Iterable[T]) -> None:
        """`fn` on every item, concurrently; returns when all are done."""
        for _ in self.pool.map(fn, items):
            pass

    # -- writes: every answer goes back into the view; a failure is one problem line ------
    def _write(
        self, store: Cache | None, what: str, report: PassReport, call: Callable[[], Obj]
    ) -> Obj | None:
        try:
            obj = call()
        except ApiError as err:
            report.problems.append(f"{what}: {err.status.message or err.status.reason}")
            if err.status.code == 404 and store is not None:
                ns, _, name = what.partition(" ")[2].rpartition("/")
                store.forget(ns, name)
            return None
        if store is not None:
            store.assume(obj)
        return obj

    def _patch_job(self, job: Obj, patch: Obj, report: PassReport) -> bool:
        meta = job["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        return (
            self._write(
                self.view.jobs,
                f"job {ns}/{name}",
                report,
                partial(self.writer.patch, Job, ns, name, patch),
            )
            is not None
        )

    def _patch_status(
        self, ns: str, name: str, status: Mapping[str, Any], report: PassReport
    ) -> bool:
        body = {"status": dict(status)}
        return (
            self._write(
                self.view.workloads,
                f"workload {ns}/{name}",
                report,
                partial(self.writer.patch, WorkloadResource, ns, name, body, status=True),
            )
            is not None
        )

    def _event(self, job: Obj | None, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None and job is not None:
            self.recorder.event(_job_ref(job), type_, reason, message)

    def _configured(self, snapshot: Snapshot, report: PassReport) -> Snapshot:
        """`snapshot` under the cluster's QueueingConfig, the same function the simulator
        applies to its config file; no config object keeps the constructor's choices."""
        config, problem = self.view.config()
        if problem:
            report.problems.append(problem)
        if not self.fixed_placer and _placement(config) != _placement(self.config):
            self.placer = placer_from(config)
        self.config = config
        return snapshot if config is DEFAULT else configure(snapshot, config)

    # -- the pass -------------------------------------------------------------------------
    def reconcile(self, now: float) -> PassReport:
        report = PassReport()
        stamp = _rfc3339(now)
        jobs = self.view.queued_jobs()
        objects, _ = self.view.objects()
        flavors = {o.metadata.name: o for o in objects if isinstance(o, ResourceFlavor)}
        self._sync_jobs(jobs, flavors, stamp, report)
        self._release_stopped(jobs, stamp, report)
        snapshot, objects, problems = self.view.snapshot(now, self.fair_sharing)
        report.problems += problems
        snapshot = self._configured(snapshot, report)
        workloads = {
            f"{o.metadata.namespace}/{o.metadata.name}": o
            for o in objects
            if isinstance(o, ApiWorkload)
        }
        decided = cycle(snapshot, self.placer)
        # A victim still stopping was evicted by an earlier pass: nothing new to do to it.
        evicting = {k for k, o in workloads.items() if stopping(o.status)}
        decisions = replace(
            decided,
            preempted=tuple(p for p in decided.preempted if p.victim.workload.key not in evicting),
        )
        if self.metrics is not None:
            self.metrics.observe(snapshot, decisions, now)

        def preempt(pre: Preempt) -> None:
            key = pre.victim.workload.key
            job = _job_of(key, jobs)
            if self._record(workloads, key, pre, stamp, report, now):
                if job is not None:
                    self._patch_job(job, ADAPTER.on_evict(job), report)
                self._event(job, "Warning", "Preempted", pre.message)
                report.preempted.append(key)

        def admit(adm: Admit) -> None:
            key = adm.workload.key
            job = _job_of(key, jobs)
            # Status first: killed in between, the next pass finds an admitted Workload
            # with a suspended Job and patches it again (`_sync_job`).
            if self._record(workloads, key, adm, stamp, report, now):
                admission = admission_of(adm)
                if job is not None:
                    self._patch_job(job, ADAPTER.on_admit(job, admission, flavors), report)
                self._event(job, "Normal", "Admitted", _admitted_message(admission))
                report.admitted.append(key)

        def wait(pen: Pending) -> None:
            key = pen.workload.key
            was = workloads[key].status if key in workloads else None
            before = was.condition(QUOTA_RESERVED) if was is not None else None
            if self._record(workloads, key, pen, stamp, report, now) and (
                before is None or before.reason != pen.reason
            ):  # an Event when the reason changes; the status carries the latest message
                self._event(_job_of(key, jobs), "Normal", pen.reason, pen.message)
            report.pending.append(key)

        self._each(preempt, decisions.preempted)
        self._each(admit, decisions.admitted)
        self._each(wait, decisions.pending)
        running = tuple(a for a in snapshot.admitted if a.workload.key not in evicting)
        self._release_gates(running, report)
        # Victims keep their quota until their pods stop, so the queue's usage counts them.
        self._write_queue_status(snapshot, replace(decisions, preempted=()), objects, report)
        return report

    def _sync_jobs(
        self,
        jobs: Mapping[tuple[str, str], Obj],
        flavors: Mapping[str, ResourceFlavor],
        stamp: str,
        report: PassReport,
    ) -> None:
        """Workloads for new Jobs, Finished for finished ones; no Job runs unadmitted and
        no admitted Job stays suspended."""
        work = [
            (key, job)
            for key, job in jobs.items()
            if not _settled(job, self.view.workloads.get(key[0], f"job-{key[1]}"))
        ]
        self._each(
            lambda item: self._sync_job(item[0][0], item[0][1], item[1], flavors, stamp, report),
            work,
        )

    def _sync_job(
        self,
        ns: str,
        name: str,
        job: Obj,
        flavors: Mapping[str, ResourceFlavor],
        stamp: str,
        report: PassReport,
    ) -> None:
        if job["metadata"].get("deletionTimestamp"):
            return  # going away: no new Workload, nothing to suspend or resume
        wl_name = f"job-{name}"
        doc = self.view.workloads.get(ns, wl_name)
        finished = ADAPTER.finished(job)
        if doc is None:
            if finished:
                return
            body = msgspec.to_builtins(ADAPTER.workload(job))
            body |= {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Workload"}
            body["metadata"]["ownerReferences"] = [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": name,
                    "uid": job["metadata"].get("uid", ""),
                    "controller": True,
                }
            ]
            created = self._write(
                self.view.workloads,
                f"workload {ns}/{wl_name}",
                report,
                partial(self.writer.create, WorkloadResource, ns, body),
            )
            if created is not None:
                report.created.append(f"{ns}/{wl_name}")
            status = WorkloadStatus()
        else:
            status = _status(doc)
        if finished:
            if not status.is_true(FINISHED):
                done = Condition(type=FINISHED, status="True", reason="JobFinished")
                conds = set_condition(list(status.conditions), done, stamp)
                body = {"conditions": msgspec.to_builtins(conds)}
                if self._patch_status(ns, wl_name, body, report):
                    report.finished.append(f"{ns}/{wl_name}")
            return
        suspended = bool((job.get("spec") or {}).get("suspend"))
        if not suspended and not admitted_now(status):
            if self._patch_job(job, ADAPTER.on_evict(job), report):
                report.suspended.append(f"{ns}/{name}")
                self._event(
                    job,
                    "Warning",
                    "Suspended",
                    "running without an admitted Workload: suspended until its queue admits it",
                )
        elif suspended and admitted_now(status) and status.admission is not None:
            patch = ADAPTER.on_admit(job, status.admission, flavors)
            if self._patch_job(job, patch, report):
                report.resumed.append(f"{ns}/{name}")

    def _release_stopped(
        self, jobs: Mapping[tuple[str, str], Obj], stamp: str, report: PassReport
    ) -> None:
        """Release the quota of evicted Workloads whose Job's pods have all stopped."""
        objects, _ = self.view.objects()
        for wl in objects:
            if not isinstance(wl, ApiWorkload) or not stopping(wl.status) or wl.status is None:
                continue
            ns, name = wl.metadata.namespace or "", wl.metadata.name
            owner = jobs.get((ns, name.removeprefix("job-"))) if name.startswith("job-") else None
            if owner is None or self._stopped(owner):
                body = msgspec.to_builtins(quota_released(wl.status, stamp))
                if self._patch_status(ns, name, body | {"admission": None}, report):
                    report.stopped.append(f"{ns}/{name}")

    def _stopped(self, job: Obj) -> bool:
        """A suspended Job none of whose pods still runs or terminates (they hold nodes)."""
        if not (job.get("spec") or {}).get("suspend"):
            return False
        meta = job["metadata"]
        pods = self.view.job_pods(meta.get("namespace", ""), meta["name"])
        return all((p.get("status") or {}).get("phase") in ("Succeeded", "Failed") for p in pods)

    def _record(
        self,
        workloads: Mapping[str, ApiWorkload],
        key: str,
        decision: Admit | Pending | Preempt,
        stamp: str,
        report: PassReport,
        now: float,
    ) -> bool:
        """Write the decision to Workload status; False if nothing was written."""
        wl = workloads.get(key)
        if wl is None:
            return False
        new = workload_status(wl.status, decision, stamp)
        old = wl.status or WorkloadStatus()
        if isinstance(decision, Pending):
            was = old.condition(QUOTA_RESERVED)
            if was is not None and was.reason == decision.reason:
                # Same reason, new numbers ("8 free"): refreshed at most every
                # MESSAGE_REFRESH seconds, or thousands of waiting Workloads would be
                # rewritten on every pass. `qd queue why` computes it as of now.
                last = self._pending_written.get(key, 0.0)
                if was.message == decision.message or now - last < MESSAGE_REFRESH:
                    return False
        body = msgspec.to_builtins(new)
        if new.admission is None:
            body["admission"] = None  # a merge patch must say so to clear it
        ns, name = key.split("/", 1)
        written = self._patch_status(ns, name, body, report)
        if written and isinstance(decision, Pending):
            self._pending_written[key] = now
        return written

    def _release_gates(self, admitted: tuple[AdmittedWorkload, ...], report: PassReport) -> None:
        """Pin gated pods of admitted Jobs to their nodes and lift the gate."""
        for adm in admitted:
            ns, name = adm.workload.key.split("/", 1)
            if not name.startswith("job-"):
                continue
            nodes: Counter[str] = Counter()
            for ps in adm.pod_sets:
                nodes.update(ps.nodes or {})
            if len(nodes) < 2:
                continue  # on one node the Job's template is pinned: no gate
            gated: dict[str, Obj] = {}
            for pod in self.view.job_pods(ns, name.removeprefix("job-")):
                spec = pod.get("spec") or {}
                if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    continue
                if any(g.get("name") == GATE for g in spec.get("schedulingGates") or []):
                    gated[pod["metadata"]["name"]] = pod
                else:
                    node = spec.get("nodeName") or _pinned(spec)
                    if node:
                        nodes[node] -= 1  # already placed: that slot is taken
            free = {n: c for n, c in nodes.items() if c > 0}
            for pod_name, node in pods_to_nodes(list(gated), free).items():
                patch = release_gate(gated[pod_name], node)
                done = self._write(
                    self.view.pods,
                    f"pod {ns}/{pod_name}",
                    report,
                    partial(self.writer.patch, Pod, ns, pod_name, patch),
                )
                if done is not None:
                    report.released.append(f"{ns}/{pod_name}")

    def _write_queue_status(
        self,
        snapshot: Snapshot,
        decisions: Decisions,
        objects: list[QueueingObject],
        report: PassReport,
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
            self._write(
                self.view.queueing["ClusterQueue"],
                f"clusterqueue /{name}",
                report,
                partial(
                    self.writer.patch,
                    ClusterQueueResource,
                    None,
                    name,
                    {"status": body},
                    status=True,
                ),
            )


def _settled(job: Obj, workload: Obj | None) -> bool:
    """A finished Job whose Workload says Finished: nothing left to do, ever (cheap)."""
    if workload is None or not ADAPTER.finished(job):
        return False
    conds = (workload.get("status") or {}).get("conditions") or []
    return any(c.get("type") == FINISHED and c.get("status") == "True" for c in conds)


def _pinned(spec: Obj) -> str | None:
    return pinned_node({"spec": spec})


def _job_of(key: str, jobs: Mapping[tuple[str, str], Obj]) -> Obj | None:
    ns, _, name = key.partition("/")
    if not name.startswith("job-"):
        return None
    return jobs.get((ns, name.removeprefix("job-")))


def _admitted_message(admission: Admission) -> str:
    flavors = sorted({f for ps in admission.pod_set_assignments for f in ps.flavors.values()})
    nodes = sorted(
        {
            v
            for ps in admission.pod_set_assignments
            if ps.topology_assignment is not None
            for d in ps.topology_assignment.domains
            for v in d.values
        }
    )
    where = f" on flavor {', '.join(flavors)}" if flavors else ""
    if nodes:
        where += f", nodes {', '.join(nodes)}"
    return f"Admitted by ClusterQueue {admission.cluster_queue}{where}"


def reconcile_once(
    client: Client,
    now: float,
    placer: Placer | None = None,
    metrics: QueueMetrics | None = None,
    recorder: Recorder | None = None,
) -> PassReport:
    """One pass over a view filled by one list per kind (no watches): `qd queue
    reconcile --once` and the tests that drive passes themselves."""
    return Controller(client, read_view(client), placer, metrics, recorder).reconcile(now)
