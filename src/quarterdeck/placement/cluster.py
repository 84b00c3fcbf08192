"""Free capacity of every node as numpy arrays, so scorers see the whole cluster at once.

A `ClusterState` is the snapshot placement decides over. `place()` never changes the one
it is given; the shell (simulator, controller) calls `bind`/`release` to carry a decision
out. Each node carries a version stamp drawn from one process-wide counter, so a stamp
names one exact node state and scorers may memoise per-node work on it.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from quarterdeck.placement.model import (
    MILLI_PER_GPU,
    NodeSpec,
    PlacementError,
    PodPlacement,
    Request,
)

_STAMPS = itertools.count(1)

I64 = NDArray[np.int64]
Mask = NDArray[np.bool_]


def _stamps(n: int) -> I64:
    return np.fromiter((next(_STAMPS) for _ in range(n)), dtype=np.int64, count=n)


class ClusterState:
    """Capacities and free resources of all nodes (index = position in `specs`)."""

    def __init__(self, specs: Sequence[NodeSpec], tie_rank: I64 | None = None) -> None:
        """`tie_rank` orders the nodes where scores tie (lowest first); by default the
        rank of the node's name."""
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            dup = next(n for n, c in Counter(names).items() if c > 1)
            raise PlacementError(f"duplicate node name {dup!r}")
        self.specs: tuple[NodeSpec, ...] = tuple(specs)
        n = len(self.specs)
        self.models: tuple[str, ...] = tuple(sorted({s.gpu_model for s in specs}))
        self.mig_profiles: tuple[str, ...] = tuple(sorted({p for s in specs for p, _ in s.mig}))
        width = max((s.gpu_count for s in specs), default=0) or 1
        self.cpu_cap: I64 = np.array([s.cpu_milli for s in specs], dtype=np.int64)
        self.mem_cap: I64 = np.array([s.memory_mib for s in specs], dtype=np.int64)
        self.gpu_cap: I64 = np.array([s.gpu_count for s in specs], dtype=np.int64)
        self.model_idx: I64 = np.array(
            [self.models.index(s.gpu_model) for s in specs], dtype=np.int64
        )
        self.cpu_free: I64 = self.cpu_cap.copy()
        self.mem_free: I64 = self.mem_cap.copy()
        # Padding columns of nodes with fewer GPUs stay at 0 free: they never fit anything.
        self.gpu_free: I64 = np.zeros((n, width), dtype=np.int64)
        for i, s in enumerate(specs):
            self.gpu_free[i, : s.gpu_count] = MILLI_PER_GPU
        self.mig_free: I64 = np.zeros((n, max(len(self.mig_profiles), 1)), dtype=np.int64)
        for i, s in enumerate(specs):
            for p, count in s.mig:
                self.mig_free[i, self.mig_profiles.index(p)] += count
        # Where scores tie, the lowest rank wins. The published simulator's patched
        # kube-scheduler picks the lexicographically smallest node name, so by default the
        # rank is the name's; the fill experiment passes its own (see sim/fill.py).
        if tie_rank is None:
            self.tie_rank: I64 = np.argsort(np.argsort(np.array(names, dtype=object)))
        else:
            self.tie_rank = np.array(tie_rank, dtype=np.int64)
            if not np.array_equal(np.sort(self.tie_rank), np.arange(n)):
                raise PlacementError("tie_rank must be a permutation of the node indices")
        self.version: I64 = _stamps(n)
        # GPU demand (milli) of the GPU pods on each node: GPU clustering reads it.
        self.demands: list[Counter[int]] = [Counter() for _ in range(n)]
        self._model_masks: dict[frozenset[str], Mask] = {}

    def __len__(self) -> int:
        return len(self.specs)

    def copy(self) -> ClusterState:
        """An independent snapshot (versions are shared: same stamp, same state)."""
        other = object.__new__(ClusterState)
        other.specs, other.models, other.mig_profiles = self.specs, self.models, self.mig_profiles
        other.cpu_cap, other.mem_cap, other.gpu_cap = self.cpu_cap, self.mem_cap, self.gpu_cap
        other.model_idx = self.model_idx
        other.tie_rank = self.tie_rank
        other.cpu_free, other.mem_free = self.cpu_free.copy(), self.mem_free.copy()
        other.gpu_free, other.mig_free = self.gpu_free.copy(), self.mig_free.copy()
        other.version = self.version.copy()
        other.demands = [Counter(c) for c in self.demands]
        other._model_masks = self._model_masks
        return other

    # ---- feasibility -------------------------------------------------------------------

    def model_mask(self, models: frozenset[str]) -> Mask:
        """Nodes whose GPU model is in `models` (all nodes when `models` is empty)."""
        mask = self._model_masks.get(models)
        if mask is None:
            allowed = [i for i, m in enumerate(self.models) if not models or m in models]
            mask = np.isin(self.model_idx, np.array(allowed, dtype=np.int64))
            self._model_masks[models] = mask
        return mask

    def fits(self, request: Request) -> Mask:
        """Nodes that can take one more pod of `request` right now."""
        ok = (self.cpu_free >= request.cpu_milli) & (self.mem_free >= request.memory_mib)
        if request.mig_profile is not None:
            if request.mig_profile not in self.mig_profiles:
                return np.zeros(len(self), dtype=np.bool_)
            ok &= self.mig_free[:, self.mig_profiles.index(request.mig_profile)] >= 1
        elif request.is_shared:
            ok &= self.gpu_free.max(axis=1) >= request.gpu_milli
        elif request.gpu_count:
            ok &= (self.gpu_free == MILLI_PER_GPU).sum(axis=1) >= request.gpu_count
        if request.gpu_count or request.mig_profile is not None:
            ok &= self.model_mask(request.gpu_models)
        return ok

    def could_ever_fit(self, request: Request) -> bool:
        """Whether an empty copy of some node could hold `request` (else: unschedulable)."""
        ok = (self.cpu_cap >= request.cpu_milli) & (self.mem_cap >= request.memory_mib)
        if request.mig_profile is not None:
            if request.mig_profile not in self.mig_profiles:
                return False
            caps = np.array(
                [dict(s.mig).get(request.mig_profile, 0) for s in self.specs], dtype=np.int64
            )
            ok &= caps >= 1
        elif request.gpu_count:
            ok &= self.gpu_cap >= request.gpu_count
        if request.gpu_count or request.mig_profile is not None:
            ok &= self.model_mask(request.gpu_models)
        return bool(ok.any())

    def whole_gpus(self, node: int, count: int) -> tuple[int, ...]:
        """The first `count` entirely free GPUs of `node` (all are alike for whole pods)."""
        free = np.flatnonzero(self.gpu_free[node] == MILLI_PER_GPU)
        return tuple(int(g) for g in free[:count])

    # ---- carrying a decision out -------------------------------------------------------

    def bind(self, request: Request, pod: PodPlacement) -> None:
        """Take `request`'s resources on `pod.node`; refuses anything that over-commits."""
        n = pod.node
        if self.cpu_free[n] < request.cpu_milli or self.mem_free[n] < request.memory_mib:
            raise PlacementError(f"node {self.specs[n].name}: not enough CPU or memory")
        if request.mig_profile is not None:
            p = self.mig_profiles.index(request.mig_profile)
            if self.mig_free[n, p] < 1:
                raise PlacementError(f"node {self.specs[n].name}: no free {request.mig_profile}")
            self.mig_free[n, p] -= 1
        elif request.gpu_count:
            self._take_gpus(request, pod)
            self.demands[n][request.gpu_demand_milli] += 1
        self.cpu_free[n] -= request.cpu_milli
        self.mem_free[n] -= request.memory_mib
        self.version[n] = next(_STAMPS)

    def _take_gpus(self, request: Request, pod: PodPlacement) -> None:
        n, name = pod.node, self.specs[pod.node].name
        if request.gpu_models and self.specs[n].gpu_model not in request.gpu_models:
            raise PlacementError(f"node {name}: GPU model {self.specs[n].gpu_model} not allowed")
        want = 1 if request.is_shared else request.gpu_count
        if len(set(pod.gpus)) != want or any(g >= self.specs[n].gpu_count for g in pod.gpus):
            raise PlacementError(f"node {name}: GPU choice {pod.gpus} does not match request")
        need = request.gpu_milli if request.is_shared else MILLI_PER_GPU
        if any(self.gpu_free[n, g] < need for g in pod.gpus):
            raise PlacementError(f"node {name}: GPUs {pod.gpus} lack {need} milli free")
        for g in pod.gpus:
            self.gpu_free[n, g] -= need

    def release(self, request: Request, pod: PodPlacement) -> None:
        """Give back what `bind(request, pod)` took."""
        n = pod.node
        if request.mig_profile is not None:
            self.mig_free[n, self.mig_profiles.index(request.mig_profile)] += 1
        elif request.gpu_count:
            need = request.gpu_milli if request.is_shared else MILLI_PER_GPU
            for g in pod.gpus:
                self.gpu_free[n, g] += need
            self.demands[n][request.gpu_demand_milli] -= 1
            if not self.demands[n][request.gpu_demand_milli]:
                del self.demands[n][request.gpu_demand_milli]
        self.cpu_free[n] += request.cpu_milli
        self.mem_free[n] += request.memory_mib
        self.version[n] = next(_STAMPS)

    def touch(self) -> None:
        """New version stamps for every node: call after writing the free arrays directly."""
        self.version = _stamps(len(self))

    # ---- measures ----------------------------------------------------------------------

    @property
    def gpu_capacity_milli(self) -> int:
        return int(self.gpu_cap.sum()) * MILLI_PER_GPU

    @property
    def gpu_allocated_milli(self) -> int:
        return self.gpu_capacity_milli - int(self.gpu_free.sum())
