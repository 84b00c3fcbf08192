"""Benchmark: our scorers against the published simulator's figures on four traces.

    python bench/fill_reproduction.py --data DIR [--seeds 3] [--workers 1]
        [--traces default,gpushare100,gpuspec33,multigpu50] [--policies clustering,packing,fgd]

For each trace and policy: mean GPU allocation at 130% arrivals over seeds 0..N-1 (the
fill experiment, arrivals as the authors' simulator makes them), the published mean
(seeds 42-51 of their Go simulator: other random streams, so compare means, not runs)
and the difference. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from quarterdeck.sim.grid import load_inputs, run_grid
from quarterdeck.sim.report import PUBLISHED, summarise


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True, help="folder with the openb CSVs")
    ap.add_argument("--nodes", default="openb_node_list_gpu_node.csv")
    ap.add_argument("--traces", default="default,gpushare100,gpuspec33,multigpu50")
    ap.add_argument("--policies", default="clustering,packing,fgd")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    policies = args.policies.split(",")
    print(f"seeds 0-{args.seeds - 1}, 130% arrivals, {args.nodes}")
    print("| trace | policy | ours % | sd | published % | diff |")
    print("|---|---|---|---|---|---|")
    start = time.perf_counter()
    for trace in args.traces.split(","):
        name = f"openb_pod_list_{trace}"
        inputs = load_inputs(args.data / args.nodes, args.data / f"{name}.csv")
        runs = run_grid(inputs, policies, range(args.seeds), 1.3, args.workers)
        for s in summarise(runs):
            paper = PUBLISHED.get(name, {}).get(s.policy)
            tail = f"{paper:.2f} | {s.alloc_mean - paper:+.2f}" if paper else "- | -"
            print(f"| {trace} | {s.policy} | {s.alloc_mean:.2f} | {s.alloc_std:.2f} | {tail} |")
    print(f"wall {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
