"""Eviction keeps a workload's quota until its pods stop; releasing it frees the quota.

Properties over any sequence of decisions a workload can go through (pending,
admitted, preempted, released): quota is reserved exactly when an admission is
recorded, a preemption never drops a reservation by itself, and only
`quota_released` ends a stopping workload's reservation.
"""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st
from queueing_scenarios import job, queue, running, world

from quarterdeck.api.meta import ObjectMeta
from quarterdeck.api.queueing.workload import PodSet, Workload, WorkloadSpec, WorkloadStatus
from quarterdeck.queueing import cycle
from quarterdeck.queueing.decisions import Admit, Pending, Preempt
from quarterdeck.queueing.operator import describe
from quarterdeck.queueing.snapshot import snapshot_from_objects
from quarterdeck.queueing.status import quota_released, stopping, workload_status
from quarterdeck.queueing.writes import PassReport

NOW = "2026-11-21T07:00:00Z"


def _decisions() -> tuple[Admit, Preempt, Pending]:
    (admit,) = cycle(world([queue("a", 8)], [job("n/w", "a", 4)])).admitted
    low = running(job("n/w", "a", 4))
    d = cycle(
        world([queue("a", 4, within="LowerPriority")], [job("n/hi", "a", 4, priority=1)], [low])
    )
    (pre,) = d.preempted
    (pending,) = cycle(world([queue("a", 2)], [job("n/w", "a", 4)])).pending
    return admit, pre, pending


ADMIT, PREEMPT, PENDING = _decisions()
STEPS = st.lists(st.sampled_from(["admit", "preempt", "pending", "release"]), max_size=12)


@given(STEPS)
def test_reservation_follows_admission_and_ends_only_by_release(steps: list[str]) -> None:
    status = WorkloadStatus()
    for step in steps:
        before = status
        if step == "release":
            if not stopping(status):
                continue  # the controller releases only stopping workloads
            status = quota_released(status, NOW)
            assert not stopping(status) and status.admission is None
            assert not status.is_true("QuotaReserved")
        else:
            decision = {"admit": ADMIT, "preempt": PREEMPT, "pending": PENDING}[step]
            status = workload_status(status, decision, NOW)
        reserved = status.is_true("QuotaReserved")
        assert reserved == (status.admission is not None), (steps, status)
        if step == "preempt":
            assert status.is_true("Evicted") and not status.is_true("Admitted")
            assert reserved == before.is_true("QuotaReserved")  # kept until pods stop
            assert stopping(status) == reserved


def test_a_stopping_workload_still_counts_in_the_snapshot() -> None:
    """Its pods hold the nodes, so its usage must stay in the cycle's accounting."""
    status = workload_status(workload_status(None, ADMIT, NOW), PREEMPT, NOW)
    assert stopping(status)
    template = {
        "spec": {"containers": [{"name": "c", "resources": {"requests": {"nvidia.com/gpu": 1}}}]}
    }
    wl = Workload(
        metadata=ObjectMeta(name="w", namespace="n"),
        spec=WorkloadSpec(pod_sets=[PodSet(name="main", count=4, template=template)]),
        status=status,
    )
    snap = snapshot_from_objects([wl])
    assert [a.workload.key for a in snap.admitted] == ["n/w"] and not snap.pending
    freed = msgspec.structs.replace(wl, status=quota_released(status, NOW))
    after = snapshot_from_objects([freed])
    assert not after.admitted and [w.key for w in after.pending] == ["n/w"]  # requeued


def test_describe_lists_what_a_pass_did_in_order() -> None:
    report = PassReport(
        created=["n/job-a"], admitted=["n/job-a"], stopped=["n/job-b"], problems=["bad queue"]
    )
    assert describe(report) == [
        "created   n/job-a",
        "admitted  n/job-a",
        "stopped   n/job-b",
        "warning: bad queue",
    ]
