"""Node scorers: given the feasible nodes for one pod, pick a node and its GPUs.

The five baselines of Weng et al. (ATC'23) follow their published descriptions; FGD
lives in `fgd.py`. Every scorer breaks exact ties uniformly at random with the
generator it is handed, so a run is reproducible from its seed.
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
    values: F64, candidates: Mask, rng: np.random.Generator, then: F64 | None = None
) -> int | None:
    """Index of the lowest value among candidates; ties go to the lowest `then` value,
    remaining ties uniformly at random."""
    idx = np.flatnonzero(candidates)
    if idx.size == 0:
        return None
    vals = values[idx]
    best = idx[vals <= vals.min() + 1e-9]
    if then is not None and best.size > 1:
        second = then[best]
        best = best[second <= second.min() + 1e-9]
    return int(best[0] if best.size == 1 else best[rng.integers(best.size)])


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
        node = pick_lowest(leftover(cluster), candidates, rng)
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
        node = pick_lowest(score, candidates, rng)
        return None if node is None else PodPlacement(node, gpus_for(cluster, request, node))


class GpuPacking:
    """Keep idle GPUs idle. Tiers, best first: a share that fits on a partly used GPU
    (the fuller that GPU the better); a node that already runs GPU work; an idle node,
    smaller nodes first so that big ones stay whole. CPU-only pods have no preference."""

    name = "packing"

    def choose(
        self, cluster: ClusterState, request: Request, candidates: Mask, rng: np.random.Generator
    ) -> PodPlacement | None:
        if not request.gpu_count:
            return RandomFit().choose(cluster, request, candidates, rng)
        free = cluster.gpu_free
        busy = free.sum(axis=1) < cluster.gpu_cap * MILLI_PER_GPU
        tier = np.where(busy, 1.0, 2.0 + cluster.gpu_cap / 100)
        if request.is_shared:
            partly = (free >= request.gpu_milli) & (free < MILLI_PER_GPU)
            tightest = np.where(partly, free, MILLI_PER_GPU).min(axis=1) / MILLI_PER_GPU
            tier = np.where(partly.any(axis=1), tightest * 0.5, tier)
        node = pick_lowest(tier, candidates, rng)
        return None if node is None else PodPlacement(node, gpus_for(cluster, request, node))


class GpuClustering:
    """Put tasks with equal GPU demand together. Tiers, best first: nodes whose GPU pods
    all ask what this one asks; nodes where some do; idle nodes; the rest. Inside a tier
    the node with less free GPU wins. CPU-only pods have no preference."""

    name = "clustering"

    def choose(
        self, cluster: ClusterState, request: Request, candidates: Mask, rng: np.random.Generator
    ) -> PodPlacement | None:
        want = request.gpu_demand_milli
        if not request.gpu_count:
            return RandomFit().choose(cluster, request, candidates, rng)
        tier = np.full(len(cluster), 3.0)
        for n in np.flatnonzero(candidates):
            kinds = cluster.demands[n]
            if want in kinds:
                tier[n] = 0.0 if len(kinds) == 1 else 1.0
            elif not kinds:
                tier[n] = 2.0
        fullest = cluster.gpu_free.sum(axis=1) / (MILLI_PER_GPU * cluster.gpu_free.shape[1] + 1)
        node = pick_lowest(tier + fullest, candidates, rng)
        return None if node is None else PodPlacement(node, gpus_for(cluster, request, node))
