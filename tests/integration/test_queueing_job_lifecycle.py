"""A Kueue-labelled batch/v1 Job through the reconcile pass on the dev cluster: it gets a
Workload, is admitted and unsuspended with the flavor's node labels, its pods are
created behind our scheduling gate, pinned to the nodes placement chose, and
kube-scheduler binds them exactly there.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lightkube import ApiError, Client, codecs
from lightkube.generic_resource import create_global_resource
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod
from lightkube.types import CascadeType
from queueing_setup import (
    ClusterQueue,
    Flavor,
    LocalQueue,
    Workload,
    as_dict,
    install_crds,
    passes_until,
)

from quarterdeck.api.queueing import GROUP, VERSION
from quarterdeck.devcluster.stages import DURATION_ANNOTATION
from quarterdeck.kube.wait import wait_for
from quarterdeck.queueing.controller import reconcile_once
from quarterdeck.queueing.jobs import GATE
from quarterdeck.queueing.metrics import QueueMetrics
from quarterdeck.queueing.writes import PassReport

pytestmark = pytest.mark.integration


@pytest.fixture
def gpu_queue(kube: Client, namespace: str) -> Iterator[str]:
    install_crds(kube)
    api = f"{GROUP}/{VERSION}"
    kube.apply(
        Flavor.from_dict(
            {
                "apiVersion": api,
                "kind": "ResourceFlavor",
                "metadata": {"name": f"h100-{namespace}"},
                "spec": {"nodeLabels": {"quarterdeck.dev/pool": "gpu-h100-8"}},
            }
        ),
        force=True,
    )
    gpu = {"name": "nvidia.com/gpu", "nominalQuota": 16}
    kube.apply(
        ClusterQueue.from_dict(
            {
                "apiVersion": api,
                "kind": "ClusterQueue",
                "metadata": {"name": f"cq-{namespace}"},
                "spec": {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": namespace}
                    },
                    "resourceGroups": [
                        {
                            "coveredResources": ["nvidia.com/gpu"],
                            "flavors": [{"name": f"h100-{namespace}", "resources": [gpu]}],
                        }
                    ],
                },
            }
        ),
        force=True,
    )
    kube.apply(
        LocalQueue.from_dict(
            {
                "apiVersion": api,
                "kind": "LocalQueue",
                "metadata": {"name": "training", "namespace": namespace},
                "spec": {"clusterQueue": f"cq-{namespace}"},
            }
        ),
        force=True,
    )
    yield namespace
    # Free the GPU nodes for other tests: Jobs, their pods and Workloads go first.
    for job in kube.list(Job, namespace=namespace):
        if job.metadata is not None and job.metadata.name:
            kube.delete(Job, job.metadata.name, namespace=namespace, cascade=CascadeType.FOREGROUND)
    wait_for(lambda: not list(kube.list(Pod, namespace=namespace)), "pods to be deleted", 60)
    for wl in kube.list(Workload, namespace=namespace):
        if wl.metadata is not None and wl.metadata.name:
            with contextlib.suppress(ApiError):
                kube.delete(Workload, wl.metadata.name, namespace=namespace)
    kube.delete(ClusterQueue, f"cq-{namespace}")
    kube.delete(Flavor, f"h100-{namespace}")


def _job(namespace: str) -> dict[str, Any]:
    gpus = {"nvidia.com/gpu": "8"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "train",
            "namespace": namespace,
            "labels": {"kueue.x-k8s.io/queue-name": "training"},
        },
        "spec": {
            "suspend": True,  # the webhook's job, until it exists
            "parallelism": 2,
            "completions": 2,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "trainer",
                            "image": "trainer:latest",
                            "resources": {"requests": gpus, "limits": gpus},
                        }
                    ],
                }
            },
        },
    }


def _pods(kube: Client, namespace: str) -> list[dict[str, Any]]:
    return [as_dict(p) for p in kube.list(Pod, namespace=namespace, labels={"job-name": "train"})]


def test_job_is_admitted_gated_pinned_and_bound_where_placement_decided(
    kube: Client, gpu_queue: str
) -> None:
    namespace = gpu_queue
    kube.create(codecs.from_dict(_job(namespace)))

    # One pass creates the Workload, sees it in the snapshot it reads next, admits it.
    metrics = QueueMetrics()
    first = reconcile_once(kube, time.time(), metrics=metrics)
    assert first.created == [f"{namespace}/job-train"], first
    assert first.admitted == [f"{namespace}/job-train"], first

    wl = as_dict(kube.get(Workload, "job-train", namespace=namespace))
    (assignment,) = wl["status"]["admission"]["podSetAssignments"]
    planned = Counter(
        {d["values"][0]: d["count"] for d in assignment["topologyAssignment"]["domains"]}
    )
    assert sum(planned.values()) == 2
    cq_label = {"cluster_queue": f"cq-{namespace}"}
    value = metrics.registry.get_sample_value
    assert value("quarterdeck_queueing_admitted_workloads", cq_label) == 1
    assert value("quarterdeck_queueing_admission_wait_seconds_count", cq_label) == 1
    job = as_dict(kube.get(Job, "train", namespace=namespace))
    assert job["spec"]["suspend"] is False
    pod_spec = job["spec"]["template"]["spec"]
    assert pod_spec["nodeSelector"]["quarterdeck.dev/pool"] == "gpu-h100-8"
    assert {"name": GATE} in pod_spec["schedulingGates"]

    def created() -> list[dict[str, Any]] | None:
        now = _pods(kube, namespace)
        return now if len(now) == 2 else None

    pods = wait_for(created, "the Job's pods", 60)
    assert all({"name": GATE} in p["spec"].get("schedulingGates", []) for p in pods)
    assert not any(p["spec"].get("nodeName") for p in pods)  # held by the gate

    released = reconcile_once(kube, time.time()).released
    assert len(released) == 2

    def bound() -> list[dict[str, Any]] | None:
        now = _pods(kube, namespace)
        return now if all(p["spec"].get("nodeName") for p in now) else None

    pods = wait_for(bound, "pods bound by kube-scheduler", 60)
    assert Counter(p["spec"]["nodeName"] for p in pods) == planned


def _admitted(key: str) -> Callable[[list[PassReport]], bool | None]:
    def check(reports: list[PassReport]) -> bool | None:
        return True if key in reports[-1].admitted else None

    return check


WorkloadPriorityClass = create_global_resource(
    GROUP, VERSION, "WorkloadPriorityClass", "workloadpriorityclasses"
)


def _labelled_job(namespace: str, name: str, priority_class: str) -> dict[str, Any]:
    job = _job(namespace)
    job["metadata"]["name"] = name
    job["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] = priority_class
    job["spec"]["parallelism"] = job["spec"]["completions"] = 1
    # An hour long: a victim whose pod already succeeded would be Finished, not preempted.
    job["spec"]["template"]["metadata"] = {"annotations": {DURATION_ANNOTATION: "1h"}}
    return job


def test_high_priority_job_preempts_a_lower_one_which_later_resumes(
    kube: Client, gpu_queue: str
) -> None:
    namespace = gpu_queue
    for name, value in (("low", 10), ("high", 100)):
        kube.apply(
            WorkloadPriorityClass.from_dict(
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "WorkloadPriorityClass",
                    "metadata": {"name": f"{name}-{namespace}"},
                    "value": value,
                }
            ),
            force=True,
        )
    cq = as_dict(kube.get(ClusterQueue, f"cq-{namespace}"))
    cq["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] = 8
    cq["spec"]["preemption"] = {"withinClusterQueue": "LowerPriority"}
    kube.apply(
        ClusterQueue.from_dict(
            {k: cq[k] for k in ("apiVersion", "kind", "spec")}
            | {"metadata": {"name": f"cq-{namespace}"}}
        ),
        force=True,
    )

    def suspended(name: str) -> bool:
        return bool(as_dict(kube.get(Job, name, namespace=namespace))["spec"].get("suspend"))

    try:
        kube.create(codecs.from_dict(_labelled_job(namespace, "batch", f"low-{namespace}")))
        first = reconcile_once(kube, time.time())
        assert first.admitted == [f"{namespace}/job-batch"], first
        assert not suspended("batch")

        kube.create(codecs.from_dict(_labelled_job(namespace, "urgent", f"high-{namespace}")))
        second = reconcile_once(kube, time.time())
        assert second.preempted == [f"{namespace}/job-batch"], second
        assert suspended("batch") and suspended("urgent")
        evicted = as_dict(kube.get(Workload, "job-batch", namespace=namespace))["status"]
        assert {c["type"]: c["reason"] for c in evicted["conditions"]}["Evicted"] == "Preempted"

        # Admitted once the victim's pods have stopped (until then it holds its quota).
        passes_until(kube, _admitted(f"{namespace}/job-urgent"), "the preemptor's admission")
        assert not suspended("urgent") and suspended("batch")

        # The urgent Job goes away; its Workload is garbage-collected with it.
        kube.delete(Job, "urgent", namespace=namespace, cascade=CascadeType.FOREGROUND)
        wait_for(
            lambda: (
                not [
                    w
                    for w in kube.list(Workload, namespace=namespace)
                    if w.metadata is not None and w.metadata.name == "job-urgent"
                ]
            ),
            "the urgent Workload to be collected",
            60,
        )
        fourth = reconcile_once(kube, time.time())
        assert fourth.admitted == [f"{namespace}/job-batch"], fourth
        assert not suspended("batch")  # resumed
    finally:
        for name in ("low", "high"):
            kube.delete(WorkloadPriorityClass, f"{name}-{namespace}")


def test_team_borrows_idle_gpus_and_the_lender_reclaims_them(kube: Client, gpu_queue: str) -> None:
    namespace = gpu_queue
    api = f"{GROUP}/{VERSION}"
    gpu_group = {
        "coveredResources": ["nvidia.com/gpu"],
        "flavors": [
            {
                "name": f"h100-{namespace}",
                "resources": [{"name": "nvidia.com/gpu", "nominalQuota": 8}],
            }
        ],
    }
    selector = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    for team, preemption in (
        ("lender", {"reclaimWithinCohort": "Any"}),
        ("borrower", {}),
    ):
        kube.apply(
            ClusterQueue.from_dict(
                {
                    "apiVersion": api,
                    "kind": "ClusterQueue",
                    "metadata": {"name": f"{team}-{namespace}"},
                    "spec": {
                        "cohort": f"research-{namespace}",
                        "namespaceSelector": selector,
                        "preemption": preemption,
                        "resourceGroups": [gpu_group],
                    },
                }
            ),
            force=True,
        )
        kube.apply(
            LocalQueue.from_dict(
                {
                    "apiVersion": api,
                    "kind": "LocalQueue",
                    "metadata": {"name": team, "namespace": namespace},
                    "spec": {"clusterQueue": f"{team}-{namespace}"},
                }
            ),
            force=True,
        )

    def job(name: str, queue: str, pods: int) -> dict[str, Any]:
        body = _job(namespace)
        body["metadata"]["name"] = name
        body["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] = queue
        body["spec"]["parallelism"] = body["spec"]["completions"] = pods
        return body  # pods x 8 GPUs

    def suspended(name: str) -> bool:
        return bool(as_dict(kube.get(Job, name, namespace=namespace))["spec"].get("suspend"))

    try:
        kube.create(codecs.from_dict(job("big", "borrower", 2)))
        first = reconcile_once(kube, time.time())
        assert first.admitted == [f"{namespace}/job-big"], first  # 8 own + 8 borrowed
        wl = as_dict(kube.get(Workload, "job-big", namespace=namespace))
        assert wl["status"]["admission"]["clusterQueue"] == f"borrower-{namespace}"

        # The lender's own job fits its nominal quota, which the borrower holds.
        kube.create(codecs.from_dict(job("own", "lender", 1)))
        second = reconcile_once(kube, time.time())
        assert second.preempted == [f"{namespace}/job-big"], second
        evicted = as_dict(kube.get(Workload, "job-big", namespace=namespace))["status"]
        message = next(c["message"] for c in evicted["conditions"] if c["type"] == "Evicted")
        assert "reclaim quota" in message
        assert suspended("big")

        # Admitted once the victim's pods have stopped (until then it holds its quota).
        passes_until(kube, _admitted(f"{namespace}/job-own"), "the preemptor's admission")
        assert not suspended("own") and suspended("big")
    finally:
        for team in ("lender", "borrower"):
            kube.delete(ClusterQueue, f"{team}-{namespace}")
