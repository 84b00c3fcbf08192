"""The Kueue-beside-us scenario: Kueue's baseline shapes and what a run's summary counts."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "peers"))

import queue_scenario as qs


def test_full_scale_is_kueues_baseline() -> None:
    plans = qs.plan(1.0)
    assert len(plans) == 15_000
    assert len(qs.queue_names()) == 30
    assert [p.due_ms for p in plans] == sorted(p.due_ms for p in plans)
    large = [p for p in plans if p.cls == "large"]
    assert len(large) == 30 * 50 and {(p.cpu, p.runtime_ms, p.priority) for p in large} == {
        (20, 1000, 200)
    }


def test_same_objects_for_both_controllers_but_group_and_cohort_field() -> None:
    kueue, qd = qs.queue_objects(qs.KUEUE), qs.queue_objects(qs.QD)
    assert len(kueue) == len(qd) == 1 + 3 * 30
    cq_k = next(d for d in kueue if d["kind"] == "ClusterQueue")
    cq_q = next(d for d in qd if d["kind"] == "ClusterQueue")
    assert cq_k["spec"]["cohortName"] == cq_q["spec"]["cohort"] == "cohort-0"
    assert cq_k["spec"]["preemption"] == cq_q["spec"]["preemption"]
    wl = qs.workload_object(qs.KUEUE, qs.plan(0.01)[0])
    assert wl["apiVersion"] == "kueue.x-k8s.io/v1beta2"
    assert wl["spec"]["queueName"] == wl["metadata"]["namespace"]


def test_useful_usage_counts_only_the_run_that_finished() -> None:
    small = qs.WorkloadPlan("cq-0-cohort-0", "a", "small", 0, 1000, 50, 20)
    big = qs.WorkloadPlan("cq-0-cohort-0", "b", "large", 0, 1000, 200, 20)
    evicted_then_done = qs.Timeline(small, 0.0, [0.0, 2.0], [1.0], 3.0)
    done = qs.Timeline(big, 0.0, [1.0], [], 2.0)
    out = qs.summarize([evicted_then_done, done])
    quota = 20 * 30
    assert out["wall_s"] == 2.0 and out["span_s"] == 3.0
    assert out["evictions"] == 1
    assert out["useful_pct"] == 100 * (20 + 20) / (3.0 * quota)
    assert out["reserved_pct"] == 100 * (20 * 1 + 20 * 1 + 20 * 1) / (3.0 * quota)
    assert out["wait_s_small"] == 2.0 and out["wait_s_large"] == 1.0
