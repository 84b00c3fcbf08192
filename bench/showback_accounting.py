"""Benchmark: accounting 30 days of 100,000 pods (shapes from the Alibaba openb trace).

    python bench/showback_accounting.py [--pods 100000] [--days 30] [--rounds 3] [--data DIR]

Pod shapes (GPUs, shares, CPU, memory, duration) are drawn from the trace's pod list
when it is found (QD_TRACE_DIR or shared/data), else from a fixed mix of the same kinds;
each pod gets 1 to 4 utilisation steps. Prints the time of `account` over the 30-day
window grouped by team, by namespace, by queue and by namespace and team, each run
`--rounds` times interleaved: wall-clock min and max and CPU time (`process_time`, what
the machine's other load does not add), with the load average beside it.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from decimal import Decimal
from pathlib import Path

from quarterdeck.devcluster.tracedata import find_trace_dir
from quarterdeck.showback.account import account
from quarterdeck.showback.claims import Claim
from quarterdeck.showback.prices import GpuPrice, Prices
from quarterdeck.showback.usage import UsageRecord
from quarterdeck.showback.window import Window
from quarterdeck.sim.trace import load_tasks

MODELS = ["NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB", "Tesla-V100-SXM2-32GB", "NVIDIA-L4"]


def shapes(data: Path | None) -> list[tuple[int, int, int, int]]:
    """(gpu_milli, cpu_milli, memory_mib, duration_s) per trace pod."""
    if data is not None and (data / "openb_pod_list_default.csv").exists():
        tasks = load_tasks(data / "openb_pod_list_default.csv")
        return [
            (
                r.gpu_count * r.gpu_milli if r.gpu_milli >= 1000 else r.gpu_milli,
                r.cpu_milli,
                r.memory_mib,
                max(60, t.duration or 3600),
            )
            for t in tasks
            for r in [t.request]
        ]
    return [(1000, 8000, 32768, 7200), (500, 4000, 16384, 3600), (8000, 64000, 262144, 36000)]


def synthetic(pods: int, days: int, data: Path | None, seed: int = 0) -> list[UsageRecord]:
    rnd = random.Random(seed)
    pool = shapes(data)
    end = days * 86400.0
    out = []
    for i in range(pods):
        gpu, cpu, mem, dur = rnd.choice(pool)
        start = rnd.uniform(0, end)
        stop = min(start + dur, end)
        claim = Claim(gpu_milli=gpu, cpu_milli=cpu, memory_bytes=mem * 1024 * 1024)
        if i % 50 == 0:
            claim = Claim(mig_profile="1g.10gb", cpu_milli=cpu)
        steps = sorted(rnd.uniform(start, stop) for _ in range(rnd.randint(0, 3)))
        util = tuple((t, float(rnd.randint(0, 100))) for t in [start, *steps])
        out.append(
            UsageRecord(
                namespace=f"ns-{i % 200}", pod=f"pod-{i}", claim=claim, start=start,
                end=stop if stop < end else None, model=MODELS[i % len(MODELS)],
                queue=f"cq-{i % 20}", labels=(("team", f"team-{i % 40}"),), util=util,
            )
        )  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = args.data or find_trace_dir(Path.cwd())
    records = synthetic(args.pods, args.days, data)
    prices = Prices(gpus={m: GpuPrice(Decimal("2.10")) for m in MODELS[:3]})
    window = Window(0, args.days * 86400.0)
    print(f"{args.pods} pods over {args.days} days (trace shapes: {data is not None})")
    aggregates = (["label:team"], ["namespace"], ["queue"], ["namespace", "label:team"])
    wall: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    groups: dict[str, int] = {}
    for _ in range(args.rounds):  # interleaved, so a busy moment hits every grouping alike
        for agg in aggregates:
            name = ",".join(agg)
            started, cpu_started = time.perf_counter(), time.process_time()
            out = account(records, prices, window, agg, now=window.end)
            cpu.setdefault(name, []).append(time.process_time() - cpu_started)
            wall.setdefault(name, []).append(time.perf_counter() - started)
            groups[name] = len(out.allocations)
    for name in wall:
        print(
            f"account by {name:<20} wall min {min(wall[name]):6.3f} s max {max(wall[name]):6.3f} s"
            f"  cpu min {min(cpu[name]):6.3f} s  groups={groups[name]:<5}"
            f" load={os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
