"""Why a scorer put a pod where it did, in words (pure): what `qd queue why` shows.

The scorer's own measure for the first pod of a gang, on every candidate node, in the
state the scorer saw: FGD's growth of the target workload's fragmentation, best-fit's
free share left, or (for the other policies) only where it went. The nodes are listed
best first, at most `shown` of them, so the text stays one line.
"""

from __future__ import annotations

import numpy as np

from quarterdeck.placement.cluster import ClusterState, Mask
from quarterdeck.placement.fgd import FragmentationGradient
from quarterdeck.placement.model import MILLI_PER_GPU, GangPlacement, Request
from quarterdeck.placement.scorers import BestFit, Scorer, leftover


def explain(
    cluster: ClusterState,
    request: Request,
    candidates: Mask,
    scorer: Scorer,
    got: GangPlacement,
    shown: int = 3,
) -> str:
    """One line: the policy, where each pod went (node and GPUs) and the measure it used."""
    pods = ", ".join(
        cluster.specs[p.node].name + (f" GPUs {_gpus(p.gpus)}" if p.gpus else "") for p in got.pods
    )
    text = f"placement {scorer.name} put {len(got.pods)} pod(s) on {pods}"
    nodes = np.flatnonzero(candidates)
    if isinstance(scorer, FragmentationGradient):
        values = scorer.deltas(cluster, request, candidates)[nodes] / MILLI_PER_GPU
        what, form = "growth of the target workload's fragmentation", "{:+.2f} GPUs"
    elif isinstance(scorer, BestFit):
        values = leftover(cluster)[nodes]
        what, form = "free share left (CPU + memory + GPU)", "{:.2f}"
    else:
        return text
    order = np.lexsort((cluster.tie_rank[nodes], values))[:shown]
    per_node = ", ".join(
        f"{cluster.specs[int(nodes[i])].name} {form.format(values[i])}" for i in order
    )
    more = f" (of {nodes.size} nodes that fit)" if nodes.size > shown else ""
    return f"{text}; lowest {what} for its first pod wins: {per_node}{more}"


def _gpus(gpus: tuple[int, ...]) -> str:
    if len(gpus) > 2 and list(gpus) == list(range(gpus[0], gpus[-1] + 1)):
        return f"{gpus[0]}-{gpus[-1]}"
    return ",".join(str(g) for g in gpus)
