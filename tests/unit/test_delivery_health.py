"""health(): built-in kinds and kstatus conventions."""

from __future__ import annotations

from typing import Any

import pytest

from quarterdeck.delivery.health import Health, aggregate, health


def o(api: str, kind: str, spec: Any = None, status: Any = None, gen: int = 1) -> dict[str, Any]:
    out: dict[str, Any] = {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "x", "generation": gen},
    }
    if spec is not None:
        out["spec"] = spec
    if status is not None:
        out["status"] = status
    return out


def cond(type_: str, status: str = "True", reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


DEPLOY_OK = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}

CASES = [
    (o("apps/v1", "Deployment", {"replicas": 2}, DEPLOY_OK), "Healthy", ""),
    (
        o("apps/v1", "Deployment", {"replicas": 2}, {**DEPLOY_OK, "observedGeneration": 0}),
        "Progressing",
        "observe",
    ),
    (
        o("apps/v1", "Deployment", {"replicas": 2}, {**DEPLOY_OK, "availableReplicas": 1}),
        "Progressing",
        "1 of 2 replicas available",
    ),
    (
        o(
            "apps/v1",
            "Deployment",
            {"replicas": 2},
            {
                **DEPLOY_OK,
                "conditions": [
                    cond(
                        "Progressing",
                        "False",
                        "ProgressDeadlineExceeded",
                        'ReplicaSet "x" has timed out',
                    )
                ],
            },
        ),
        "Degraded",
        "timed out",
    ),
    (o("apps/v1", "Deployment", {"paused": True}, DEPLOY_OK), "Suspended", "paused"),
    (o("apps/v1", "Deployment", {"replicas": 0}, {"observedGeneration": 1}), "Healthy", ""),
    (
        o(
            "apps/v1",
            "StatefulSet",
            {"replicas": 1},
            {
                "observedGeneration": 1,
                "readyReplicas": 1,
                "currentRevision": "a",
                "updateRevision": "a",
            },
        ),
        "Healthy",
        "",
    ),
    (
        o(
            "apps/v1",
            "StatefulSet",
            {"replicas": 1},
            {
                "observedGeneration": 1,
                "readyReplicas": 1,
                "currentRevision": "a",
                "updateRevision": "b",
            },
        ),
        "Progressing",
        "updated",
    ),
    (
        o(
            "apps/v1",
            "DaemonSet",
            {},
            {
                "observedGeneration": 1,
                "desiredNumberScheduled": 3,
                "updatedNumberScheduled": 3,
                "numberAvailable": 2,
            },
        ),
        "Progressing",
        "2 of 3 pods",
    ),
    (
        o(
            "apps/v1",
            "ReplicaSet",
            {"replicas": 1},
            {
                "observedGeneration": 1,
                "conditions": [cond("ReplicaFailure", message="quota exceeded")],
            },
        ),
        "Degraded",
        "quota exceeded",
    ),
    (o("v1", "Pod", {}, {"phase": "Running", "conditions": [cond("Ready")]}), "Healthy", ""),
    (
        o(
            "v1",
            "Pod",
            {},
            {
                "phase": "Pending",
                "containerStatuses": [
                    {
                        "name": "c",
                        "state": {
                            "waiting": {"reason": "ImagePullBackOff", "message": "no such image"}
                        },
                    }
                ],
            },
        ),
        "Degraded",
        "container c: ImagePullBackOff: no such image",
    ),
    (
        o(
            "v1",
            "Pod",
            {},
            {
                "phase": "Pending",
                "conditions": [
                    cond("PodScheduled", "False", "Unschedulable", "0/3 nodes are available")
                ],
            },
        ),
        "Progressing",
        "0/3 nodes",
    ),
    (o("v1", "Pod", {}, {"phase": "Failed", "reason": "Evicted"}), "Degraded", "Evicted"),
    (o("batch/v1", "Job", {}, {"conditions": [cond("Complete")]}), "Healthy", "completed"),
    (
        o("batch/v1", "Job", {}, {"conditions": [cond("Failed", message="BackoffLimitExceeded")]}),
        "Degraded",
        "BackoffLimit",
    ),
    (o("batch/v1", "Job", {"suspend": True}, {}), "Suspended", ""),
    (o("v1", "Service", {"type": "ClusterIP"}, {}), "Healthy", ""),
    (o("v1", "Service", {"type": "LoadBalancer"}, {}), "Progressing", "load balancer"),
    (
        o(
            "networking.k8s.io/v1",
            "Ingress",
            {},
            {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
        ),
        "Healthy",
        "",
    ),
    (o("v1", "PersistentVolumeClaim", {}, {"phase": "Bound"}), "Healthy", ""),
    (o("v1", "PersistentVolumeClaim", {}, {"phase": "Pending"}), "Progressing", "Pending"),
    (
        o(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            {},
            {"conditions": [cond("Established")]},
        ),
        "Healthy",
        "",
    ),
    (
        o("apiextensions.k8s.io/v1", "CustomResourceDefinition", {}, {}),
        "Progressing",
        "established",
    ),
    (o("v1", "Namespace", {}, {"phase": "Terminating"}), "Progressing", "Terminating"),
    (
        o(
            "apiregistration.k8s.io/v1",
            "APIService",
            {},
            {"conditions": [cond("Available", "False", message="endpoints missing")]},
        ),
        "Progressing",
        "endpoints",
    ),
    (o("v1", "ConfigMap"), "Healthy", ""),
    (
        o("example.com/v1", "Widget", {}, {"observedGeneration": 1, "conditions": [cond("Ready")]}),
        "Healthy",
        "",
    ),
    (
        o(
            "example.com/v1",
            "Widget",
            {},
            {"observedGeneration": 1, "conditions": [cond("Stalled", message="bad spec")]},
        ),
        "Degraded",
        "bad spec",
    ),
    (
        o(
            "example.com/v1",
            "Widget",
            {},
            {"observedGeneration": 1, "conditions": [cond("Reconciling", message="working")]},
        ),
        "Progressing",
        "working",
    ),
    (
        o(
            "example.com/v1",
            "Widget",
            {},
            {"observedGeneration": 1, "conditions": [cond("Ready", "False", message="waiting")]},
        ),
        "Progressing",
        "waiting",
    ),
    (o("example.com/v1", "Widget", {}, {"observedGeneration": 1}, gen=2), "Progressing", "observe"),
]


@pytest.mark.parametrize(
    ("obj", "status", "message"), CASES, ids=[f"{c[0]['kind']}-{i}" for i, c in enumerate(CASES)]
)
def test_health(obj: dict[str, Any], status: str, message: str) -> None:
    got = health(obj)
    assert got.status == status
    assert message in got.message


def test_missing_and_deleting() -> None:
    assert health(None).status == "Missing"
    deleting = o("v1", "ConfigMap")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert health(deleting) == Health("Progressing", "object is being deleted")


def test_aggregate_reports_the_worst() -> None:
    assert aggregate([]) == Health("Healthy")
    worst = Health("Degraded", "boom")
    assert aggregate([Health("Healthy"), Health("Progressing", "x"), worst]) == worst
    assert aggregate([Health("Healthy"), Health("Suspended")]).status == "Suspended"
