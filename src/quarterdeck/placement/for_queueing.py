"""`quarterdeck.placement` as the queueing cycle's `Placer`.

The cycle hands over candidate nodes with free resources as named quantities in
milli-units (``cpu``, ``memory``, ``nvidia.com/gpu``) and expects pods per node for the
whole gang, or None. This adapter turns that view into a `ClusterState`, calls
`place()` with any scorer, and counts pods per node. Aggregate quantities cannot say
which GPU is partly used, so a node's free GPU count is taken as that many whole GPUs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from quarterdeck.placement.cluster import ClusterState
from quarterdeck.placement.gang import place
from quarterdeck.placement.model import (
    MILLI_PER_GPU,
    NodeSpec,
    PodSet,
    Request,
    Topology,
    TopologyConstraint,
)
from quarterdeck.placement.scorers import BestFit, Scorer
from quarterdeck.queueing.model import PodSet as QueuedPodSet
from quarterdeck.queueing.nodes import NodeCapacity

GPU = "nvidia.com/gpu"
GPU_MODEL_LABEL = "nvidia.com/gpu.product"
_MILLI_PER_MIB = 1000 * 1024 * 1024  # memory arrives in milli-bytes


def _spec(node: NodeCapacity) -> tuple[NodeSpec, int, int, int]:
    gpus = node.allocatable.get(GPU, 0) // MILLI_PER_GPU
    spec = NodeSpec(
        name=node.name,
        cpu_milli=max(node.allocatable.get("cpu", 0), 0),
        memory_mib=max(node.allocatable.get("memory", 0) // _MILLI_PER_MIB, 0),
        gpu_count=gpus,
        gpu_model=node.labels.get(GPU_MODEL_LABEL, "") if gpus else "",
        labels=tuple(sorted(node.labels.items())),
    )
    free_gpus = max(0, min(gpus, node.free.get(GPU, 0) // MILLI_PER_GPU))
    return (
        spec,
        max(node.free.get("cpu", 0), 0),
        max(node.free.get("memory", 0) // _MILLI_PER_MIB, 0),
        free_gpus,
    )


class QueueingPlacer:
    """A `quarterdeck.queueing` Placer backed by `place()` and one scorer."""

    def __init__(self, scorer: Scorer | None = None, seed: int = 0) -> None:
        self.scorer: Scorer = scorer if scorer is not None else BestFit()
        self.seed = seed

    def __call__(
        self, nodes: Sequence[NodeCapacity], pod_set: QueuedPodSet
    ) -> Mapping[str, int] | None:
        if not nodes:
            return None
        rows = [_spec(n) for n in nodes]
        cluster = ClusterState([r[0] for r in rows])
        for i, (_, cpu, mem, free_gpus) in enumerate(rows):
            cluster.cpu_free[i] = min(cpu, cluster.cpu_cap[i])
            cluster.mem_free[i] = min(mem, cluster.mem_cap[i])
            cluster.gpu_free[i, free_gpus : cluster.gpu_cap[i]] = 0
        cluster.touch()
        gpus = pod_set.requests.get(GPU, 0)
        request = Request(
            cpu_milli=pod_set.requests.get("cpu", 0),
            memory_mib=-(-pod_set.requests.get("memory", 0) // _MILLI_PER_MIB),
            gpu_count=-(-gpus // MILLI_PER_GPU),
            gpu_milli=MILLI_PER_GPU if gpus else 0,
        )
        topology = None
        if pod_set.topology_required:
            topology = TopologyConstraint(pod_set.topology_required, Topology.REQUIRED)
        elif pod_set.topology_preferred:
            topology = TopologyConstraint(pod_set.topology_preferred, Topology.PREFERRED)
        got = place(
            cluster,
            PodSet(request, pod_set.count, topology),
            self.scorer,
            np.random.default_rng(self.seed),
        )
        if got is None:
            return None
        return dict(Counter(cluster.specs[n].name for n in got.nodes()))
