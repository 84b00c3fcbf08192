"""Node scorers: given the feasible nodes for one pod, pick a node and its GPUs.

The five baselines of Weng et al. (ATC'23) follow the authors' simulator
(hkust-adsl/kubernetes-scheduler-simulator): its integer scores where the coarse grain
makes nodes tie, and its tie rule, the lowest node in `ClusterState.tie_rank` (its
kube-scheduler is patched to pick the smallest node name; the simulator prefixes every
name with a random permutation, so in its runs that is a random order fixed per run).
FGD lives in `fgd.py`. Only `random` draws, from the generator it is handed, so a run
is reproducible from its seed.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from quarterdeck.placement.cluster import ClusterState, Mask
from quarterdeck.placement.model import MILLI_PER_GPU, PodPlacement, Request

F64 = NDArray[np.float64]


class Scorer(Protocol):
    """Picks where one pod of `request` goes among the `candidates` nodes (all feasible)."""

    name: str

    def choose(
        self, cluster: ClusterState, request: Request, candidates: Mask, rng: np.random.Generator
    ) -> PodPlacement | None: ...


def pick_lowest(
    values: F64, candidates: Mask, order: NDArray[np.int64], then: F64 | None = None
) -> int | None:
    """Index of the lowest value among candidates; ties go to the lowest `then` value,
    remaining ties to the lowest `order` (`ClusterState.tie_rank`)."""
    idx = np.flatnonzero(candidates)
    if idx.size == 0:
        return None
    vals = values[idx]
    best = idx[vals <= vals.min() + 1e-9]
    if then is not None and best.size > 1:
        second = then[best]
        best = best[second <= second.min() + 1e-9]
    return int(best[0] if best.size == 1 else best[np.argmin(order[best])])


def leftover(cluster: ClusterState) -> F64:
    """Best-fit's measure: free CPU + memory + GPU, each as a share of the node."""
    cpu, mem, gpu = _normalised_free(cluster)
    return cpu + mem + gpu


def tightest_gpu(cluster: ClusterState, node: int, milli: int) -> int:
    """The GPU of `node` with the least free share that still holds `milli` (best fit)."""
    free = cluster.gpu_free[node]
    fit = np.where(free >= milli, free, np.iinfo(np.int64).max)
    return int(np.argmin(fit))


def gpus_for(cluster: ClusterState, request: Request, node: int) -> tuple[int, ...]:
    """Default GPU choice on a node: tightest GPU for a share, first free whole GPUs."""
    if request.is_shared:
        return (tightest_gpu(cluster, node, request.gpu_milli),)
    if request.gpu_count:
        return cluster.whole_gpus(node, request.gpu_count)
    return ()


def _normalised_free(cluster: ClusterState) -> tuple[F64, F64, F64]:
    cpu = cluster.cpu_free / np.maximum(cluster.cpu_cap, 1)
    mem = cluster.mem_free / np.maximum(cluster.mem_cap, 1)
    gpu = cluster.gpu_free.sum(axis=1) / np.maximum(cluster.gpu_cap * MILLI_PER_GPU, 1)
    return cpu, mem, gpu


class RandomFit:
    """Any feasible node, uniformly; any GPU on it that fits."""

    name = "random"

    def choose(
        self, cluster: ClusterState, request: Request, candidates: Mask, rng: np.random.Generator
    ) -> PodPlacement | None:
        idx = np.flatnonzero(candidates)
        if idx.size == 0:
            return None
        node = int(idx[rng.integers(idx.size)])
        if request.is_shared:
            fit = np.flatnonzero(cluster.gpu_free[node] >= request.gpu_milli)
            return PodPlacement(node, (int(fit[rng.integers(fit.size)]),))
        return PodPlacement(node, gpus_for(cluster, request, node))


class BestFit:
    """The node with the least free resources left, summed over normalised dimensions."""

    name = "bestfit"

    def choose(
        self, cluster: ClusterState, request: Request, candidates: Mask, rng: np.random.Generator
    ) -> PodPlacement | None:
        node = pick_lowest(leftover(cluster), candidates, cluster.tie_rank)
        return None if node is None else PodPlacement(node, gpus_for(cluster, request, node))


class DotProduct:
    """Tetris-style alignment: the smallest dot product of demand and free vectors.

    Both vectors are normalised by the node's capacity (CPU, memory, GPU).
    """

    name = "dotprod"

    def choose(
        self, cluster: ClusterState, request: Request, candidates: Mask, rng: np.random.Generator
    ) -> PodPlacement | None:
        cpu, mem, gpu = _normalised_free(cluster)
        d_cpu = request.cpu_milli / np.maximum(cluster.cpu_cap, 1)
        d_mem = request.memory_mib / np.maximum(cluster.mem_cap, 1)
        d_gpu = request.gpu_demand_milli / np.maximum(cluster.gpu_cap * MILLI_PER_GPU, 1)
        score = d_cpu * cpu + d_mem * mem + d_gpu * gpu
        node = pick_lowest(score, candidates, cluster.tie_rank)
        return None if node is None else PodPlacement(node, gpus_for(cluster, request, node))


MAX_SCORE = 100  # kube-scheduler's node score range is 0..100
MAX_SPEC_GPU = 8 * MILLI_PER_GPU  # the published simulator's GPU normaliser (8 GPUs)


def pick_highest(scores: F64, candidates: Mask, order: NDArray[np.int64]) -> int | None:
    """A candidate with the top (integer) score, ties to the lowest tie rank."""
    return pick_lowest(-scores, candidates, order)


class GpuPacking:
    """Keep idle GPUs idle, with the published plugin's integer scores (0..100):

    - a share that fits on a partly used GPU: 100 - (free tenths of the tightest such
      GPU), at least 50 (so GPUs within 100m of each other tie);
    - free GPUs on a node that already runs GPU work: 50 - GPUs taken, at least 33;
    - an idle node: max(33 - its GPUs, its GPUs), smaller nodes first.

    CPU-only pods score 0 everywhere, so they go to the feasible node lowest in tie rank."""

    name = "packing"

    def choose(
        self, cluster: ClusterState, request: Request, candidates: Mask, rng: np.random.Generator
    ) -> PodPlacement | None:
        if not request.gpu_count:  # score 0 everywhere: the tie rule decides
            node = pick_lowest(np.zeros(len(cluster)), candidates, cluster.tie_rank)
            return None if node is None else PodPlacement(node)
        free = cluster.gpu_free
        full = (free == MILLI_PER_GPU).sum(axis=1)
        idle = full == cluster.gpu_cap
        need = request.gpu_milli if request.is_shared else MILLI_PER_GPU
        score = np.where(
            idle, np.maximum(MAX_SCORE // 3 - full, full), MAX_SCORE // 2 - request.gpu_count
        ).astype(np.float64)
        if request.is_shared:
            partly = (free >= need) & (free < MILLI_PER_GPU)
            tightest = np.where(partly, free, MILLI_PER_GPU).min(axis=1)
            shared = np.maximum(MAX_SCORE - (tightest * 100 // MILLI_PER_GPU) // 10, MAX_SCORE // 2)
            score = np.where(partly.any(axis=1) & ~idle, shared, score)
        else:
            score = np.where(idle, score, np.maximum(score, MAX_SCORE // 3))
        node = pick_highest(score, candidates, cluster.tie_rank)
        return None if node is None else PodPlacement(node, gpus_for(cluster, request, node))


def affinity_tag(demand_milli: int) -> int:
    """The published simulator's GPU affinity: one tag for every share, else the GPU count."""
    return -1 if demand_milli < MILLI_PER_GPU else demand_milli // MILLI_PER_GPU


class GpuClustering:
    """Put tasks of one GPU affinity together (every share is one affinity, whole GPUs
    one per count), with the published plugin's integer scores: nodes whose GPU pods all
    have this affinity 75+, nodes where some do 50+, nodes without GPU pods 25+, the
    rest 0+; plus 25 * (8 GPUs - free GPU) / 8 GPUs, so fuller nodes win and nodes
    within 320m of each other tie. CPU-only pods score 0 everywhere (lowest tie rank)."""

    name = "clustering"

    def choose(
        self, cluster: ClusterState, request: Request, candidates: Mask, rng: np.random.Generator
    ) -> PodPlacement | None:
        if not request.gpu_count:  # score 0 everywhere: the tie rule decides
            node = pick_lowest(np.zeros(len(cluster)), candidates, cluster.tie_rank)
            return None if node is None else PodPlacement(node)
        want = affinity_tag(request.gpu_demand_milli)
        quarter = MAX_SCORE // 4
        base = np.zeros(len(cluster), dtype=np.int64)
        for n in np.flatnonzero(candidates):
            tags = {affinity_tag(m) for m in cluster.demands[n]}
            if want in tags:
                base[n] = 3 * quarter if len(tags) == 1 else 2 * quarter
            elif not tags:
                base[n] = quarter
        left = cluster.gpu_free.sum(axis=1)
        score = (base + quarter * (MAX_SPEC_GPU - left) // MAX_SPEC_GPU).astype(np.float64)
        node = pick_highest(score, candidates, cluster.tie_rank)
        return None if node is None else PodPlacement(node, gpus_for(cluster, request, node))
