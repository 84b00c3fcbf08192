"""Benchmark: the fill experiment on every trace variant of the openb folder, for the
policies named, against the published FGD of each variant.

    python bench/fill_variants.py --data DIR --out runs.csv [--policies fgd-bf,fgd-cap]
        [--seeds 3] [--workers 2]          # run (resumes: rows already in --out are kept)
    python bench/fill_variants.py --data DIR --out runs.csv --table   # summarise only
        [--chart margins.png]   # and draw each policy's margin over the published FGD

Each finished (trace, policy, seed) is appended to `--out` at once, so a long grid on a
shared machine can be stopped and resumed; it runs seed by seed over all variants.
The table gives the mean allocation at 130% arrivals per variant and policy, the
published FGD where the authors published one, and the margin of each policy over
it; `uptime` is printed with every run.
"""

from __future__ import annotations

import argparse
import csv
import functools
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from quarterdeck.sim.fill import run_fill
from quarterdeck.sim.grid import Inputs, TimedRun, load_inputs
from quarterdeck.sim.report import PUBLISHED_FGD

_FIELDS = ("trace", "policy", "seed", "alloc_pct", "seconds")


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _done(out: Path) -> set[tuple[str, str, int]]:
    if not out.exists():
        return set()
    with out.open() as f:
        return {(r["trace"], r["policy"], int(r["seed"])) for r in csv.DictReader(f)}


@functools.cache
def _inputs(path: Path) -> Inputs:
    return load_inputs(path.parent / "openb_node_list_gpu_node.csv", path)


def _one(job: tuple[Path, str, int]) -> tuple[str, TimedRun]:
    path, policy, seed = job
    inputs = _inputs(path)
    start = time.perf_counter()
    got = run_fill(inputs.nodes, inputs.tasks, policy, seed, 1.3, inputs.workload)
    return path.stem, TimedRun(got, time.perf_counter() - start)


def run(data: Path, out: Path, policies: list[str], seeds: int, workers: int) -> None:
    """Runs in layers (a seed of a policy over every variant, then the next), the
    variants with a published FGD first, so a grid cut short still compares."""
    done = _done(out)
    paths = sorted(data.glob("openb_pod_list_*.csv"))
    paths.sort(key=lambda p: p.stem not in PUBLISHED_FGD)
    jobs = [
        (path, policy, seed)
        for seed in range(seeds)
        for policy in policies
        for path in paths
        if (path.stem, policy, seed) not in done
    ]
    fresh = not out.exists()
    with out.open("a", newline="") as f:
        writer = csv.DictWriter(f, _FIELDS)
        if fresh:
            writer.writeheader()
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(workers) as pool:
            for trace, timed in pool.imap(_one, jobs):
                writer.writerow({
                    "trace": trace, "policy": timed.run.policy, "seed": timed.run.seed,
                    "alloc_pct": f"{100 * timed.run.allocation_ratio:.4f}",
                    "seconds": f"{timed.seconds:.2f}",
                })  # fmt: skip
                f.flush()
                alloc = 100 * timed.run.allocation_ratio
                print(f"{trace} {timed.run.policy} {timed.run.seed}: {alloc:.2f} ({_uptime()})")
                sys.stdout.flush()


def _runs(out: Path) -> tuple[dict[tuple[str, str], list[float]], dict[str, list[float]]]:
    """Allocation % per (trace, policy), and seconds per run per policy."""
    runs: dict[tuple[str, str], list[float]] = defaultdict(list)
    seconds: dict[str, list[float]] = defaultdict(list)
    with out.open() as f:
        for r in csv.DictReader(f):
            runs[(r["trace"], r["policy"])].append(float(r["alloc_pct"]))
            seconds[r["policy"]].append(float(r["seconds"]))
    return runs, seconds


def chart(out: Path, path: Path) -> None:
    """Bars: each policy's mean minus the published FGD, per published variant, with
    the issue's +0.5 goal as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs, _ = _runs(out)
    policies = list(dict.fromkeys(p for _, p in runs))
    traces = [t for t in sorted({t for t, _ in runs}) if t in PUBLISHED_FGD]
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=120)
    width = 0.8 / max(len(policies), 1)
    for i, policy in enumerate(policies):
        margins = [
            sum(runs[(t, policy)]) / len(runs[(t, policy)]) - PUBLISHED_FGD[t]
            if runs.get((t, policy))
            else float("nan")  # not run: no bar
            for t in traces
        ]
        xs = [x + (i - (len(policies) - 1) / 2) * width for x in range(len(traces))]
        ax.bar(xs, margins, width, label=policy)
    ax.axhline(0.5, color="k", ls=":", lw=0.8, label="goal: +0.5")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xticks(range(len(traces)))
    labels = [t.removeprefix("openb_pod_list_") for t in traces]
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("ours - published FGD (points)")
    ax.set_title("GPU allocation at 130% arrivals, mean over seeds", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def table(out: Path) -> None:
    runs, seconds = _runs(out)
    policies = list(dict.fromkeys(p for _, p in runs))
    traces = sorted({t for t, _ in runs})
    head = " | ".join(f"{p} | {p} - FGD" for p in policies)
    print(f"| variant | published FGD | {head} |")
    print("|---|---|" + "---|" * (2 * len(policies)))
    wins = dict.fromkeys(policies, 0)
    compared = 0
    for trace in traces:
        paper = PUBLISHED_FGD.get(trace)
        compared += paper is not None
        cells = []
        for p in policies:
            got = runs.get((trace, p))
            if not got:
                cells += ["-", "-"]
                continue
            mean = sum(got) / len(got)
            margin = "" if paper is None else f"{mean - paper:+.2f}"
            if paper is not None and mean - paper >= 0.5:
                wins[p] += 1
            sd = statistics.stdev(got) if len(got) > 1 else 0.0
            cells += [f"{mean:.2f} ± {sd:.2f} (n={len(got)})", margin]
        shown = "-" if paper is None else f"{paper:.2f}"
        print(f"| {trace.removeprefix('openb_pod_list_')} | {shown} | {' | '.join(cells)} |")
    for p in policies:
        print(f"{p}: ≥ +0.5 over published FGD on {wins[p]} of {compared} published variants; "
              f"{statistics.mean(seconds[p]):.1f} s per run")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True, help="folder with the openb CSVs")
    ap.add_argument("--out", type=Path, required=True, help="CSV of runs (appended)")
    ap.add_argument("--policies", default="fgd-bf,fgd-cap")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--table", action="store_true", help="only print the table")
    ap.add_argument("--chart", type=Path, help="also draw the margins into this PNG")
    args = ap.parse_args()
    if not args.table:
        print(f"start: {_uptime()}", flush=True)
        run(args.data, args.out, args.policies.split(","), args.seeds, args.workers)
        print(f"end: {_uptime()}", flush=True)
    table(args.out)
    if args.chart:
        chart(args.out, args.chart)


if __name__ == "__main__":
    main()
