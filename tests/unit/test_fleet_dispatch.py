"""Choosing the worker cluster for a GPU gang: whole or not at all, least fragmentation."""

from __future__ import annotations

import json
from typing import Any

from quarterdeck.fleet.dispatch import (
    check_states,
    choose_worker,
    fleet_check,
    free_state,
    gang_of,
    mirrored_status,
)
from quarterdeck.fleet.dispatcher import MANAGED_BY, ORIGIN, remote_job
from quarterdeck.queueing.jobs import GATE, SAVED_SCHEDULING


def node(name: str, gpus: int, cpu: str = "64", product: str = "NVIDIA-H100") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"nvidia.com/gpu.product": product}},
        "status": {
            "allocatable": {"cpu": cpu, "memory": "512Gi", "nvidia.com/gpu": str(gpus)},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pod(node_name: str, gpus: int, phase: str = "Running") -> dict[str, Any]:
    res = {"requests": {"cpu": "1", "nvidia.com/gpu": str(gpus)}}
    return {
        "spec": {"nodeName": node_name, "containers": [{"resources": res}]},
        "status": {"phase": phase},
    }


TEMPLATE = {
    "spec": {
        "containers": [
            {"resources": {"requests": {"cpu": "2", "memory": "1Gi", "nvidia.com/gpu": "4"}}}
        ]
    }
}


def test_the_gang_goes_where_it_fits_whole() -> None:
    busy = free_state([node("a0", 8)], [pod("a0", 6), pod("a0", 2, phase="Succeeded")])
    idle = free_state([node("b0", 8)], [])
    choice = choose_worker({"a": busy, "b": idle}, gang_of(TEMPLATE, 2))
    assert choice.worker == "b"
    assert "does not fit whole" in choice.reasons["a"] and choice.reasons["b"].startswith("fits")


def test_a_gang_split_across_too_small_nodes_is_refused() -> None:
    split = free_state([node("c0", 3), node("c1", 3)], [])
    choice = choose_worker({"c": split}, gang_of(TEMPLATE, 2))
    assert choice.worker == "" and "does not fit whole" in choice.reasons["c"]


def test_the_least_fragmenting_worker_wins_not_the_first() -> None:
    # "a" would be left with 4 GPUs on a node (room for another gang pod) and 3 odd ones
    # elsewhere; "b" fits exactly. Both accept the gang; b leaves nothing stranded.
    a = free_state([node("a0", 8), node("a1", 3)], [])
    b = free_state([node("b0", 4), node("b1", 4)], [])
    choice = choose_worker({"a": a, "b": b}, gang_of(TEMPLATE, 2))
    assert choice.worker == "b"


def test_cordoned_and_not_ready_nodes_offer_nothing() -> None:
    cordoned = {**node("d0", 8), "spec": {"unschedulable": True}}
    down = node("d1", 8)
    down["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    assert len(free_state([cordoned, down], [])) == 0


def _workload(*true: str, checks: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    return {
        "status": {
            "conditions": [{"type": t, "status": "True"} for t in true],
            "admissionChecks": [{"name": n, "state": s, "message": ""} for n, s in checks],
        }
    }


def test_only_a_workload_holding_quota_and_waiting_on_a_fleet_check_is_dispatched() -> None:
    fleet = {"fleet"}
    both = (("fleet", "Pending"), ("approval", "Ready"))
    assert fleet_check(_workload("QuotaReserved", checks=both), fleet) == {
        "name": "fleet",
        "state": "Pending",
        "message": "",
    }
    assert fleet_check(_workload(checks=both), fleet) is None  # no quota yet
    assert fleet_check(_workload("QuotaReserved", "Evicted", checks=both), fleet) is None
    assert fleet_check(_workload("QuotaReserved", "Finished", checks=both), fleet) is None
    assert fleet_check(_workload("QuotaReserved", checks=(("approval", "Ready"),)), fleet) is None
    assert fleet_check(None, fleet) is None


def test_a_check_state_is_written_only_when_it_changes_and_keeps_the_others() -> None:
    entries = [
        {"name": "fleet", "state": "Pending", "message": "", "lastTransitionTime": "t0"},
        {"name": "approval", "state": "Ready", "message": "ok", "lastTransitionTime": "t0"},
    ]
    ready = check_states(entries, "fleet", "Ready", "dispatched to b", "t1")
    assert ready is not None and ready[1] == entries[1]
    assert ready[0] == {
        "name": "fleet",
        "state": "Ready",
        "message": "dispatched to b",
        "lastTransitionTime": "t1",
    }
    assert check_states(ready, "fleet", "Ready", "dispatched to b", "t2") is None
    why = check_states(entries, "fleet", "Pending", "no worker fits", "t3")
    assert why is not None and why[0]["lastTransitionTime"] == "t0"  # same state: same time


def test_the_remote_copy_runs_with_the_users_scheduling_not_the_management_clusters() -> None:
    saved = {
        "nodeSelector": {"team": "a"},
        "tolerations": [],
        "affinity": {},
        "labels": {"role": "trainer", "batch.kubernetes.io/job-name": "gang"},
        "annotations": {},
    }
    job = {
        "metadata": {
            "name": "gang",
            "namespace": "ml",
            "uid": "u1",
            "labels": {"queueing.quarterdeck.dev/queue-name": "training", "app": "x"},
            "annotations": {SAVED_SCHEDULING: json.dumps(saved)},
        },
        "spec": {
            "managedBy": MANAGED_BY,
            "suspend": True,
            "parallelism": 2,
            "template": {
                "spec": {
                    "nodeSelector": {"quarterdeck.dev/pool": "gpu-h100-8", "team": "a"},
                    "affinity": {"nodeAffinity": {"pinned": "mgmt-node-1"}},
                    "schedulingGates": [{"name": GATE}, {"name": "theirs"}],
                    "containers": [],
                }
            },
        },
    }
    body = remote_job(job)
    pod = body["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"team": "a"} and "affinity" not in pod
    assert pod["schedulingGates"] == [{"name": "theirs"}]
    assert body["spec"]["template"]["metadata"]["labels"] == {"role": "trainer"}
    assert "labels" not in pod and "annotations" not in pod
    assert body["metadata"]["labels"] == {"app": "x"}  # no queue on the worker
    assert body["spec"]["suspend"] is False and "managedBy" not in body["spec"]
    assert body["metadata"]["annotations"] == {ORIGIN: "ml/gang/u1"}


def test_the_management_jobs_status_is_the_remote_ones() -> None:
    remote = {
        "status": {
            "startTime": "t",
            "active": 2,
            "ready": 2,
            "uncountedTerminatedPods": {},
            "conditions": [],
        }
    }
    assert mirrored_status(remote) == {"startTime": "t", "active": 2, "ready": 2, "conditions": []}
