"""Devices asked for through Dynamic Resource Allocation, counted as quota (pure).

A pod may ask for GPUs in `spec.resourceClaims` instead of `resources.requests`: a
`resourceClaimTemplateName` (one ResourceClaim per pod, made from the template) or a
`resourceClaimName` (an existing claim). Each `resource.k8s.io/v1` claim spec lists
device requests naming a DeviceClass with an exact count (`exactly`, or the first
choice of `firstAvailable`). Queueing charges them like extended resources: the
DeviceClass maps to a resource (`gpu.nvidia.com` -> `nvidia.com/gpu`, so a claim for 2
GPUs is charged as `nvidia.com/gpu: 2` and placed as 2 whole GPUs). The map is the
QueueingConfig's `spec.deviceClasses` over that default, the same for the operator and
`qd queue simulate --config`; a DeviceClass with no mapping is charged as a resource
of its own name, which a ClusterQueue must cover by that name, else the workload stays
pending ("not covered").

Allocation is not ours: the scheduler's DRA plugin allocates the claim from the
ResourceSlices a driver publishes, on the node placement pinned the pod to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEVICE_CLASS_RESOURCES: Mapping[str, str] = {"gpu.nvidia.com": "nvidia.com/gpu"}
"""What a device of each DeviceClass is charged as (others: the class's own name)."""

ClaimKey = tuple[str, str, str]  # (namespace, "ResourceClaimTemplate" | "ResourceClaim", name)
ClaimDevices = tuple[tuple[str, int], ...]  # (DeviceClass, count) per device request


class ClaimError(ValueError):
    """A claim queueing cannot count; the message names the field."""


def claim_devices(spec: Mapping[str, Any], where: str) -> ClaimDevices:
    """(DeviceClass, count) of every device request in a ResourceClaim's spec."""
    out = []
    devices = spec.get("devices") or {}
    for i, request in enumerate(devices.get("requests") or []):
        at = f"{where}.spec.devices.requests[{i}]"
        exactly = request.get("exactly")
        if exactly is None:
            first = (request.get("firstAvailable") or [None])[0]
            if first is None:
                raise ClaimError(f"{at}: neither exactly nor firstAvailable")
            exactly, at = first, f"{at}.firstAvailable[0]"
        mode = exactly.get("allocationMode", "ExactCount")
        if mode != "ExactCount":
            raise ClaimError(f"{at}.allocationMode: {mode} cannot be counted as quota")
        name = exactly.get("deviceClassName")
        if not name:
            raise ClaimError(f"{at}.deviceClassName: must be set")
        count = exactly.get("count", 1)
        if not isinstance(count, int) or count < 1:
            raise ClaimError(f"{at}.count: must be a positive integer, got {count!r}")
        out.append((str(name), count))
    return tuple(out)


def claim_requests(
    template: Mapping[str, Any],
    namespace: str,
    claims: Mapping[ClaimKey, ClaimDevices],
    where: str,
    count: int,
    device_classes: Mapping[str, str] = DEVICE_CLASS_RESOURCES,
) -> dict[str, int]:
    """Per-pod requests (milli-units) of the pod template's resource claims, each
    DeviceClass charged as the resource `device_classes` maps it to."""
    total: dict[str, int] = {}
    spec = template.get("spec") or {}
    for i, ref in enumerate(spec.get("resourceClaims") or []):
        at = f"{where}.spec.resourceClaims[{i}]"
        if ref.get("resourceClaimTemplateName"):
            key = (namespace, "ResourceClaimTemplate", str(ref["resourceClaimTemplateName"]))
        elif ref.get("resourceClaimName"):
            key = (namespace, "ResourceClaim", str(ref["resourceClaimName"]))
            if count > 1:  # one claim's devices are shared by every pod that names it
                raise ClaimError(
                    f"{at}.resourceClaimName: one ResourceClaim shared by {count} pods "
                    "cannot be charged per pod; use resourceClaimTemplateName"
                )
        else:
            raise ClaimError(f"{at}: names neither a ResourceClaim nor a template")
        devices = claims.get(key)
        if devices is None:
            raise ClaimError(f"{at}: {key[1]} {namespace}/{key[2]} not found")
        for device_class, n in devices:
            resource = device_classes.get(device_class, device_class)
            total[resource] = total.get(resource, 0) + 1000 * n
    return total
