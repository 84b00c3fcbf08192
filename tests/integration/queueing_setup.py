"""Shared setup for the queueing integration tests: CRDs, one GPU queue per test
namespace, labelled GPU Jobs, and running controller passes until something holds.

The queue is a ResourceFlavor for the dev cluster's `gpu-h100-8` pool (2 nodes of 8
GPUs in the test pools), a ClusterQueue admitting only the test namespace, and a
LocalQueue `training`. Cleanup deletes Jobs first and waits for their pods, so the
GPU nodes are free for the next test.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar, cast

from lightkube import ApiError, Client, codecs
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod
from lightkube.types import CascadeType, PatchType

from quarterdeck.api.queueing import GROUP, VERSION, all_crds
from quarterdeck.devcluster.stages import DURATION_ANNOTATION
from quarterdeck.kube.wait import wait_for
from quarterdeck.queueing.controller import reconcile_once
from quarterdeck.queueing.live import read_objects
from quarterdeck.queueing.writes import PassReport

API = f"{GROUP}/{VERSION}"
Flavor = create_global_resource(GROUP, VERSION, "ResourceFlavor", "resourceflavors")
ClusterQueue = create_global_resource(GROUP, VERSION, "ClusterQueue", "clusterqueues")
LocalQueue = create_namespaced_resource(GROUP, VERSION, "LocalQueue", "localqueues")
Workload = create_namespaced_resource(GROUP, VERSION, "Workload", "workloads")
Config = create_global_resource(GROUP, VERSION, "QueueingConfig", "queueingconfigs")
T = TypeVar("T")
HOLD = "quarterdeck.dev/test-hold"


def as_dict(obj: Any) -> dict[str, Any]:
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


def install_crds(kube: Client) -> None:
    for manifest in all_crds():
        kube.apply(codecs.from_dict(manifest), force=True)
    wait_for(partial(_ready, kube), "queueing CRDs", 30)


def h100_flavor(kube: Client, namespace: str) -> str:
    """The ResourceFlavor `h100-<namespace>` on the dev cluster's H100 pool; its name."""
    flavor = f"h100-{namespace}"
    body = {
        "apiVersion": API,
        "kind": "ResourceFlavor",
        "metadata": {"name": flavor},
        "spec": {"nodeLabels": {"quarterdeck.dev/pool": "gpu-h100-8"}},
    }
    kube.apply(Flavor.from_dict(body), force=True)
    return flavor


@contextlib.contextmanager
def queueing_config(kube: Client, spec: dict[str, Any]) -> Iterator[None]:
    """The cluster's QueueingConfig (`default`) with `spec`, deleted afterwards."""
    install_crds(kube)
    body = {"apiVersion": API, "kind": "QueueingConfig", "metadata": {"name": "default"}}
    kube.apply(Config.from_dict(body | {"spec": spec}), force=True)
    try:
        yield
    finally:
        kube.delete(Config, "default")


@contextlib.contextmanager
def gpu_queue(
    kube: Client,
    namespace: str,
    nominal: int,
    strategy: str = "BestEffortFIFO",
    preemption: dict[str, str] | None = None,
) -> Iterator[str]:
    """Flavor, ClusterQueue `cq-<namespace>` and LocalQueue `training`; yields the CQ name."""
    install_crds(kube)
    flavor, cq = h100_flavor(kube, namespace), f"cq-{namespace}"
    gpu = {"name": "nvidia.com/gpu", "nominalQuota": nominal}
    kube.apply(
        ClusterQueue.from_dict(
            {
                "apiVersion": API,
                "kind": "ClusterQueue",
                "metadata": {"name": cq},
                "spec": {
                    "queueingStrategy": strategy,
                    "preemption": preemption or {},
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": namespace}
                    },
                    "resourceGroups": [
                        {
                            "coveredResources": ["nvidia.com/gpu"],
                            "flavors": [{"name": flavor, "resources": [gpu]}],
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
                "apiVersion": API,
                "kind": "LocalQueue",
                "metadata": {"name": "training", "namespace": namespace},
                "spec": {"clusterQueue": cq},
            }
        ),
        force=True,
    )
    try:
        yield cq
    finally:
        clean_up(kube, namespace)
        kube.delete(ClusterQueue, cq)
        kube.delete(Flavor, flavor)


def clean_up(kube: Client, namespace: str) -> None:
    """Jobs, their pods, then Workloads of `namespace`, so the GPU nodes are free again."""
    for job in kube.list(Job, namespace=namespace):
        if job.metadata is not None and job.metadata.name:
            with contextlib.suppress(ApiError):
                kube.delete(
                    Job, job.metadata.name, namespace=namespace, cascade=CascadeType.FOREGROUND
                )
    for pod in kube.list(Pod, namespace=namespace):  # a test may hold pods with a finalizer
        if pod.metadata is not None and pod.metadata.finalizers and pod.metadata.name:
            with contextlib.suppress(ApiError):
                release_pod(kube, namespace, pod.metadata.name)
    wait_for(lambda: not list(kube.list(Pod, namespace=namespace)), "pods to be deleted", 60)
    for wl in kube.list(Workload, namespace=namespace):
        if wl.metadata is not None and wl.metadata.name:
            with contextlib.suppress(ApiError):
                kube.delete(Workload, wl.metadata.name, namespace=namespace)


def release_pod(kube: Client, namespace: str, name: str) -> None:
    """Drop a pod's finalizers so its deletion can finish."""
    patch = {"metadata": {"finalizers": None}}
    kube.patch(Pod, name, patch, namespace=namespace, patch_type=PatchType.MERGE)


def gpu_job(
    namespace: str,
    name: str,
    pods: int = 1,
    gpus: int = 8,
    duration: str | None = None,
    queue: str = "training",
    suspend: bool = True,
    priority_class: str | None = None,
    hold: bool = False,
) -> dict[str, Any]:
    """A labelled Job of `pods` pods with `gpus` GPUs each; kwok completes its pods after
    `duration` (a Go duration) when given, else after the dev cluster's default. With
    `hold`, its pods carry a finalizer, so a deleted pod stays Terminating until
    `release_pod`."""
    requests = {"nvidia.com/gpu": str(gpus)}
    template: dict[str, Any] = {
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "trainer",
                    "image": "trainer:latest",
                    "resources": {"requests": requests, "limits": requests},
                }
            ],
        }
    }
    meta: dict[str, Any] = template.setdefault("metadata", {})
    if duration is not None:
        meta["annotations"] = {DURATION_ANNOTATION: duration}
    if hold:
        meta["finalizers"] = [HOLD]
    labels = {"queueing.quarterdeck.dev/queue-name": queue}
    if priority_class is not None:
        labels["queueing.quarterdeck.dev/priority-class"] = priority_class
    spec: dict[str, Any] = {"parallelism": pods, "completions": pods, "template": template}
    if suspend:
        spec["suspend"] = True  # what the webhook does, when it is not registered
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
        },
        "spec": spec,
    }


def workload(kube: Client, namespace: str, name: str) -> dict[str, Any]:
    return as_dict(kube.get(Workload, name, namespace=namespace))


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def cq_usage(kube: Client, cq: str) -> tuple[int, int]:
    """(GPUs in use, admitted workloads) as written to the ClusterQueue's status."""
    status = as_dict(kube.get(ClusterQueue, cq)).get("status") or {}
    used = sum(
        int(str(r["total"]))
        for f in status.get("flavorsUsage") or []
        for r in f.get("resources") or []
        if r["name"] == "nvidia.com/gpu"
    )
    return used, int(status.get("admittedWorkloads") or 0)


def passes_until(
    kube: Client, check: Callable[[list[PassReport]], T | None], what: str, timeout: float = 60
) -> tuple[T, list[PassReport]]:
    """Run controller passes (about one a second) until `check(reports so far)` holds."""
    reports: list[PassReport] = []

    def one_pass() -> tuple[T] | None:
        reports.append(reconcile_once(kube, time.time()))
        found = check(reports)
        return None if found is None else (found,)

    (found,) = wait_for(one_pass, what, timeout, interval=1.0, state=lambda: reports)
    return found, reports
