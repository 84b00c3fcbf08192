"""Plain data that placement decides over: what a node offers, what a pod set asks for,
and where a decision puts each pod.

GPU capacity is counted in milli-GPU (1000 = one whole GPU) so fractional sharing and
whole GPUs use one integer scale and no float drift can over-commit a device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

MILLI_PER_GPU = 1000


class PlacementError(ValueError):
    """A request or node description that no placement could ever make sense of."""


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """Capacity of one node. `labels` carry topology (e.g. an NVLink domain or a rack).

    `mig` maps a MIG profile name (e.g. ``"1g.10gb"``) to the number of instances of it
    the node exposes; MIG instances are counted apart from the shareable GPUs.
    """

    name: str
    cpu_milli: int
    memory_mib: int
    gpu_count: int = 0
    gpu_model: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    mig: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if self.cpu_milli < 0 or self.memory_mib < 0 or self.gpu_count < 0:
            raise PlacementError(f"node {self.name!r}: capacities must be >= 0")
        if any(n < 0 for _, n in self.mig):
            raise PlacementError(f"node {self.name!r}: MIG instance counts must be >= 0")

    def label(self, key: str) -> str | None:
        """The value of topology label `key`, or None when the node does not carry it."""
        for k, v in self.labels:
            if k == key:
                return v
        return None


@dataclass(frozen=True, slots=True)
class Request:
    """What one pod asks for.

    Exactly one GPU form is used: ``gpu_count >= 1`` whole GPUs (``gpu_milli`` must then be
    1000), or one shared GPU (``gpu_count == 1`` and ``0 < gpu_milli < 1000``), or a MIG
    instance (``mig_profile``), or none. ``gpu_models`` empty means any model.
    """

    cpu_milli: int
    memory_mib: int
    gpu_count: int = 0
    gpu_milli: int = 0
    gpu_models: frozenset[str] = field(default_factory=frozenset)
    mig_profile: str | None = None

    def __post_init__(self) -> None:
        if self.cpu_milli < 0 or self.memory_mib < 0 or self.gpu_count < 0:
            raise PlacementError(f"request {self}: resources must be >= 0")
        if self.gpu_count == 0 and self.gpu_milli != 0:
            raise PlacementError(f"request {self}: gpu_milli needs gpu_count >= 1")
        if self.gpu_count == 1 and not 0 < self.gpu_milli <= MILLI_PER_GPU:
            raise PlacementError(f"request {self}: gpu_milli must be in 1..1000")
        if self.gpu_count > 1 and self.gpu_milli != MILLI_PER_GPU:
            raise PlacementError(f"request {self}: multi-GPU requests take whole GPUs")
        if self.mig_profile is not None and self.gpu_count:
            raise PlacementError(f"request {self}: a MIG instance excludes whole/shared GPUs")

    @property
    def is_shared(self) -> bool:
        """True for a fraction of one GPU, the case that fragments devices."""
        return self.gpu_count == 1 and self.gpu_milli < MILLI_PER_GPU

    @property
    def gpu_demand_milli(self) -> int:
        """Total GPU asked for, in milli-GPU (a shared request counts its fraction)."""
        return self.gpu_milli if self.is_shared else self.gpu_count * MILLI_PER_GPU


class Topology(Enum):
    """How strictly a gang must stay inside one topology domain."""

    REQUIRED = "required"
    PREFERRED = "preferred"


@dataclass(frozen=True, slots=True)
class TopologyConstraint:
    """Keep a gang inside one value of node label `key` (e.g. one NVLink domain or rack)."""

    key: str
    mode: Topology = Topology.REQUIRED


@dataclass(frozen=True, slots=True)
class Gang:
    """A gang of `count` identical pods: placed whole or not at all."""

    request: Request
    count: int = 1
    topology: TopologyConstraint | None = None

    def __post_init__(self) -> None:
        if self.count < 1:
            raise PlacementError(f"pod set count must be >= 1, got {self.count}")


@dataclass(frozen=True, slots=True)
class PodPlacement:
    """One pod bound to `node` (index into the cluster) using GPUs `gpus`.

    For a shared request `gpus` holds one index and the pod takes `gpu_milli` of it; for
    whole GPUs each listed GPU is taken entirely.
    """

    node: int
    gpus: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class GangPlacement:
    """Where every pod of a pod set goes; `domain` is the topology value used, if any."""

    pods: tuple[PodPlacement, ...]
    domain: str | None = None

    def nodes(self) -> tuple[int, ...]:
        """Node indices in pod order."""
        return tuple(p.node for p in self.pods)
