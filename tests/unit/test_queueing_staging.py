"""Staged pods: which waiting Jobs are staged, and the patches that stage and release them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from queueing_scenarios import GPU, job, queue, running, world

from quarterdeck.queueing import PodSet, cycle
from quarterdeck.queueing.jobs import GATE, STAGED, BatchJob, lift_gate
from quarterdeck.queueing.model import Flavor
from quarterdeck.queueing.staging import held, next_in_line, stage_patch, staged


def _waiting(n: int, gpus: int = 2, queue_name: str = "a") -> list[Any]:
    return [job(f"n/job-{i}", queue_name, gpus, created=i) for i in range(n)]


def test_the_next_jobs_that_fit_twice_the_nominal_quota_are_staged_in_queue_order() -> None:
    full = [running(job("n/job-run", "a", 4))]
    wls = [*_waiting(5), job("n/job-urgent", "a", 2, priority=5, created=9)]
    snap = world([queue("a", 4)], wls, full)
    decisions = cycle(snap)
    assert not decisions.admitted
    # Twice 4 GPUs of nominal quota: the urgent one first, then the three oldest.
    assert next_in_line(snap, decisions.pending) == [
        "n/job-urgent", "n/job-0", "n/job-1", "n/job-2"
    ]  # fmt: skip


def test_the_first_that_does_not_fit_ends_the_line() -> None:
    wls = [job(f"n/job-{i}", "a", 3, created=i) for i in range(3)]
    wls.append(job("n/job-small", "a", 1, created=3))
    snap = world([queue("a", 4)], wls, [running(job("n/job-run", "a", 4))])
    assert next_in_line(snap, cycle(snap).pending) == ["n/job-0", "n/job-1"]


def test_what_a_gated_pod_cannot_be_given_later_is_never_staged() -> None:
    two = [PodSet("a", 1, {GPU: 1000}), PodSet("b", 1, {GPU: 1000})]
    gang = job("n/job-gang", "a", pod_sets=two)
    partial = job("n/job-partial", "a", pod_sets=[PodSet("main", 2, {GPU: 1000}, min_count=1)])
    plain = job("n/plain", "a", 1)  # not a Job's Workload
    snap = world([queue("a", 8)], [gang, partial, plain], [running(job("n/job-run", "a", 8))])
    assert next_in_line(snap, cycle(snap).pending) == []
    checked = world(
        [replace(queue("a", 8), admission_checks=(("approval", ()),))], _waiting(1),
        [running(job("n/job-run", "a", 8))],
    )  # fmt: skip
    assert next_in_line(checked, cycle(checked).pending) == []


def test_a_flavor_with_tolerations_keeps_its_queue_unstaged() -> None:
    snap = world([queue("a", 8)], _waiting(1), [running(job("n/job-run", "a", 8))])
    tainted = replace(snap, flavors={"h100": Flavor("h100", tolerations=(object(),))})  # type: ignore[arg-type]
    assert next_in_line(tainted, cycle(snap).pending) == []


def _job(annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "j", "namespace": "n", "annotations": annotations or {}},
        "spec": {"suspend": True, "template": {"spec": {"schedulingGates": [{"name": "x"}]}}}
        | spec,
    }


def _pod(gated: bool, phase: str = "Pending") -> dict[str, Any]:
    gates = [{"name": GATE}] if gated else []
    return {"spec": {"schedulingGates": gates}, "status": {"phase": phase}}


def test_staging_unsuspends_with_our_gate_and_a_stamp_and_eviction_unstages() -> None:
    patch = stage_patch(_job(), "2026-12-04T03:00:00Z")
    assert patch == {
        "metadata": {"annotations": {STAGED: "2026-12-04T03:00:00Z"}},
        "spec": {
            "suspend": False,
            "template": {"spec": {"schedulingGates": [{"name": "x"}, {"name": GATE}]}},
        },
    }
    job_ = _job({STAGED: "2026-12-04T03:00:00Z"}, suspend=False)
    assert staged(job_) == "2026-12-04T03:00:00Z" and staged(_job()) is None
    assert BatchJob().on_evict(job_) == {
        "metadata": {"annotations": {STAGED: None}},
        "spec": {"suspend": True},
    }
    assert BatchJob().on_evict(_job()) == {"spec": {"suspend": True}}


def test_a_staged_job_is_held_while_every_live_pod_is_gated() -> None:
    job_ = _job({STAGED: "2026-12-04T03:00:00Z"}, suspend=False)
    assert held(job_, [])
    assert held(job_, [_pod(True), _pod(False, "Failed")])
    assert not held(job_, [_pod(True), _pod(False)])  # one runs: not ours to hold
    assert not held(_job(suspend=False), [_pod(True)])  # not staged


def test_a_gate_lifted_without_a_node_adds_the_flavors_labels() -> None:
    pod = {"spec": {"schedulingGates": [{"name": GATE}, {"name": "x"}], "nodeSelector": {"a": "1"}}}
    assert lift_gate(pod, {"pool": "h100"}) == {
        "spec": {"schedulingGates": [{"name": "x"}], "nodeSelector": {"a": "1", "pool": "h100"}}
    }
    assert lift_gate(pod, {}) == {"spec": {"schedulingGates": [{"name": "x"}]}}
