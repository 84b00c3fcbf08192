"""Status the controller writes back: Workload conditions and ClusterQueue usage.

Pure: given a decision (and the current status) the new status; given a snapshot and
the decisions of its cycle the ClusterQueue status. Condition types and reasons are
Kueue's (QuotaReserved, Admitted, Evicted with Preempted), so `kubectl get` output
and users' habits carry over; a condition's lastTransitionTime only moves when its
status changes, as Kubernetes conventions ask.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

from quarterdeck.api.meta import Condition
from quarterdeck.api.meta import set_condition as shared_set_condition
from quarterdeck.api.queueing.check import AdmissionCheckState
from quarterdeck.api.queueing.clusterqueue import ClusterQueueStatus, FlavorUsage, ResourceUsage
from quarterdeck.api.queueing.quantity import from_milli
from quarterdeck.api.queueing.workload import (
    ADMITTED,
    EVICTED,
    PREEMPTED,
    QUOTA_RESERVED,
    RequeueState,
    WorkloadStatus,
)
from quarterdeck.queueing.decisions import Admit, Decisions, Pending, Preempt, apply
from quarterdeck.queueing.model import PodSetAdmission, Snapshot
from quarterdeck.queueing.quota import QuotaState
from quarterdeck.queueing.snapshot import admission_of


def set_condition(conditions: list[Condition], new: Condition, now: str) -> list[Condition]:
    """`conditions` with `new` in place of its type; the transition time moves on change."""
    return shared_set_condition(conditions, msgspec.structs.replace(new, last_transition_time=now))


CHECKS_PENDING = "AdmissionChecksPending"


def _cond(type_: str, status: Literal["True", "False"], reason: str, message: str) -> Condition:
    return Condition(type=type_, status=status, reason=reason, message=message)


def workload_status(
    current: WorkloadStatus | None, decision: Admit | Pending | Preempt, now: str
) -> WorkloadStatus:
    """The Workload status after `decision` (`now` is an RFC 3339 timestamp)."""
    status = current or WorkloadStatus()
    conds = list(status.conditions)
    if isinstance(decision, Admit):
        cq = decision.cluster_queue
        conds = set_condition(
            conds,
            _cond(QUOTA_RESERVED, "True", "QuotaReserved", f"Quota reserved in ClusterQueue {cq}"),
            now,
        )
        told = f"The workload is admitted; {decision.placement}" if decision.placement else ""
        admitted = _cond(ADMITTED, "True", "Admitted", told or "The workload is admitted")
        checks = [AdmissionCheckState(name=n, last_transition_time=now) for n in decision.checks]
        if checks:  # quota is reserved; admitted once every check says Ready (`jobsync`)
            waiting = f"waiting for AdmissionChecks {', '.join(decision.checks)}"
            waiting += f"; {decision.placement}" if decision.placement else ""
            admitted = _cond(ADMITTED, "False", CHECKS_PENDING, waiting)
        conds = set_condition(conds, admitted, now)
        conds = [c for c in conds if c.type not in (EVICTED, PREEMPTED)]
        return WorkloadStatus(
            admission=admission_of(decision),
            conditions=conds,
            requeue_state=status.requeue_state,
            admission_checks=checks,
        )
    if isinstance(decision, Preempt):
        # As in Kueue, the quota stays reserved (QuotaReserved, admission) until the
        # job has stopped: its pods still hold the nodes. `quota_released` ends it.
        conds = set_condition(conds, _cond(EVICTED, "True", "Preempted", decision.message), now)
        conds = set_condition(
            conds, _cond(PREEMPTED, "True", decision.reason, decision.message), now
        )
        conds = set_condition(conds, _cond(ADMITTED, "False", "Preempted", decision.message), now)
        count = (status.requeue_state.count or 0) if status.requeue_state else 0
        return WorkloadStatus(
            admission=status.admission,
            conditions=conds,
            requeue_state=RequeueState(count=count + 1),
        )
    conds = set_condition(
        conds, _cond(QUOTA_RESERVED, "False", decision.reason, decision.message), now
    )
    return WorkloadStatus(conditions=conds, requeue_state=status.requeue_state)


def stopping(status: WorkloadStatus | None) -> bool:
    """Evicted while still holding its quota: its job's pods have not all stopped yet."""
    return status is not None and status.is_true(EVICTED) and status.is_true(QUOTA_RESERVED)


def after_checks(status: WorkloadStatus, now: str) -> tuple[WorkloadStatus, bool] | None:
    """A reserved workload's status once its AdmissionChecks have answered, and whether
    to deactivate it: admitted when all say Ready; quota released and requeued on a
    Retry; released and deactivated on a Rejected (as Kueue). None while any is Pending
    or when it waits for no check."""
    if not status.admission_checks or status.is_true(ADMITTED):
        return None
    states = {c.state for c in status.admission_checks}
    bad = [c for c in status.admission_checks if c.state in ("Rejected", "Retry")]
    if bad:
        check = next((c for c in bad if c.state == "Rejected"), bad[0])
        reason = f"AdmissionCheck{check.state}"
        message = f"AdmissionCheck {check.name} says {check.state}"
        message += f": {check.message}" if check.message else ""
        conds = list(status.conditions)
        for type_ in (QUOTA_RESERVED, ADMITTED):
            conds = set_condition(conds, _cond(type_, "False", reason, message), now)
        released = WorkloadStatus(conditions=conds, requeue_state=status.requeue_state)
        return released, check.state == "Rejected"
    if states != {"Ready"}:
        return None
    names = ", ".join(c.name for c in status.admission_checks)
    ready = _cond(ADMITTED, "True", "Admitted", f"The workload is admitted; {names} Ready")
    conds = set_condition(list(status.conditions), ready, now)
    return msgspec.structs.replace(status, conditions=conds), False


def quota_released(status: WorkloadStatus, now: str) -> WorkloadStatus:
    """The status of an evicted workload whose pods have stopped: quota free, requeued."""
    evicted = status.condition(EVICTED)
    reason = evicted.reason if evicted is not None else "Evicted"
    message = "the evicted workload's pods have stopped; its quota is released"
    conds = set_condition(
        list(status.conditions), _cond(QUOTA_RESERVED, "False", reason, message), now
    )
    return WorkloadStatus(conditions=conds, requeue_state=status.requeue_state)


def cluster_queue_status(snapshot: Snapshot, decisions: Decisions) -> dict[str, ClusterQueueStatus]:
    """Counts and per-flavor usage (and borrowed part) of every ClusterQueue after the cycle."""
    after = apply(snapshot, decisions, snapshot.now)
    quota = QuotaState(after.cluster_queues, after.cohorts)
    for adm in after.admitted:
        if adm.workload.cluster_queue in quota.queues:
            quota.add(adm.workload.cluster_queue, adm.usage())
    pending: dict[str, int] = {}
    for wl in after.pending:
        pending[wl.cluster_queue] = pending.get(wl.cluster_queue, 0) + 1
    admitted: dict[str, int] = {}
    reserving: dict[str, int] = {}
    for adm in after.admitted:
        name = adm.workload.cluster_queue
        reserving[name] = reserving.get(name, 0) + 1
        admitted[name] = admitted.get(name, 0) + (0 if adm.waiting else 1)
    out: dict[str, ClusterQueueStatus] = {}
    for name, cq in snapshot.cluster_queues.items():
        usage = _flavor_usage(quota, name, [fr for fr, _ in cq.flavor_resources()])
        out[name] = ClusterQueueStatus(
            pending_workloads=pending.get(name, 0),
            reserving_workloads=reserving.get(name, 0),
            admitted_workloads=admitted.get(name, 0),
            flavors_reservation=usage,
            flavors_usage=usage,
        )
    return out


def _flavor_usage(quota: QuotaState, cq: str, frs: list[tuple[str, str]]) -> list[FlavorUsage]:
    by_flavor: dict[str, list[str]] = {}
    for flavor, res in frs:
        by_flavor.setdefault(flavor, []).append(res)
    out = []
    for flavor, resources in by_flavor.items():
        rows = []
        for res in resources:
            used = quota.used(cq, (flavor, res))
            nominal = quota.quotas[cq][(flavor, res)].nominal
            rows.append(
                ResourceUsage(
                    name=res, total=from_milli(used), borrowed=from_milli(max(0, used - nominal))
                )
            )
        out.append(FlavorUsage(name=flavor, resources=rows))
    return out


def placed_on(pod_sets: Sequence[PodSetAdmission]) -> str:
    """ " on flavor F, nodes A (GPUs 0-3), B": where admitted pod sets run, in words."""
    flavors = sorted({f for ps in pod_sets for f in ps.flavors.values()})
    nodes: dict[str, list[int]] = {}
    for ps in pod_sets:
        for name in ps.nodes or {}:
            nodes.setdefault(name, [])
        for pod in ps.devices or ():
            nodes.setdefault(pod.node, []).extend(pod.gpus)
    where = f" on flavor {', '.join(flavors)}" if flavors else ""
    if nodes:
        where += ", nodes " + ", ".join(
            name + (f" (GPUs {_indices(gpus)})" if gpus else "")
            for name, gpus in sorted(nodes.items())
        )
    return where


def _indices(gpus: list[int]) -> str:
    ordered = sorted(set(gpus))
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ",".join(str(g) for g in ordered)
