"""A preempted Job keeps its quota until its pods have stopped, on the dev cluster.

The victim's pod carries a finalizer, so after the preemption suspends its Job the
pod stays Terminating on its GPU node. While it does, the victim's Workload is
Evicted but still reserves its quota, and the preemptor waits (`Preempting`); once
the pod is gone the quota is released and the preemptor is admitted and bound on the
node the victim left.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from lightkube import Client, codecs
from lightkube.generic_resource import create_global_resource
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod
from queueing_setup import (
    API,
    as_dict,
    conditions,
    cq_usage,
    gpu_job,
    gpu_queue,
    passes_until,
    release_pod,
    workload,
)

from quarterdeck.api.queueing import GROUP, VERSION
from quarterdeck.kube.wait import wait_for
from quarterdeck.queueing.controller import reconcile_once
from quarterdeck.queueing.writes import PassReport

pytestmark = pytest.mark.integration
PriorityClass = create_global_resource(
    GROUP, VERSION, "WorkloadPriorityClass", "workloadpriorityclasses"
)


@pytest.fixture
def priorities(kube: Client, namespace: str) -> Iterator[tuple[str, str]]:
    names = (f"low-{namespace}", f"high-{namespace}")
    for name, value in zip(names, (10, 100), strict=True):
        body = {"apiVersion": API, "kind": "WorkloadPriorityClass", "metadata": {"name": name}}
        kube.apply(PriorityClass.from_dict(body | {"value": value}), force=True)
    yield names
    for name in names:
        kube.delete(PriorityClass, name)


def _pods(kube: Client, namespace: str, job: str) -> list[dict[str, Any]]:
    labels = {"batch.kubernetes.io/job-name": job}
    return [as_dict(p) for p in kube.list(Pod, namespace=namespace, labels=labels)]


def test_preempted_job_holds_its_quota_until_its_pods_are_gone(
    kube: Client, namespace: str, priorities: tuple[str, str]
) -> None:
    low, high = priorities
    within = {"withinClusterQueue": "LowerPriority"}
    with gpu_queue(kube, namespace, nominal=8, preemption=within) as cq:
        victim = gpu_job(namespace, "batch", duration="10m", priority_class=low, hold=True)
        kube.create(codecs.from_dict(victim))

        def running(_: list[PassReport]) -> str | None:
            pods = _pods(kube, namespace, "batch")
            ok = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
            return str(ok[0]["spec"]["nodeName"]) if ok else None

        passes_until(kube, running, "the low-priority pod to run on a GPU node")

        kube.create(codecs.from_dict(gpu_job(namespace, "urgent", priority_class=high)))
        preempting = reconcile_once(kube, time.time())
        assert preempting.preempted == [f"{namespace}/job-batch"], preempting
        assert as_dict(kube.get(Job, "batch", namespace=namespace))["spec"]["suspend"] is True

        def terminating() -> bool:
            pods = _pods(kube, namespace, "batch")
            return bool(pods) and all(p["metadata"].get("deletionTimestamp") for p in pods)

        wait_for(terminating, "the victim's pod to be Terminating", 30)
        for _ in range(2):  # however often the controller looks, nothing moves yet
            held = reconcile_once(kube, time.time())
            assert not held.admitted and not held.preempted and not held.stopped, held
            evicted = conditions(workload(kube, namespace, "job-batch"))
            assert evicted["Evicted"]["status"] == "True"
            assert evicted["QuotaReserved"]["status"] == "True"
            waiting = conditions(workload(kube, namespace, "job-urgent"))["QuotaReserved"]
            assert waiting["reason"] == "Preempting", waiting
            assert cq_usage(kube, cq) == (8, 1)  # the victim's GPUs are still in use

        for pod in _pods(kube, namespace, "batch"):
            release_pod(kube, namespace, pod["metadata"]["name"])

        def admitted(reports: list[PassReport]) -> PassReport | None:
            return next((r for r in reports if f"{namespace}/job-urgent" in r.admitted), None)

        _, reports = passes_until(kube, admitted, "the preemptor's admission")
        assert any(f"{namespace}/job-batch" in r.stopped for r in reports), reports
        batch = workload(kube, namespace, "job-batch")
        assert conditions(batch)["QuotaReserved"]["status"] == "False"
        assert batch["status"].get("admission") is None
        assert not _pods(kube, namespace, "batch")

        def bound(_: list[PassReport]) -> bool | None:
            pods = _pods(kube, namespace, "urgent")
            return True if pods and all(p["spec"].get("nodeName") for p in pods) else None

        passes_until(kube, bound, "the preemptor's pod to be bound by kube-scheduler")
        assert cq_usage(kube, cq) == (8, 1)  # now the preemptor's
