"""Benchmark: the fill-experiment grid (policies x seeds) on one trace, plus the cost of
one FGD placement at full cluster size.

    python bench/fill_grid.py --data DIR [--trace openb_pod_list_default.csv]
        [--policies random,dotprod,clustering,packing,bestfit,fgd] [--seeds 10] [--workers 2]

Prints the table (mean GPU allocation ratio at 130% arrivals), the grid's wall time and
the per-placement cost of FGD, memoised (as used) and computed from scratch.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from quarterdeck.placement import (
    ClusterState,
    FragmentationGradient,
    Gang,
    commit,
    place,
)
from quarterdeck.sim.fill import sample_arrivals
from quarterdeck.sim.grid import Inputs, load_inputs, run_grid
from quarterdeck.sim.report import PUBLISHED_DEFAULT, summarise


def fgd_cost(inputs: Inputs, scratch_arrivals: int = 500) -> tuple[float, float]:
    """Mean seconds per FGD placement on seed 0: memoised over the whole run, and with a
    fresh scorer (no memo: every feasible node scored) over the first arrivals."""
    out = []
    for fresh in (False, True):
        cluster = ClusterState(inputs.nodes)
        scorer = FragmentationGradient(inputs.workload)
        picks = sample_arrivals(inputs.tasks, cluster.gpu_capacity_milli, 1.3, 0)
        picks = picks[:scratch_arrivals] if fresh else picks
        rng = np.random.default_rng(0)
        start = time.perf_counter()
        for i in picks:
            if fresh:
                scorer = FragmentationGradient(inputs.workload)
            podset = Gang(inputs.tasks[i].request)
            got = place(cluster, podset, scorer, rng)
            if got is not None:
                commit(cluster, podset, got)
        out.append((time.perf_counter() - start) / len(picks))
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True, help="folder with the openb CSVs")
    ap.add_argument("--trace", default="openb_pod_list_default.csv")
    ap.add_argument("--nodes", default="openb_node_list_gpu_node.csv")
    ap.add_argument("--policies", default="random,dotprod,clustering,packing,bestfit,fgd")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-cost", action="store_true", help="skip the per-placement timing")
    ap.add_argument("--published", action="store_true", help="print the paper's figures")
    args = ap.parse_args()

    inputs = load_inputs(args.data / args.nodes, args.data / args.trace)
    policies = args.policies.split(",")
    print(f"# {args.trace} on {args.nodes}: {len(inputs.nodes)} nodes, "
          f"{sum(n.gpu_count for n in inputs.nodes)} GPUs, {len(inputs.tasks)} tasks, "
          f"{len(inputs.workload.keys)} typical tasks")  # fmt: skip
    print(f"# python {platform.python_version()}, {os.cpu_count()} cpus, workers={args.workers}")
    start = time.perf_counter()
    timed = run_grid(inputs, policies, range(args.seeds), 1.3, args.workers)
    wall = time.perf_counter() - start
    published = args.published
    print("policy        alloc%    sd   frag%  failed  unsched  s/run  published   diff")
    for s in summarise(timed):
        paper = PUBLISHED_DEFAULT.get(s.policy) if published else None
        tail = f"{paper:9.2f} {s.alloc_mean - paper:+6.2f}" if paper else ""
        row = f"{s.policy:12s} {s.alloc_mean:7.2f} {s.alloc_std:5.2f} {s.frag_mean:6.2f} "
        row += f"{s.failed_mean:7.0f} {s.unschedulable_mean:8.0f} {s.seconds_mean:6.1f}  {tail}"
        print(row)
    arrivals = sum(t.run.arrived_milli.size for t in timed)
    print(f"grid: {len(timed)} runs, {arrivals} arrivals, wall {wall:.1f} s")
    if not args.no_cost:
        memo, fresh = fgd_cost(inputs)
        print(f"fgd per placement at {len(inputs.nodes)} nodes: memoised {memo * 1e3:.2f} ms, "
              f"from scratch {fresh * 1e3:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
