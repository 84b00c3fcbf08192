"""A Job's pods are charged as Kubernetes sizes them (KEP-753), on the dev cluster.

A native sidecar (an init container with `restartPolicy: Always`) runs beside the
trainer for the pod's whole life, so its GPU adds to the trainer's: a Job of one pod
with a 4-GPU trainer and a 1-GPU sidecar uses 5 GPUs of its ClusterQueue (counted as
an ordinary init container it would be max(4, 1) = 4), and its pod is bound.

GPUs asked for through Dynamic Resource Allocation (a ResourceClaimTemplate naming
the DeviceClass `gpu.nvidia.com` with a count) are charged as `nvidia.com/gpu`; a
claim for a DeviceClass no ClusterQueue covers leaves the Workload pending, saying so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lightkube import Client, codecs
from lightkube.generic_resource import create_global_resource
from lightkube.resources.core_v1 import Pod
from lightkube.resources.resource_v1 import ResourceClaimTemplate
from queueing_setup import (
    as_dict,
    conditions,
    cq_usage,
    gpu_job,
    gpu_queue,
    install_crds,
    passes_until,
    workload,
)

from quarterdeck.kube.wait import wait_for

pytestmark = pytest.mark.integration


def test_a_native_sidecar_is_charged_beside_the_main_container(
    kube: Client, namespace: str
) -> None:
    with gpu_queue(kube, namespace, nominal=8) as cq:
        body = gpu_job(namespace, "with-sidecar", gpus=4, duration="10m")
        spec = body["spec"]["template"]["spec"]
        one = {"nvidia.com/gpu": "1"}
        spec["initContainers"] = [
            {
                "name": "telemetry",
                "image": "telemetry:latest",
                "restartPolicy": "Always",
                "resources": {"requests": one, "limits": one},
            }
        ]
        kube.create(codecs.from_dict(body))
        key = f"{namespace}/job-with-sidecar"
        passes_until(kube, lambda reports: key in reports[-1].admitted or None, "admission")
        (psa,) = workload(kube, namespace, "job-with-sidecar")["status"]["admission"][
            "podSetAssignments"
        ]
        assert str(psa["resourceUsage"]["nvidia.com/gpu"]) == "5"
        assert cq_usage(kube, cq) == (5, 1)

        def bound() -> str | None:
            pods = [as_dict(p) for p in kube.list(Pod, namespace=namespace)]
            return next((p["spec"].get("nodeName") for p in pods), None)

        assert wait_for(bound, "the pod to be bound", 30)


DeviceClass = create_global_resource("resource.k8s.io", "v1", "DeviceClass", "deviceclasses")


def _claim_template(namespace: str, name: str, device_class: str, count: int) -> Any:
    request = {"name": "gpus", "exactly": {"deviceClassName": device_class, "count": count}}
    return ResourceClaimTemplate.from_dict(
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaimTemplate",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"spec": {"devices": {"requests": [request]}}},
        }
    )


def _claiming_job(namespace: str, name: str, template: str) -> Any:
    """A Job of one pod whose trainer asks for its GPUs through a ResourceClaimTemplate."""
    body = gpu_job(namespace, name, gpus=0, duration="10m")
    spec = body["spec"]["template"]["spec"]
    spec["resourceClaims"] = [{"name": "gpus", "resourceClaimTemplateName": template}]
    (trainer,) = spec["containers"]
    trainer["resources"] = {"claims": [{"name": "gpus"}]}
    return codecs.from_dict(body)


@pytest.fixture
def gpu_device_class(kube: Client) -> Iterator[str]:
    """NVIDIA's DRA DeviceClass (no driver on the dev cluster publishes its devices)."""
    body = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": "gpu.nvidia.com"},
        "spec": {"selectors": [{"cel": {"expression": "device.driver == 'gpu.nvidia.com'"}}]},
    }
    kube.apply(DeviceClass.from_dict(body), force=True)
    yield "gpu.nvidia.com"
    kube.delete(DeviceClass, "gpu.nvidia.com")


def _charged_for_claim(kube: Client, namespace: str, device_class: str, gpus: int) -> None:
    """A Job claiming `gpus` devices of `device_class` is admitted and charged that many
    `nvidia.com/gpu` on its Workload and its ClusterQueue."""
    with gpu_queue(kube, namespace, nominal=8) as cq:
        kube.create(_claim_template(namespace, "devices", device_class, gpus))
        kube.create(_claiming_job(namespace, "claims", "devices"))
        key = f"{namespace}/job-claims"
        passes_until(kube, lambda rs: any(key in r.admitted for r in rs) or None, "admission")
        (psa,) = workload(kube, namespace, "job-claims")["status"]["admission"]["podSetAssignments"]
        assert str(psa["resourceUsage"]["nvidia.com/gpu"]) == str(gpus)
        assert cq_usage(kube, cq) == (gpus, 1)


def test_gpus_claimed_through_dra_are_charged_like_nvidia_gpu(
    kube: Client, namespace: str, gpu_device_class: str
) -> None:
    _charged_for_claim(kube, namespace, gpu_device_class, 2)


def test_a_claim_for_a_device_class_no_flavor_covers_stays_pending_with_that_reason(
    kube: Client, namespace: str
) -> None:
    with gpu_queue(kube, namespace, nominal=8) as cq:
        kube.create(_claim_template(namespace, "fpga", "fpga.example.com", 1))
        kube.create(_claiming_job(namespace, "fpga", "fpga"))
        key = f"{namespace}/job-fpga"
        passes_until(kube, lambda reports: key in reports[-1].pending or None, "pending")
        reserved = conditions(workload(kube, namespace, "job-fpga"))["QuotaReserved"]
        assert reserved["status"] == "False"
        assert "fpga.example.com" in reserved["message"], reserved
        assert "not covered" in reserved["message"], reserved
        assert cq_usage(kube, cq) == (0, 0)


QueueingConfig = create_global_resource(
    "queueing.quarterdeck.dev", "v1alpha1", "QueueingConfig", "queueingconfigs"
)


@pytest.fixture
def device_class_map(kube: Client) -> Iterator[str]:
    """The cluster's QueueingConfig maps a DeviceClass of ours onto `nvidia.com/gpu`
    (removed again afterwards: the object is cluster-wide)."""
    body = {
        "apiVersion": "queueing.quarterdeck.dev/v1alpha1",
        "kind": "QueueingConfig",
        "metadata": {"name": "default"},
        "spec": {"deviceClasses": {"gpu.example.com": "nvidia.com/gpu"}},
    }
    install_crds(kube)
    kube.apply(QueueingConfig.from_dict(body), field_manager="quarterdeck-tests", force=True)
    yield "gpu.example.com"
    kube.delete(QueueingConfig, "default")


def test_a_device_class_the_queueing_config_maps_is_charged_as_its_resource(
    kube: Client, namespace: str, device_class_map: str
) -> None:
    _charged_for_claim(kube, namespace, device_class_map, 3)
