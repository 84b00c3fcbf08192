"""Fragmentation Gradient Descent (Weng et al., ATC'23) and our variant of it.

FGD puts a pod on the node and GPU where the node's expected fragmentation with respect
to the target workload grows least (see `fragmentation.py`). The growth of one node
depends on that node's state and the pod alone, so it is memoised per (node version,
typical task): after a bind only the changed node is computed again. The memo is a
cache of a pure function; results do not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from quarterdeck.placement.cluster import ClusterState, Mask
from quarterdeck.placement.fragmentation import (
    F64,
    I64,
    TargetWorkload,
    capacity_fragmentation,
    class_key,
    fragmentation,
)
from quarterdeck.placement.model import MILLI_PER_GPU, PodPlacement, Request
from quarterdeck.placement.scorers import gpus_for, leftover, pick_lowest


def node_score(delta: F64) -> F64:
    """Integer score 0..100 for a fragmentation growth of `delta` milli-GPU (less is better)."""
    scaled = np.clip(np.nan_to_num(delta, posinf=1e6) / MILLI_PER_GPU, -50.0, 50.0)
    score: F64 = np.floor(100.0 / (1.0 + np.exp(scaled)))
    return score


TIE_BREAKS = ("rank", "bestfit", "capacity")

Measure = Callable[
    [TargetWorkload, NDArray[np.bool_], I64, I64, I64, I64], F64
]  # signature of `fragmentation`


class _Memo:
    """Per-node deltas for one cluster shape, keyed by node version stamps."""

    def __init__(self, nodes: int, classes: int) -> None:
        self.delta = np.zeros((nodes, classes), dtype=np.float64)
        self.gpu = np.zeros((nodes, classes), dtype=np.int64)
        self.stamp = np.zeros((nodes, classes), dtype=np.int64)
        self.frag = np.zeros(nodes, dtype=np.float64)
        self.frag_stamp = np.zeros(nodes, dtype=np.int64)


class FragmentationGradient:
    """FGD: put the pod where the node's expected fragmentation grows least.

    As a scheduler score plugin, FGD turns the growth Δ (milli-GPU) into an integer node
    score 0..100, ``floor(100 * sigmoid(-Δ / 1000))``, the kube-scheduler score range;
    nodes with the top score tie. That coarse grain matters: it lets nodes whose Δ
    differ by a few milli-GPU tie (see docs/benchmarks.md). `exact=True` minimises Δ
    itself instead. Ties go to the lowest `ClusterState.tie_rank` (`tie_break="rank"`, what the
    published simulator's patched kube-scheduler does), or first to the node with least
    left over (`"bestfit"`, ours), or first to the node whose capacity fragmentation
    grows least (`"capacity"`, ours: `capacity_fragmentation`, exact growth).
    """

    name = "fgd"

    def __init__(
        self,
        workload: TargetWorkload,
        tie_break: str = "rank",
        exact: bool = False,
        measure: Measure = fragmentation,
    ) -> None:
        if tie_break not in TIE_BREAKS:
            raise ValueError(f"tie_break must be one of {', '.join(TIE_BREAKS)}, not {tie_break!r}")
        self.measure = measure
        self.tie_break = tie_break
        self.exact = exact
        self.workload = workload
        self._memo: _Memo | None = None
        self._last_gpu: dict[int, int] | None = None
        self._last_k = 0
        self._ties = (
            FragmentationGradient(workload, exact=True, measure=capacity_fragmentation)
            if tie_break == "capacity"
            else None
        )

    def node_fragmentation(self, cluster: ClusterState, nodes: I64) -> F64:
        """F_n(M) of `nodes` as they are now (memoised by version stamp)."""
        memo = self._memo_for(cluster)
        stale = nodes[memo.frag_stamp[nodes] != cluster.version[nodes]]
        if stale.size:
            memo.frag[stale] = self.measure(
                self.workload,
                self.workload.allowed(cluster.models),
                cluster.cpu_free[stale],
                cluster.mem_free[stale],
                cluster.gpu_free[stale],
                cluster.model_idx[stale],
            )
            memo.frag_stamp[stale] = cluster.version[stale]
        return memo.frag[nodes]

    def _memo_for(self, cluster: ClusterState) -> _Memo:
        if self._memo is None or self._memo.frag.shape[0] != len(cluster):
            self._memo = _Memo(len(cluster), len(self.workload.keys))
        return self._memo

    def deltas(self, cluster: ClusterState, request: Request, candidates: Mask) -> F64:
        """Growth of F_n(M) if one pod of `request` went to each node (inf: not a candidate).

        Also remembers the best GPU per node for `choose`.
        """
        memo = self._memo_for(cluster)
        k = self.workload.index.get(class_key(request))
        out = np.full(len(cluster), np.inf)
        nodes = np.flatnonzero(candidates)
        if k is None:
            delta, gpu = self._compute(cluster, request, nodes)
            self._last_gpu = dict(zip(nodes.tolist(), gpu.tolist(), strict=True))
            out[nodes] = delta
            return out
        stale = nodes[memo.stamp[nodes, k] != cluster.version[nodes]]
        if stale.size:
            delta, gpu = self._compute(cluster, request, stale)
            memo.delta[stale, k], memo.gpu[stale, k] = delta, gpu
            memo.stamp[stale, k] = cluster.version[stale]
        out[nodes] = memo.delta[nodes, k]
        self._last_gpu = None
        self._last_k = k
        return out

    def gpu_choice(self, cluster: ClusterState, request: Request, node: int) -> tuple[int, ...]:
        """The GPUs `deltas` found best on `node` for the last request."""
        if not request.is_shared:
            return gpus_for(cluster, request, node)
        if self._last_gpu is not None:
            return (self._last_gpu[node],)
        assert self._memo is not None
        return (int(self._memo.gpu[node, self._last_k]),)

    def choose(
        self, cluster: ClusterState, request: Request, candidates: Mask, rng: np.random.Generator
    ) -> PodPlacement | None:
        delta = self.deltas(cluster, request, candidates)
        key = delta if self.exact else -node_score(delta)
        then = self._tie_values(cluster, request, key, candidates)
        node = pick_lowest(key, candidates, cluster.tie_rank, then)
        if node is None:
            return None
        return PodPlacement(node, self.gpu_choice(cluster, request, node))

    def _tie_values(
        self, cluster: ClusterState, request: Request, key: F64, candidates: Mask
    ) -> F64 | None:
        """What decides among the nodes tied for the best `key` before tie rank, if
        anything. The capacity growth is computed for those nodes only."""
        if self.tie_break == "bestfit":
            return leftover(cluster)
        if self._ties is None or not candidates.any():
            return None
        top = candidates & (key <= key[candidates].min() + 1e-9)
        return self._ties.deltas(cluster, request, top)

    def _compute(
        self, cluster: ClusterState, request: Request, nodes: I64
    ) -> tuple[F64, NDArray[np.int64]]:
        """Delta and best GPU for each of `nodes` (all feasible for `request`)."""
        before = self.node_fragmentation(cluster, nodes)
        cpu = cluster.cpu_free[nodes] - request.cpu_milli
        mem = cluster.mem_free[nodes] - request.memory_mib
        gpu = cluster.gpu_free[nodes]
        model = cluster.model_idx[nodes]
        allowed = self.workload.allowed(cluster.models)
        choice = np.zeros(nodes.size, dtype=np.int64)
        if request.is_shared:
            # One hypothetical state per (node, GPU that fits); keep each node's best GPU.
            rows, cols = np.nonzero(gpu >= request.gpu_milli)
            after_gpu = gpu[rows].copy()
            after_gpu[np.arange(rows.size), cols] -= request.gpu_milli
            after = self.measure(
                self.workload, allowed, cpu[rows], mem[rows], after_gpu, model[rows]
            )
            table = np.full(gpu.shape, np.inf)
            table[rows, cols] = after
            if self.exact:
                choice = np.argmin(table, axis=1)
            else:
                # The published plugin keeps the first GPU with the best integer score.
                grown = table - before[:, None]
                score = np.where(np.isfinite(table), node_score(grown), -1.0)
                choice = np.argmax(score, axis=1)
            return table[np.arange(nodes.size), choice] - before, choice
        if request.gpu_count:
            free = gpu == MILLI_PER_GPU
            taken = free & (np.cumsum(free, axis=1) <= request.gpu_count)
            gpu = np.where(taken, 0, gpu)
        after = self.measure(self.workload, allowed, cpu, mem, gpu, model)
        return after - before, choice
