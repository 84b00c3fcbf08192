"""What GPU (and CPU, memory) a pod holds, read from its spec: pure.

Three ways to hold a GPU, each priced differently:
- whole GPUs: `nvidia.com/gpu: N`;
- a share of one GPU: the `quarterdeck.dev/gpu-milli` annotation (as the Alibaba traces'
  `gpu_milli`), because Kubernetes extended resources cannot be fractional; queueing
  reads it the same way (`pod_requests`), so the share is what the queue charged;
- a MIG instance: `nvidia.com/mig-<profile>: 1` (NVIDIA's mixed strategy).
Requests are summed the way Kubernetes sizes a pod (`pod_requests`, KEP-753).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quarterdeck.api.queueing.workload import GPU_SHARE_ANNOTATION, pod_requests

GPU = "nvidia.com/gpu"
MIG_PREFIX = "nvidia.com/mig-"
SHARE_ANNOTATION = GPU_SHARE_ANNOTATION
PRODUCT_LABEL = "nvidia.com/gpu.product"
MILLI_PER_GPU = 1000


@dataclass(frozen=True)
class Claim:
    """A pod's holding: `gpu_milli` of GPU (whole GPUs are multiples of 1000, a MIG
    instance counts as 0 here and is priced by `mig_profile`), CPU in milli-cores and
    memory in bytes."""

    gpu_milli: int = 0
    mig_profile: str | None = None
    cpu_milli: int = 0
    memory_bytes: int = 0

    @property
    def kind(self) -> str:
        if self.mig_profile:
            return "mig"
        if self.gpu_milli and self.gpu_milli % MILLI_PER_GPU == 0:
            return "whole"
        return "share" if self.gpu_milli else "none"

    @property
    def holds_gpu(self) -> bool:
        return self.kind != "none"


def claim_of(pod: Mapping[str, Any]) -> Claim:
    """The pod's claim; QuantityError (naming the field) for a malformed request."""
    meta = pod.get("metadata") or {}
    name = f"Pod {meta.get('namespace', '')}/{meta.get('name', '')}"
    requests = pod_requests(dict(pod), name)
    gpu = requests.get(GPU, 0)
    migs = sorted(
        r[len(MIG_PREFIX) :] for r, v in requests.items() if r.startswith(MIG_PREFIX) and v
    )
    return Claim(
        gpu_milli=gpu,
        mig_profile=migs[0] if migs else None,
        cpu_milli=requests.get("cpu", 0),
        memory_bytes=requests.get("memory", 0) // 1000,
    )


def gpu_container(pod: Mapping[str, Any]) -> str:
    """The container that asks for the GPU (dcgm-exporter's `container` label)."""
    containers = (pod.get("spec") or {}).get("containers") or []
    for c in containers:
        res = c.get("resources") or {}
        asked = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        if any(k == GPU or k.startswith(MIG_PREFIX) for k in asked):
            return str(c.get("name", ""))
    return str(containers[0].get("name", "")) if containers else ""
