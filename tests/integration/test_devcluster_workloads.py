"""The dev cluster runs real workloads: Deployments, GPU Jobs with durations, unschedulable pods."""

from __future__ import annotations

from datetime import timedelta

import pytest
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Node, Pod

from quarterdeck.devcluster.stages import DURATION_ANNOTATION
from quarterdeck.kube.wait import wait_for

pytestmark = pytest.mark.integration


def _container(gpus: int = 0) -> dict[str, object]:
    c: dict[str, object] = {"name": "main", "image": "registry.local/app:1.0"}
    if gpus:
        c["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
    return c


def test_deployment_of_three_becomes_available(kube: Client, namespace: str) -> None:
    kube.create(
        from_dict(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web", "namespace": namespace},
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [_container()]},
                    },
                },
            }
        )
    )
    dep = wait_for(
        lambda: (
            (d := kube.get(Deployment, "web", namespace=namespace)).status
            and d.status.availableReplicas == 3
            and d
        ),
        "3 available replicas",
        60,
    )
    assert dep.status is not None and dep.status.readyReplicas == 3
    pods = list(kube.list(Pod, namespace=namespace, labels={"app": "web"}))
    assert len(pods) == 3
    fake_nodes = {
        n.metadata.name
        for n in kube.list(Node, labels={"type": "kwok"})
        if n.metadata and n.metadata.name
    }
    assert all(p.spec and p.spec.nodeName in fake_nodes for p in pods)


def test_gpu_job_runs_on_gpu_nodes_for_its_annotated_duration(kube: Client, namespace: str) -> None:
    duration = 4
    kube.create(
        from_dict(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": "train", "namespace": namespace},
                "spec": {
                    "parallelism": 4,
                    "completions": 4,
                    "backoffLimit": 0,
                    "template": {
                        "metadata": {"annotations": {DURATION_ANNOTATION: f"{duration}s"}},
                        "spec": {"restartPolicy": "Never", "containers": [_container(2)]},
                    },
                },
            }
        )
    )
    job = wait_for(
        lambda: (
            (j := kube.get(Job, "train", namespace=namespace)).status
            and j.status.succeeded == 4
            and j
        ),
        "4 succeeded pods",
        90,
    )
    assert job.status is not None and job.status.startTime and job.status.completionTime
    assert job.status.completionTime - job.status.startTime >= timedelta(seconds=duration)

    pods = list(kube.list(Pod, namespace=namespace, labels={"job-name": "train"}))
    assert len(pods) == 4
    for pod in pods:
        assert pod.status is not None and pod.status.phase == "Succeeded"
        assert pod.spec is not None and pod.spec.nodeName
        node = kube.get(Node, pod.spec.nodeName)
        assert node.status is not None and node.status.capacity
        assert int(node.status.capacity["nvidia.com/gpu"]) >= 2
        running = pod.status.containerStatuses[0].state.terminated  # type: ignore[index]
        assert running is not None and running.reason == "Completed"


def test_pod_asking_more_gpus_than_any_node_stays_pending_with_reason(
    kube: Client, namespace: str
) -> None:
    kube.create(
        from_dict(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "too-big", "namespace": namespace},
                "spec": {"containers": [_container(16)]},
            }
        )
    )

    def unschedulable() -> str | None:
        pod = kube.get(Pod, "too-big", namespace=namespace)
        for c in (pod.status.conditions if pod.status else None) or []:
            if c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable":
                return c.message
        return None

    message = wait_for(unschedulable, "the scheduler's Unschedulable condition", 60)
    assert "Insufficient nvidia.com/gpu" in message
    pod = kube.get(Pod, "too-big", namespace=namespace)
    assert pod.status is not None and pod.status.phase == "Pending"
    assert pod.spec is not None and not pod.spec.nodeName
