"""Node-level GPU placement: node state, scorers (random, best-fit, dot-product, GPU
packing, GPU clustering, FGD) and `place()` for gangs. Pure: no I/O, no clock.

Typical use by a controller::

    cluster = ClusterState(node_specs)
    podset = Gang(Request(cpu_milli=4000, memory_mib=16384, gpu_count=1, gpu_milli=500))
    assignment = place(cluster, podset, scorer_named("fgd", workload))
    if assignment is not None:
        commit(cluster, podset, assignment)
"""

from quarterdeck.placement.cluster import ClusterState
from quarterdeck.placement.fgd import FragmentationGradient
from quarterdeck.placement.fragmentation import TargetWorkload, cluster_fragmentation
from quarterdeck.placement.gang import commit, place, release
from quarterdeck.placement.model import (
    MILLI_PER_GPU,
    Gang,
    GangPlacement,
    NodeSpec,
    PlacementError,
    PodPlacement,
    Request,
    Topology,
    TopologyConstraint,
)
from quarterdeck.placement.policies import POLICIES, TARGETED, scorer_named
from quarterdeck.placement.scorers import Scorer

__all__ = [
    "MILLI_PER_GPU",
    "POLICIES",
    "TARGETED",
    "ClusterState",
    "FragmentationGradient",
    "Gang",
    "GangPlacement",
    "NodeSpec",
    "PlacementError",
    "PodPlacement",
    "Request",
    "Scorer",
    "TargetWorkload",
    "Topology",
    "TopologyConstraint",
    "cluster_fragmentation",
    "commit",
    "place",
    "release",
    "scorer_named",
]
