"""The queueing controller's reconcile pass: read (caches), decide (pure cycle), act, record.

One pass over a `LiveView` (watch caches in the operator, one list per kind for a
one-shot pass): Jobs and Workloads are brought in step (`jobsync`: new Workloads, and
Finished for finished Jobs, whose quota is free in this same pass); the snapshot goes
through `cycle()`; admissions, preemptions and pending reasons are written to Workload
status, carried out on the Jobs (`gates` for Jobs over several nodes) and told as
Events on the Jobs. Each write's answer goes back into the view at once (`writes`), so
the Workload created for a new Job is admitted, and its Job unsuspended, in the pass
that created it.

Every pass completes what an earlier one (or a killed operator) left half done, and
no Job bypasses the queue, with or without the admission policy. A write that fails
(say the Workload was deleted meanwhile) is one line in `PassReport.problems`; the
rest of the pass goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial

import msgspec
from lightkube import Client

from quarterdeck.api.meta import Condition
from quarterdeck.api.queueing import ClusterQueue as ApiClusterQueue
from quarterdeck.api.queueing import ResourceFlavor
from quarterdeck.api.queueing import Workload as ApiWorkload
from quarterdeck.api.queueing.check import CONTROLLERS, AdmissionCheck, AdmissionCheckStatus
from quarterdeck.api.queueing.manifests import QueueingObject
from quarterdeck.api.queueing.workload import QUOTA_RESERVED
from quarterdeck.queueing.config import DEFAULT, QueueingConfig, configure, placer_from
from quarterdeck.queueing.cycle import cycle
from quarterdeck.queueing.decisions import Admit, Decisions, Pending, Preempt
from quarterdeck.queueing.gates import gate_patches, lift, release_gates
from quarterdeck.queueing.gpus import GpuPlacer
from quarterdeck.queueing.inflight import InFlight
from quarterdeck.queueing.jobsync import ADAPTER, job_of, release_stopped, sync_jobs
from quarterdeck.queueing.live import LiveView, read_view
from quarterdeck.queueing.metrics import QueueMetrics
from quarterdeck.queueing.model import Snapshot
from quarterdeck.queueing.nodes import Placer
from quarterdeck.queueing.snapshot import admission_of
from quarterdeck.queueing.staging import next_in_line, stage, stageable, staged, withheld
from quarterdeck.queueing.status import (
    cluster_queue_status,
    placed_on,
    set_condition,
    workload_status,
)
from quarterdeck.queueing.writes import PassReport, Recorder, Writes

FIELD_MANAGER = "quarterdeck-queueing"
MESSAGE_REFRESH = 30.0  # seconds between rewrites of a waiting Workload's message
PENDING_WRITES_PER_PASS = 64  # waiting reasons written per pass (the rest: later passes)
CREATES_PER_PASS = 256  # Workloads created per pass, oldest Jobs first
STAGING_WRITERS = 4  # staging patches at once (they make way for admissions)


def rfc3339(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


def _placement(config: QueueingConfig) -> tuple[object, ...]:
    """What a placer is built from: a change of any of it means a new placer."""
    return (config.policy, config.seed, config.recent_admitted, config.fallback)


class Controller:
    """Passes over one view; `reconcile(now)` is one pass. With `in_background` a pass
    does not wait for its waiting reasons, admissions and staging patches; what each
    did goes to `told` as it answers (else into the next pass's report)."""

    def __init__(
        self,
        client: Client,
        view: LiveView,
        placer: Placer | None = None,
        metrics: QueueMetrics | None = None,
        recorder: Recorder | None = None,
        fair_sharing: bool = False,
        writers: int = 16,
        in_background: bool = False,
        told: Callable[[PassReport], None] | None = None,
    ) -> None:
        self.view = view
        self.writes = Writes(client, view, FIELD_MANAGER, recorder, writers)
        # Without an explicit placer, the placer follows the cluster's QueueingConfig:
        # rebuilt when its placement changes, kept otherwise (FGD learns across passes).
        self.fixed_placer = placer is not None
        self.placer = placer if placer is not None else GpuPlacer()
        self.config = DEFAULT
        self.metrics = metrics
        self.fair_sharing = fair_sharing
        self._pending_written: dict[str, float] = {}  # workload key -> time of the write
        # The operator's passes do not wait for waiting reasons, admissions or staging
        # patches (`inflight`): each is in flight by key until it answers, and what it
        # did and met is reported by the pass after.
        self.in_background = in_background
        self.news = InFlight(self.writes.pool, told)
        self.admitting = InFlight(self.writes.pool, told)
        self.staging = InFlight(
            ThreadPoolExecutor(max_workers=STAGING_WRITERS, thread_name_prefix="queueing-stage"),
            told,
        )

    def _read_config(self, report: PassReport) -> QueueingConfig:
        """The cluster's QueueingConfig for this pass (the placer follows it)."""
        config, problem = self.view.config()
        if problem:
            report.problems.append(problem)
        if not self.fixed_placer and _placement(config) != _placement(self.config):
            self.placer = placer_from(config)
        self.config = config
        return config

    def _configured(self, snapshot: Snapshot, config: QueueingConfig) -> Snapshot:
        """`snapshot` under the cluster's QueueingConfig, the same function the simulator
        applies to its config file; no config object keeps the constructor's choices."""
        return snapshot if config is DEFAULT else configure(snapshot, config)

    # -- the pass -------------------------------------------------------------------------
    def reconcile(self, now: float) -> PassReport:
        report = PassReport()
        for late in (self.news, self.admitting, self.staging):
            late.collect(report)
        stamp = rfc3339(now)
        writes = self.writes
        jobs = self.view.queued_jobs()
        objects, _ = self.view.objects()
        flavors = {o.metadata.name: o for o in objects if isinstance(o, ResourceFlavor)}
        # A Job whose admission is in flight is its admitting worker's until it answers.
        admitting = self.admitting.busy()
        synced = {k: j for k, j in jobs.items() if f"{k[0]}/job-{k[1]}" not in admitting}
        sync_jobs(writes, synced, flavors, stamp, report, CREATES_PER_PASS)
        release_stopped(
            writes, [o for o in objects if isinstance(o, ApiWorkload)], jobs, stamp, report
        )
        config = self._read_config(report)
        snapshot, objects, problems = self.view.snapshot(
            now, self.fair_sharing, config.device_classes, jobs
        )
        report.problems += problems
        self._activate_checks(objects, stamp, report)
        snapshot = self._configured(snapshot, config)
        workloads = {
            f"{o.metadata.namespace}/{o.metadata.name}": o
            for o in objects
            if isinstance(o, ApiWorkload)
        }
        # A victim still stopping is marked evicting in the snapshot: the cycle takes it
        # first and does not evict it again.
        held = (
            withheld(snapshot, jobs, self.view.job_pods, report.created, now)
            if config.staging
            else []
        )
        if held:  # not tried until their pods exist (`staging`)
            keys = {p.workload.key for p in held}
            tried = tuple(w for w in snapshot.pending if w.key not in keys)
            decisions = cycle(replace(snapshot, pending=tried), self.placer)
            decisions = replace(decisions, pending=decisions.pending + tuple(held))
        else:
            decisions = cycle(snapshot, self.placer)
        if self.metrics is not None:
            self.metrics.observe(snapshot, decisions, now)

        def preempt(pre: Preempt) -> None:
            key = pre.victim.workload.key
            job = job_of(key, jobs)
            if self._record(workloads, key, pre, stamp, report, now):
                if job is not None:
                    writes.patch_job(job, ADAPTER.on_evict(job), report)
                writes.event(job, "Warning", "Preempted", pre.message)
                report.preempted.append(key)

        def admit(adm: Admit, told: PassReport) -> None:
            key = adm.workload.key
            job = job_of(key, jobs)
            if job is not None and staged(job) is None:
                meta = job["metadata"]
                self.staging.wait(f"{meta.get('namespace', '')}/{meta['name']}")
                job = writes.view.jobs.get(meta.get("namespace", ""), meta["name"]) or job
            # Status first: killed in between, the next pass finds an admitted Workload
            # with a suspended Job and patches it again (`jobsync`).
            if self._record(workloads, key, adm, stamp, told, now):
                admission = admission_of(adm)
                # else once every check is Ready; a staged Job's pods exist, gated: their
                # gates are lifted at once (its template is immutable now)
                if job is not None and not adm.checks and staged(job) is None:
                    writes.patch_job(job, ADAPTER.on_admit(job, admission, flavors), told)
                elif job is not None and not adm.checks:
                    for item in gate_patches(writes, adm.admitted(now), snapshot.flavors):
                        lift(writes, item, told)
                message = f"Admitted by ClusterQueue {adm.cluster_queue}{placed_on(adm.pod_sets)}"
                writes.event(job, "Normal", "Admitted", message)
                told.admitted.append(key)

        def wait(pen: Pending, told: PassReport) -> None:
            key = pen.workload.key
            was = workloads[key].status if key in workloads else None
            before = was.condition(QUOTA_RESERVED) if was is not None else None
            if self._record(workloads, key, pen, stamp, told, now) and (
                before is None or before.reason != pen.reason
            ):  # an Event when the reason changes; the status carries the latest message
                writes.event(job_of(key, jobs), "Normal", pen.reason, pen.message)

        for pre in decisions.preempted:  # a victim's admission lands before its eviction
            self.admitting.wait(pre.victim.workload.key)  # (here: the pool runs admissions)
        writes.each(preempt, decisions.preempted)
        if self.in_background:
            for adm in decisions.admitted:
                self._admit_in_background(adm, workloads, stamp, admit)
        else:
            writes.each(lambda adm: admit(adm, report), decisions.admitted)
        admitting = self.admitting.busy()
        running = tuple(
            a for a in snapshot.admitted if not a.evicting and a.workload.key not in admitting
        )
        release_gates(writes, running, snapshot.flavors, report)
        if config.staging:
            line = stageable(job_of(key, jobs) for key in next_in_line(snapshot, decisions.pending))
            if self.in_background:
                for job in line:
                    meta = job["metadata"]
                    self.staging.send(
                        f"{meta.get('namespace', '')}/{meta['name']}",
                        partial(stage, writes, job, stamp),
                    )
            else:
                writes.each(lambda job: stage(writes, job, stamp, report), line)
        # Waiting reasons are news, not decisions: at most PENDING_WRITES_PER_PASS per
        # pass, so a backlog of new Workloads does not hold up the next pass (which
        # frees and admits); the rest are written by the passes after.
        in_flight = self.news.busy()
        stale = [
            p for p in decisions.pending
            if p.workload.key in workloads and p.workload.key not in in_flight
            and self._stale(workloads[p.workload.key], p, now)
        ]  # fmt: skip
        news = stale[:PENDING_WRITES_PER_PASS]
        if self.in_background:
            self._send_news(news, wait)
        else:
            writes.each(lambda p: wait(p, report), news)
        report.pending += [p.workload.key for p in decisions.pending]
        # Victims keep their quota until their pods stop, so the queue's usage counts them.
        self._write_queue_status(snapshot, replace(decisions, preempted=()), objects, report)
        return report

    def _admit_in_background(
        self,
        adm: Admit,
        workloads: Mapping[str, ApiWorkload],
        stamp: str,
        admit: Callable[[Admit, PassReport], None],
    ) -> None:
        """Send `adm` without waiting: until its status write answers, the view reads the
        Workload as admitted (`LiveView.intend`), so the next pass counts its quota and
        does not admit it again; its Job is left to the admitting worker meanwhile."""
        key = adm.workload.key
        wl = workloads.get(key)
        doc = self.view.workloads.get(*key.split("/", 1))
        if wl is None or doc is None or key in self.admitting.busy():
            return
        new = msgspec.to_builtins(workload_status(wl.status, adm, stamp))
        status = {k: v for k, v in ((doc.get("status") or {}) | new).items() if v is not None}
        ns, name = key.split("/", 1)

        def send(told: PassReport) -> None:
            try:
                admit(adm, told)
            finally:
                self.view.withdraw(ns, name)

        self.view.intend(doc | {"status": status})
        self.admitting.send(key, send)

    def _send_news(self, news: list[Pending], wait: Callable[[Pending, PassReport], None]) -> None:
        """Write waiting reasons without holding up the pass: the next pass (which frees
        and admits) starts while they are in flight. Each carries the resourceVersion it
        was decided on, so one that lands after a newer write (say the next pass's
        admission) is refused by the API server instead of undoing it."""
        for pen in news:
            self.news.send(pen.workload.key, partial(wait, pen))

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
        if isinstance(decision, Pending) and not self._stale(wl, decision, now):
            return False
        body = msgspec.to_builtins(new)
        if new.admission is None:
            body["admission"] = None  # a merge patch must say so to clear it
        ns, name = key.split("/", 1)
        # News written in the background must not land on a newer decision (see _send_news).
        guard = wl.metadata.resource_version if isinstance(decision, Pending) else None
        written = self.writes.patch_status(
            ns, name, body, report, guard if self.in_background else None
        )
        if written and isinstance(decision, Pending):
            self._pending_written[key] = now
        return written

    def _stale(self, wl: ApiWorkload, decision: Pending, now: float) -> bool:
        """Whether a waiting Workload's status should be rewritten: its reason changed,
        or only its numbers ("8 free") did and MESSAGE_REFRESH seconds have passed
        (else thousands of waiting Workloads would be rewritten on every pass; `qd
        queue why` computes the message as of now). A Workload the cycle has not tried
        yet (its reason `deduced` from one ahead of it) gets none until it is tried, as
        in Kueue: at 15,000 Workloads those first writes were a third of the status
        writes, each also costing the API server and every watcher."""
        was = wl.status.condition(QUOTA_RESERVED) if wl.status is not None else None
        if was is None:
            return not decision.deduced
        if was.reason != decision.reason:
            return True
        key = f"{wl.metadata.namespace}/{wl.metadata.name}"
        last = self._pending_written.get(key, 0.0)
        return was.message != decision.message and now - last >= MESSAGE_REFRESH

    def _activate_checks(
        self, objects: list[QueueingObject], stamp: str, report: PassReport
    ) -> None:
        """AdmissionChecks of a controller that runs here say Active (as in Kueue)."""
        for check in objects:
            if (
                not isinstance(check, AdmissionCheck)
                or check.spec.controller_name not in CONTROLLERS
            ):
                continue
            status = check.status or AdmissionCheckStatus()
            if any(c.type == "Active" and c.status == "True" for c in status.conditions):
                continue
            active = Condition(
                type="Active",
                status="True",
                reason="Active",
                message=f"{check.spec.controller_name} runs in this operator",
            )
            conds = set_condition(list(status.conditions), active, stamp)
            body = {"conditions": msgspec.to_builtins(conds)}
            self.writes.patch_check_status(check.metadata.name, body, report)

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
        changed: list[tuple[str, dict[str, object]]] = []
        for name, new in cluster_queue_status(snapshot, decisions).items():
            data = msgspec.to_builtins(new)
            body = {f: data.get(f, 0) for f in fields} | {f: data.get(f, []) for f in lists}
            old = msgspec.to_builtins(current.get(name) or {})
            if all(old.get(f, 0) == body[f] for f in fields) and all(
                old.get(f, []) == body[f] for f in lists
            ):
                continue
            changed.append((name, body))
        # all at once, as the Workloads' (one after the other they were a fifth of a pass)
        self.writes.each(lambda c: self.writes.patch_queue_status(*c, report), changed)


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
