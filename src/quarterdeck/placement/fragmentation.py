"""GPU fragmentation of nodes with respect to a target workload (Weng et al., ATC'23).

Definitions, per node n with per-GPU free capacity r_g and a typical task m:
- if m cannot run on n at all (CPU, GPU model or GPU capacity short), every free
  GPU share of n is a fragment: F_n(m) = sum_g r_g;
- if it can, the GPUs too empty-handed for it are fragments:
  F_n(m) = sum of r_g over GPUs with r_g < min(gpu demand of m, 1 GPU);
- a task that asks for no GPU can use no GPU capacity, so all of it counts.
The expected fragmentation of n is F_n(M) = sum_m p_m F_n(m), p_m the popularity of m.

As in the authors' simulator (hkust-adsl/kubernetes-scheduler-simulator), a typical
task is its CPU, GPU count, GPU share and GPU models: memory is not part of it and not
checked. The target workload is the most popular tasks that together make up at least
`POPULARITY` of all pods (most popular first), their weights normalised again.

Everything is computed for a batch of hypothetical node states at once (numpy), because
FGD evaluates every feasible node and GPU choice on each arrival.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from quarterdeck.placement.cluster import ClusterState
from quarterdeck.placement.model import MILLI_PER_GPU, Request

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

ClassKey = tuple[int, int, int, frozenset[str]]
POPULARITY = 0.95
"""Share of all pods the typical tasks must cover (the published simulator's 95%)."""


def class_key(r: Request) -> ClassKey:
    """Requests with equal keys are the same typical task: CPU, GPU count, GPU share
    (per GPU), GPU models; memory is not part of it."""
    return (r.cpu_milli, r.gpu_count, r.gpu_milli, r.gpu_models)


def _popular_first(item: tuple[ClassKey, float]) -> tuple[float, int, int, int, str]:
    """Decreasing count, ties to the larger task (the simulator's reversed order)."""
    (cpu, count, milli, models), weight = item
    return (-weight, -cpu, -milli, -count, "|".join(sorted(models)))


@dataclass(frozen=True)
class TargetWorkload:
    """Typical tasks of a workload and their popularity (weights sum to 1)."""

    keys: tuple[ClassKey, ...]
    weight: F64
    cpu: I64
    need_full: I64  # whole GPUs a class needs entirely free (0 for shared / CPU-only)
    need_max: I64  # milli one GPU must have free for a shared class (0 otherwise)
    threshold: I64  # GPUs with less free than this are fragments when the class fits
    index: dict[ClassKey, int] = field(repr=False)
    _allowed: dict[tuple[str, ...], NDArray[np.bool_]] = field(default_factory=dict, repr=False)

    @staticmethod
    def from_requests(requests: Iterable[Request]) -> TargetWorkload:
        """The workload whose typical tasks are `requests` weighted by how often they occur.

        MIG requests are left out: they do not use the shareable GPU capacity.
        """
        return TargetWorkload.from_weighted((r, 1.0) for r in requests)

    @staticmethod
    def from_weighted(
        pairs: Iterable[tuple[Request, float]], popularity: float = POPULARITY
    ) -> TargetWorkload:
        """The workload of typical tasks `request` with popularity `weight` (summed per
        task class); only the most popular classes covering `popularity` of the total
        are kept, then normalised. MIG requests are left out."""
        counts: dict[ClassKey, float] = {}
        for r, w in pairs:
            if r.mig_profile is None:
                counts[class_key(r)] = counts.get(class_key(r), 0.0) + float(w)
        total = sum(counts.values())
        if not counts or total <= 0:
            raise ValueError("a workload needs at least one request")
        kept: dict[ClassKey, float] = {}
        for key, count in sorted(counts.items(), key=_popular_first):
            if sum(kept.values()) >= popularity * total:
                break
            kept[key] = count
        keys = tuple(sorted(kept, key=lambda k: (k[:3], sorted(k[3]))))
        covered = sum(kept.values())
        weight = np.array([kept[k] / covered for k in keys], dtype=np.float64)
        shared = [0 < k[2] < MILLI_PER_GPU for k in keys]
        cpu_only = [k[1] == 0 for k in keys]
        return TargetWorkload(
            keys=keys,
            weight=weight,
            cpu=np.array([k[0] for k in keys], dtype=np.int64),
            need_full=np.array([0 if s else k[1] for k, s in zip(keys, shared, strict=True)]),
            need_max=np.array([k[2] if s else 0 for k, s in zip(keys, shared, strict=True)]),
            threshold=np.array(
                [
                    MILLI_PER_GPU + 1 if c else min(k[2], MILLI_PER_GPU)
                    for k, c in zip(keys, cpu_only, strict=True)
                ],
                dtype=np.int64,
            ),
            index={k: i for i, k in enumerate(keys)},
        )

    def allowed(self, models: tuple[str, ...]) -> NDArray[np.bool_]:
        """(model, class) matrix: may class run on a GPU of that model."""
        got = self._allowed.get(models)
        if got is None:
            got = np.array(
                [[k[1] == 0 or not k[3] or m in k[3] for k in self.keys] for m in models],
                dtype=np.bool_,
            ).reshape(len(models), len(self.keys))
            self._allowed[models] = got
        return got


def fragmentation(
    workload: TargetWorkload,
    allowed: NDArray[np.bool_],
    cpu: I64,
    mem: I64,
    gpu: I64,
    model: I64,
) -> F64:
    """Expected fragmentation F_n(M) in milli-GPU for C node states.

    `cpu`, `mem`, `model` have shape (C,), `gpu` (C, G) free milli per GPU (padding 0);
    `allowed` is `workload.allowed(cluster.models)`. Memory is not looked at (the
    published definition); `mem` is taken so that all measures share one signature.
    """
    total = gpu.sum(axis=1)
    full = (gpu == MILLI_PER_GPU).sum(axis=1)
    most = gpu.max(axis=1)
    fits = (
        (cpu[:, None] >= workload.cpu[None, :])
        & (full[:, None] >= workload.need_full[None, :])
        & (most[:, None] >= workload.need_max[None, :])
        & allowed[model]
    )
    thresholds, tidx = np.unique(workload.threshold, return_inverse=True)
    # below[c, t] = free capacity on GPUs of state c holding less than threshold t.
    g3 = gpu[:, :, None]
    below = (g3 * (g3 < thresholds[None, None, :])).sum(axis=1)
    frag = np.where(fits, below[:, tidx], total[:, None]).astype(np.float64)
    result: F64 = frag @ workload.weight
    return result


def capacity_fragmentation(
    workload: TargetWorkload,
    allowed: NDArray[np.bool_],
    cpu: I64,
    mem: I64,
    gpu: I64,
    model: I64,
) -> F64:
    """Like `fragmentation`, but counting how many copies of a typical task fit (ours).

    F_n(m) = free GPU - n_m x demand_m, where n_m is the number of copies of m the node
    could still take (bounded by CPU and GPU alike; typical tasks carry no memory).
    Where FGD asks "does one m
    fit?", this asks "how much of the free GPU could m actually use?": eight free GPUs
    under CPU for two more pods are mostly fragment, which FGD's measure cannot see.
    """
    total = gpu.sum(axis=1)
    big = np.iinfo(np.int64).max // 4
    by_cpu = np.where(workload.cpu > 0, cpu[:, None] // np.maximum(workload.cpu, 1), big)
    shared = workload.need_max > 0
    per_gpu = np.where(shared, workload.need_max, MILLI_PER_GPU)
    copies_shared = (gpu[:, :, None] // per_gpu[None, None, :]).sum(axis=1)
    full = (gpu == MILLI_PER_GPU).sum(axis=1)
    copies_whole = full[:, None] // np.maximum(workload.need_full, 1)
    by_gpu = np.where(shared, copies_shared, np.where(workload.need_full > 0, copies_whole, big))
    copies = np.where(allowed[model], np.minimum(by_cpu, by_gpu), 0)
    demand = np.where(shared, workload.need_max, workload.need_full * MILLI_PER_GPU)
    used = np.minimum(copies * demand, total[:, None])
    frag = (total[:, None] - np.where(demand > 0, used, 0)).astype(np.float64)
    result: F64 = frag @ workload.weight
    return result


def cluster_fragmentation(workload: TargetWorkload, cluster: ClusterState) -> F64:
    """F_n(M) of every node of `cluster` as it is now, in milli-GPU."""
    return fragmentation(
        workload,
        workload.allowed(cluster.models),
        cluster.cpu_free,
        cluster.mem_free,
        cluster.gpu_free,
        cluster.model_idx,
    )
