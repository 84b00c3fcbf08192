"""Carrying out what the pure cores decide: idle actions, budget alerts, SLO status.

Each action is written once: a pod acted on is remembered (and shown in the policy's
status), a budget threshold is recorded in status before the next pass can fire it
again. Every action and every dry-run verdict is an Event saying what and why.
Notifications are Notices handed to `quarterdeck.notify` (`budget-exceeded`,
`gpu-idle`): its Alerts pick them by kind, name and labels and its Providers send them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec
import structlog
from lightkube import Client
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType

from quarterdeck.api.showback import BudgetSpec, GpuIdlePolicySpec, QueueObjectiveSpec
from quarterdeck.notify.notice import Notice, notice
from quarterdeck.showback import borrowing, idle, objectives
from quarterdeck.showback import budget as budgets
from quarterdeck.showback.account import account
from quarterdeck.showback.observe import timestamp
from quarterdeck.showback.prices import Prices
from quarterdeck.showback.resources import (
    BudgetResource,
    ClusterQueueResource,
    IdlePolicyResource,
    ObjectiveResource,
    WorkloadResource,
)
from quarterdeck.showback.usage import UsageRecord
from quarterdeck.showback.window import Window

log = structlog.get_logger("quarterdeck.showback")
Obj = Mapping[str, Any]
JOB_LABEL = "batch.kubernetes.io/job-name"
EVICTED_REASON = "GpuIdle"


class Recorder(Protocol):
    def event(
        self, regarding: Mapping[str, Any], type_: str, reason: str, message: str
    ) -> None: ...


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(type_: str, ok: bool, reason: str, message: str, now: float) -> dict[str, Any]:
    return {
        "type": type_,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": _iso(now),
    }


def _metrics_condition(degraded: str, now: float) -> dict[str, Any]:
    if degraded:
        return _condition(
            "MetricsAvailable",
            False,
            "PrometheusUnreachable",
            f"{degraded}; accounting from the cluster only",
            now,
        )
    return _condition("MetricsAvailable", True, "PrometheusAnswers", "GPU utilisation read", now)


def _same(body: Any) -> str:
    """A status body without its timestamps: what decides whether it is worth a write."""
    text = json.dumps(body, sort_keys=True, default=str)
    return re.sub(r'"lastTransitionTime": "[^"]*"', "", text)


def _pod_ref(r: UsageRecord) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"namespace": r.namespace, "name": r.pod, "uid": r.uid},
    }


class Actions:
    def __init__(
        self,
        client: Client,
        recorder: Recorder,
        publish: Callable[[Notice], object] | None = None,
        on_budget: Callable[[str, str, float], None] | None = None,
    ) -> None:
        self.client = client
        self.recorder = recorder
        self.publish = publish
        self.on_budget = on_budget
        self.done: set[tuple[str, str, str]] = set()  # (policy uid, pod uid, action)
        self.reported: set[tuple[str, str, str]] = set()  # verdicts not acted on, told once
        self.written: dict[tuple[str, str, str], str] = {}  # last status body per object
        self.fired: dict[str, tuple[float, set[int]]] = {}  # budget uid -> (period, crossed)

    # --- idle GPUs ------------------------------------------------------------------

    def idle_policy(
        self, policy: Obj, records: Sequence[UsageRecord], now: float, degraded: str
    ) -> None:
        meta = policy.get("metadata") or {}
        ns, name, uid = meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", "")
        try:
            spec = msgspec.convert(policy.get("spec") or {}, GpuIdlePolicySpec)
            verdicts = idle.decide(spec, ns, records, now)
        except (msgspec.ValidationError, ValueError) as err:
            self._policy_status(
                ns, name, [], [_condition("Ready", False, "InvalidSpec", str(err), now)]
            )
            return
        for done in (policy.get("status") or {}).get("idle") or []:
            if done.get("done"):
                self.done.add((uid, str(done.get("pod", "")), str(done.get("action", ""))))
        findings = []
        for v in verdicts:
            key = (uid, v.record.uid, v.action)
            acted = key in self.done
            if not acted and (v.act or key not in self.reported):
                self._carry_out(spec, name, v, now)
                if v.act:
                    self.done.add(key)
                    acted = True
                else:
                    self.reported.add(key)
            findings.append(
                {
                    "pod": v.record.uid,
                    "idleSince": v.idle_since,
                    "action": v.action,
                    "done": (acted and v.act) or key in self.done,
                    "message": f"{v.record.namespace}/{v.record.pod}: {v.message}",
                }
            )
        current = {(f["pod"], f["action"]) for f in findings}
        kept = [  # what was done stays in status (the last 50), after its pod is gone
            f
            for f in ((policy.get("status") or {}).get("idle") or [])
            if f.get("done") and (f.get("pod"), f.get("action")) not in current
        ]
        findings = (kept + findings)[-50:]
        conds = [
            _condition("Ready", True, "Evaluated", f"{len(verdicts)} idle pod(s)", now),
            _metrics_condition(degraded, now),
        ]
        self._policy_status(ns, name, findings, conds)

    def _carry_out(self, spec: GpuIdlePolicySpec, policy: str, v: idle.Verdict, now: float) -> None:
        r = v.record
        what = f"GpuIdlePolicy {policy}: {v.message}"
        if not v.act:
            would = {
                "Suspend": "would suspend the Job",
                "DeleteNotebook": "would delete the pod",
                "Notify": "would notify",
                "Report": "reported",
            }[v.action]
            prefix = "dry run: " if spec.dry_run else ""
            self.recorder.event(_pod_ref(r), "Warning", "GpuIdle", f"{prefix}{would}; {what}")
            return
        if v.action == "Report":
            self.recorder.event(_pod_ref(r), "Warning", "GpuIdle", what)
        elif v.action == "Notify":
            sent = self._publish(
                notice(
                    "gpu-idle",
                    "Pod",
                    r.namespace,
                    r.pod,
                    v.message,
                    time=_iso(now),
                    labels=dict(r.labels),
                )
            )
            self.recorder.event(_pod_ref(r), "Warning", "GpuIdle", f"{what}; {sent}")
        elif v.action == "Suspend":
            job = r.label(JOB_LABEL) or ""
            self._evict(r.namespace, f"job-{job}", v.message, v.idle_since)
            self.recorder.event(
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {"namespace": r.namespace, "name": job},
                },
                "Warning",
                "GpuIdleSuspended",
                f"{what}; Workload evicted, the Job requeues",
            )
        elif v.action == "DeleteNotebook":
            try:
                self.client.delete(Pod, r.pod, namespace=r.namespace)
            except Exception as err:
                log.warning(
                    "cannot delete idle notebook", pod=f"{r.namespace}/{r.pod}", error=str(err)
                )
                return
            self.recorder.event(
                _pod_ref(r), "Warning", "GpuIdleDeleted", f"{what}; notebook pod deleted"
            )

    def _evict(self, ns: str, workload: str, message: str, now: float) -> None:
        """Evict the Workload as Kueue's controllers do (an `Evicted` condition): the
        queueing controller then suspends its Job, releases the quota and requeues it."""
        current: dict[str, Any] = self.client.get(
            WorkloadResource, workload, namespace=ns
        ).to_dict()  # type: ignore[no-untyped-call]
        conds = [
            c
            for c in ((current.get("status") or {}).get("conditions") or [])
            if c.get("type") != "Evicted"
        ]
        conds.append(_condition("Evicted", True, EVICTED_REASON, f"GPU idle: {message}", now))
        self.client.patch(
            WorkloadResource.Status,
            workload,
            {"status": {"conditions": conds}},
            namespace=ns,
            patch_type=PatchType.MERGE,
        )

    def _policy_status(self, ns: str, name: str, idle_: list[Any], conds: list[Any]) -> None:
        if not self._changed(("GpuIdlePolicy", ns, name), {"idle": idle_, "conditions": conds}):
            return
        try:
            self.client.patch(
                IdlePolicyResource.Status,
                name,
                {"status": {"idle": idle_, "conditions": conds}},
                namespace=ns,
                patch_type=PatchType.MERGE,
            )
        except Exception as err:
            log.warning("cannot write GpuIdlePolicy status", policy=f"{ns}/{name}", error=str(err))
            self.written.pop(("GpuIdlePolicy", ns, name), None)

    def _changed(self, key: tuple[str, str, str], body: Any) -> bool:
        """True (and remembered) when `body` differs from the last one written for `key`."""
        same = _same(body)
        if self.written.get(key) == same:
            return False
        self.written[key] = same
        return True

    def _publish(self, item: Notice) -> str:
        """Hand `item` to notify; says what became of it, for the Event."""
        if self.publish is None:
            return "not notified (no notify controller runs)"
        self.publish(item)
        return "notified"

    # --- budgets --------------------------------------------------------------------

    def budget(
        self, obj: Obj, records: Sequence[UsageRecord], prices: Prices, now: float, degraded: str
    ) -> str:
        """Evaluate one Budget; returns the ClusterQueue it keeps from borrowing ("")."""
        meta = obj.get("metadata") or {}
        name, uid = meta.get("name", ""), meta.get("uid", "")
        status = obj.get("status") or {}
        try:
            spec = msgspec.convert(obj.get("spec") or {}, BudgetSpec)
        except msgspec.ValidationError as err:
            log.warning("invalid Budget", budget=name, error=str(err))
            return str(status.get("borrowingStopped") or "")
        start = budgets.period_start(spec.period, now)
        window = Window(start, max(now, start + 1))
        spent = account(records, prices, window, [f"label:{spec.team_label}"], now)
        remembered = self.fired.get(uid)
        already: set[int] = set(status.get("crossed") or [])
        period = timestamp(status.get("periodStart"))
        if remembered is not None and remembered[0] == start:
            already |= remembered[1]
            period = start
        state = budgets.evaluate(
            spec, spent.allocations.get(spec.team), tuple(already), period, now
        )
        self.fired[uid] = (state.period_start, set(state.crossed))
        for threshold in state.new:
            message = (
                f"team {spec.team} has used {state.percent:.1f}% of its {spec.period} budget "
                f"(threshold {threshold}%): {state.gpu_hours:.3f} GPU-hours, cost "
                f"{state.cost if state.cost is not None else 'unpriced'}"
            )
            sent = self._publish(
                notice(
                    "budget-exceeded",
                    "Budget",
                    "",
                    name,
                    message,
                    severity="error" if threshold >= 100 else "info",
                    time=_iso(now),
                    labels={**(meta.get("labels") or {}), "threshold": str(threshold)},
                )
            )
            self.recorder.event(dict(obj), "Warning", "BudgetThreshold", f"{message}; {sent}")
        if self.on_budget is not None:
            self.on_budget(name, spec.team, state.percent)
        held = self._borrowing(obj, spec, state.percent >= 100, status)
        conds = [
            _condition("Ready", True, "Evaluated", f"{state.percent:.1f}% used", now),
            _metrics_condition(degraded, now),
        ]
        if state.unpriced:
            conds.append(
                _condition(
                    "Priced",
                    False,
                    "UnpricedModel",
                    "no price for " + ", ".join(state.unpriced),
                    now,
                )
            )
        body = {
            "periodStart": _iso(state.period_start),
            "gpuHours": round(state.gpu_hours, 9),
            "cost": "" if state.cost is None else str(state.cost),
            "percent": round(state.percent, 6),
            "crossed": list(state.crossed),
            "borrowingStopped": held,
            "conditions": conds,
        }
        if not self._changed(("Budget", "", name), body):
            return held
        try:
            self.client.patch(
                BudgetResource.Status, name, {"status": body}, patch_type=PatchType.MERGE
            )
        except Exception as err:
            log.warning("cannot write Budget status", budget=name, error=str(err))
            self.written.pop(("Budget", "", name), None)
        return held

    def release_orphans(self, queues: Sequence[Obj], held: set[str]) -> None:
        """Queues stopped by a Budget that no longer holds them borrow again."""
        for cq in borrowing.orphaned(queues, held):
            name = str((cq.get("metadata") or {}).get("name", ""))
            ops = borrowing.restore_borrowing(cq)
            if ops is None:
                continue
            try:
                self.client.patch(ClusterQueueResource, name, ops, patch_type=PatchType.JSON)
            except Exception as err:  # edited in between or gone: next pass again
                log.warning("cannot restore ClusterQueue borrowing", queue=name, error=str(err))
                continue
            self.recorder.event(
                dict(cq),
                "Normal",
                "BorrowingRestored",
                f"ClusterQueue {name} borrows again: no Budget keeps its borrowing stopped",
            )

    def _borrowing(self, obj: Obj, spec: BudgetSpec, over: bool, status: Obj) -> str:
        """Over budget: the team's ClusterQueue stops borrowing (spec.stopBorrowing);
        back under (a new period): it borrows again. Returns the queue now stopped."""
        was = str(status.get("borrowingStopped") or "")
        queue = spec.cluster_queue if spec.stop_borrowing else ""
        target = queue if over else ""
        if not target and not was:
            return ""
        name = target or was
        try:
            cq = self.client.get(ClusterQueueResource, name).to_dict()  # type: ignore[no-untyped-call]
            ops = borrowing.stop_borrowing(cq) if target else borrowing.restore_borrowing(cq)
            if ops is not None:
                self.client.patch(ClusterQueueResource, name, ops, patch_type=PatchType.JSON)
                verb = "stopped borrowing" if target else "borrows again"
                self.recorder.event(
                    dict(obj),
                    "Warning" if target else "Normal",
                    "BorrowingStopped" if target else "BorrowingRestored",
                    f"ClusterQueue {name} {verb}: team {spec.team} is "
                    + ("over" if target else "back under")
                    + " its budget",
                )
        except Exception as err:  # no such queue, or edited in between: next pass again
            log.warning("cannot change ClusterQueue borrowing", queue=name, error=str(err))
            return was
        return target

    # --- queue objectives -----------------------------------------------------------

    def objective(
        self,
        obj: Obj,
        waits: objectives.QueueWaits,
        records: Sequence[UsageRecord],
        now: float,
        wall_now: float,
    ) -> None:
        meta = obj.get("metadata") or {}
        name = meta.get("name", "")
        try:
            spec = msgspec.convert(obj.get("spec") or {}, QueueObjectiveSpec)
            span = Window(now - _seconds(spec.window), now)
        except (msgspec.ValidationError, ValueError) as err:
            log.warning("invalid QueueObjective", objective=name, error=str(err))
            return
        waited = waits.since(spec.cluster_queue, wall_now - span.seconds)
        usage = account(records, Prices(), span, ["queue"], now).allocations.get(spec.cluster_queue)
        state = objectives.evaluate(spec, waited, usage.gpu_utilisation if usage else None)
        body = {
            "waitP50Seconds": state.wait_p50,
            "waitP95Seconds": state.wait_p95,
            "utilisation": state.utilisation,
            "errorBudgetRemaining": state.error_budget_remaining,
            "workloads": state.workloads,
            "conditions": [_condition("Met", state.met, "Evaluated", state.message, now)],
        }
        if not self._changed(("QueueObjective", "", name), body):
            return
        try:
            self.client.patch(
                ObjectiveResource.Status, name, {"status": body}, patch_type=PatchType.MERGE
            )
        except Exception as err:
            log.warning("cannot write QueueObjective status", objective=name, error=str(err))
            self.written.pop(("QueueObjective", "", name), None)


def _seconds(text: str) -> float:
    from quarterdeck.api.duration import parse_duration

    return parse_duration(text)
