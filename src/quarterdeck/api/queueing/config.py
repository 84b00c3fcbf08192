"""QueueingConfig: how admission places pods and shares quota, for the cluster and the simulator.

One cluster-scoped object named `default` is read by `qd operator` on every pass; the
same document in a file is read by `qd simulate replay --config FILE`, so what the
simulator measures is what the cluster runs. Field names follow Kueue's Configuration
(`fairSharing.enable`, `fairSharing.preemptionStrategies`) where Kueue has one.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from quarterdeck.api.meta import ObjectMeta
from quarterdeck.api.queueing.meta import API_VERSION, Quantity, Spec

CONFIG_NAME = "default"


class TargetRequest(Spec, kw_only=True):
    """One typical pod of the fallback target workload and how often it occurs."""

    requests: dict[str, Quantity]
    weight: Quantity = 1


class TargetWorkload(Spec, kw_only=True):
    """FGD's target workload: learned from the pod requests of the last `recentAdmitted`
    admitted workloads (as FGD learns it from the trace); `fallback` until one is seen."""

    recent_admitted: int = 1000
    fallback: list[TargetRequest] = []


class PlacementConfig(Spec, kw_only=True):
    """`policy` is a placement policy name (`qd simulate fill --help` lists them)."""

    policy: str = "bestfit"
    seed: int = 0
    target_workload: TargetWorkload = msgspec.field(default_factory=TargetWorkload)


class FairSharingConfig(Spec, kw_only=True):
    """`weights` maps a ClusterQueue or Cohort name to a weight that overrides the
    object's own `spec.fairSharing.weight`."""

    enable: bool = False
    preemption_strategies: list[str] = msgspec.field(
        default_factory=lambda: ["LessThanOrEqualToFinalShare", "LessThanInitialShare"]
    )
    weights: dict[str, Quantity] = {}


class StagingConfig(Spec, kw_only=True):
    """`enable` creates the pods of the Jobs next in line before their admission.

    Held by a scheduling gate, so an admission lifts the gate instead of waiting for
    the job controller to create them (docs/queueing.md, "Staged pods")."""

    enable: bool = False


class QueueingConfigSpec(Spec, kw_only=True):
    """`deviceClasses` maps a DRA DeviceClass to the resource its devices are charged
    as (`gpu.nvidia.com: nvidia.com/gpu` is always there unless mapped otherwise); a
    class mapped nowhere is charged as a resource of its own name."""

    placement: PlacementConfig = msgspec.field(default_factory=PlacementConfig)
    fair_sharing: FairSharingConfig = msgspec.field(default_factory=FairSharingConfig)
    device_classes: dict[str, str] = {}
    staging: StagingConfig = msgspec.field(default_factory=StagingConfig)


class QueueingConfig(Spec, kw_only=True):
    KIND: ClassVar[str] = "QueueingConfig"
    api_version: str = API_VERSION
    kind: str = "QueueingConfig"
    metadata: ObjectMeta
    spec: QueueingConfigSpec = msgspec.field(default_factory=QueueingConfigSpec)
