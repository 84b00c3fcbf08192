"""Status written back to Workloads and ClusterQueues from one cycle's decisions."""

from __future__ import annotations

from queueing_scenarios import GPU, job, queue, running, world

from quarterdeck.queueing import cycle
from quarterdeck.queueing.status import (
    cluster_queue_status,
    quota_released,
    stopping,
    workload_status,
)

T0, T1, T2 = "2026-11-21T06:00:00Z", "2026-11-21T06:01:00Z", "2026-11-21T06:02:00Z"


def test_pending_then_admitted_then_preempted_conditions() -> None:
    snap = world([queue("a", 4)], [job("n/1", "a", 4)], [running(job("n/0", "a", 2))])
    (pending,) = cycle(snap).pending
    st = workload_status(None, pending, T0)
    (cond,) = st.conditions
    assert (cond.type, cond.status, cond.reason) == ("QuotaReserved", "False", "Pending")
    assert cond.message.startswith("needs 4 nvidia.com/gpu") and cond.last_transition_time == T0

    again = workload_status(st, pending, T1)
    assert again.conditions[0].last_transition_time == T0  # unchanged status keeps its time

    (admit,) = cycle(world([queue("a", 8)], [job("n/1", "a", 6)])).admitted
    st = workload_status(again, admit, T1)
    types = {c.type: (c.status, c.last_transition_time) for c in st.conditions}
    assert types == {"QuotaReserved": ("True", T1), "Admitted": ("True", T1)}
    assert st.admission is not None and st.admission.cluster_queue == "a"

    low = running(job("n/low", "a", 4))
    d = cycle(
        world([queue("a", 4, within="LowerPriority")], [job("n/hi", "a", 4, priority=1)], [low])
    )
    (pre,) = d.preempted
    st = workload_status(st, pre, T2)
    by = {c.type: c for c in st.conditions}
    assert by["Evicted"].status == "True" and by["Evicted"].reason == "Preempted"
    assert by["Admitted"].status == "False"
    assert st.requeue_state is not None and st.requeue_state.count == 1
    # Its pods may still run: the quota stays reserved until they have stopped.
    assert by["QuotaReserved"].status == "True" and st.admission is not None and stopping(st)

    freed = quota_released(st, T2)
    by = {c.type: c for c in freed.conditions}
    assert (by["QuotaReserved"].status, by["QuotaReserved"].reason) == ("False", "Preempted")
    assert freed.admission is None and not stopping(freed)
    assert freed.requeue_state == st.requeue_state


def test_cluster_queue_status_counts_and_borrowed_usage() -> None:
    qs = [queue("a", 4, cohort="c"), queue("b", 4, cohort="c")]
    snap = world(
        qs, [job("n/1", "a", 6), job("n/2", "a", 4, created=1)], [running(job("n/0", "b", 1))]
    )
    d = cycle(snap)
    status = cluster_queue_status(snap, d)
    a = status["a"]
    assert (a.pending_workloads, a.admitted_workloads) == (1, 1)
    (h100,) = [f for f in a.flavors_usage if f.name == "h100"]
    assert h100.resources[0].name == GPU
    assert (h100.resources[0].total, h100.resources[0].borrowed) == (6, 2)
    assert status["b"].admitted_workloads == 1
