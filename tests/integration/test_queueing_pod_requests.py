"""A Job's pods are charged as Kubernetes sizes them (KEP-753), on the dev cluster.

A native sidecar (an init container with `restartPolicy: Always`) runs beside the
trainer for the pod's whole life, so its GPU adds to the trainer's: a Job of one pod
with a 4-GPU trainer and a 1-GPU sidecar uses 5 GPUs of its ClusterQueue (counted as
an ordinary init container it would be max(4, 1) = 4), and its pod is bound.
"""

from __future__ import annotations

import pytest
from lightkube import Client, codecs
from lightkube.resources.core_v1 import Pod
from queueing_setup import as_dict, cq_usage, gpu_job, gpu_queue, passes_until, workload

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
