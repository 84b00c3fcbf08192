"""A Kueue-labelled batch/v1 Job through the reconcile pass on the dev cluster: it gets a
Workload, is admitted and unsuspended with the flavor's node labels, its pods are
created behind our scheduling gate, pinned to the nodes placement chose, and
kube-scheduler binds them exactly there.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from typing import Any, cast

import pytest
from lightkube import ApiError, Client, codecs
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod
from lightkube.types import CascadeType

from quarterdeck.api.queueing import GROUP, VERSION, all_crds
from quarterdeck.kube.wait import wait_for
from quarterdeck.queueing.controller import reconcile_once
from quarterdeck.queueing.jobs import GATE
from quarterdeck.queueing.live import read_objects

pytestmark = pytest.mark.integration

Flavor = create_global_resource(GROUP, VERSION, "ResourceFlavor", "resourceflavors")
ClusterQueue = create_global_resource(GROUP, VERSION, "ClusterQueue", "clusterqueues")
LocalQueue = create_namespaced_resource(GROUP, VERSION, "LocalQueue", "localqueues")
Workload = create_namespaced_resource(GROUP, VERSION, "Workload", "workloads")


def _dict(obj: Any) -> dict[str, Any]:
    return cast(dict[str, Any], obj.to_dict())


def _ready(kube: Client) -> bool:
    for manifest in all_crds():
        status = kube.get(CustomResourceDefinition, manifest["metadata"]["name"]).status
        conds = (status.conditions if status is not None else None) or []
        if not any(c.type == "Established" and c.status == "True" for c in conds):
            return False
    try:
        read_objects(kube)
    except ApiError:
        return False
    return True


@pytest.fixture
def gpu_queue(kube: Client, namespace: str) -> Iterator[str]:
    for manifest in all_crds():
        kube.apply(codecs.from_dict(manifest), force=True)
    wait_for(partial(_ready, kube), "queueing CRDs", 30)
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
    # Free the GPU nodes for other tests: the Job, its pods and its Workload go first.
    kube.delete(Job, "train", namespace=namespace, cascade=CascadeType.FOREGROUND)
    wait_for(lambda: not _pods(kube, namespace), "the Job's pods to be deleted", 60)
    kube.delete(Workload, "job-train", namespace=namespace)
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
    return [_dict(p) for p in kube.list(Pod, namespace=namespace, labels={"job-name": "train"})]


def test_job_is_admitted_gated_pinned_and_bound_where_placement_decided(
    kube: Client, gpu_queue: str
) -> None:
    namespace = gpu_queue
    kube.create(codecs.from_dict(_job(namespace)))

    # One pass creates the Workload, sees it in the snapshot it reads next, admits it.
    first = reconcile_once(kube, time.time())
    assert first.created == [f"{namespace}/job-train"], first
    assert first.admitted == [f"{namespace}/job-train"], first

    wl = _dict(kube.get(Workload, "job-train", namespace=namespace))
    (assignment,) = wl["status"]["admission"]["podSetAssignments"]
    planned = Counter(
        {d["values"][0]: d["count"] for d in assignment["topologyAssignment"]["domains"]}
    )
    assert sum(planned.values()) == 2
    job = _dict(kube.get(Job, "train", namespace=namespace))
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
