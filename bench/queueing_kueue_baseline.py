"""Kueue's scheduler performance baseline, replayed through `quarterdeck.queueing.cycle`.

Scenario (Kueue test/performance/scheduler/configs/baseline/generator.yaml): 5 cohorts
x 6 ClusterQueues, each with nominal 20 CPU, borrowingLimit 100, reclaimWithinCohort
Any, withinClusterQueue LowerPriority. Per queue three workload sets are created
concurrently, one workload per interval after an initial interval: 350 small (1 CPU,
200 ms, priority 50, every 100 ms), 100 medium (5 CPU, 500 ms, priority 100, every
500 ms), 50 large (20 CPU, 1000 ms, priority 200, every 1200 ms); 15,000 workloads.
Like Kueue's runner, Workloads are created directly and "run" for their runtime once
admitted (no pods, no nodes).

Time is simulated but honest about the scheduler: each cycle's measured compute time
is added to the clock before its decisions take effect, so a slow cycle delays every
admission it makes. API-server latency (which Kueue's envtest run pays) is zero here.

    python bench/queueing_kueue_baseline.py [--scale 0.1] [--clock cpu|wall]
"""

from __future__ import annotations

import argparse
import heapq
import platform
import time
from collections import defaultdict
from dataclasses import dataclass

from quarterdeck.queueing import (
    AdmittedWorkload,
    ClusterQueue,
    Flavor,
    FlavorQuota,
    PodSet,
    Preemption,
    Quota,
    ResourceGroup,
    Snapshot,
    Workload,
    cycle,
)

COHORTS, QUEUES_PER_COHORT = 5, 6
NOMINAL_CPU, BORROWING_CPU = 20, 100
# class, count, creation interval ms, runtime ms, priority, CPU
SETS = (
    ("small", 350, 100, 200, 50, 1),
    ("medium", 100, 500, 500, 100, 5),
    ("large", 50, 1200, 1000, 200, 20),
)
KUEUE = {"wall_ms": 351_116, "usage_pct": 55.9}
THRESHOLDS = {
    "wall_ms": 425_000,
    "usage_pct": 50.0,
    "large": 23_000,
    "medium": 90_000,
    "small": 260_000,
}


@dataclass(slots=True)
class Job:
    workload: Workload
    cls: str
    runtime_ms: float
    cpu_milli: int
    created_ms: float
    admitted_ms: float | None = None
    incarnation: int = 0
    evictions: int = 0


def build(scale: float) -> tuple[dict[str, ClusterQueue], list[Job]]:
    queues: dict[str, ClusterQueue] = {}
    jobs: list[Job] = []
    for c in range(COHORTS):
        for q in range(QUEUES_PER_COHORT):
            name = f"cq-{q}-cohort-{c}"
            quota = Quota(NOMINAL_CPU * 1000, borrowing_limit=BORROWING_CPU * 1000)
            queues[name] = ClusterQueue(
                name=name,
                resource_groups=(ResourceGroup(("cpu",), (FlavorQuota("rf", {"cpu": quota}),)),),
                cohort=f"cohort-{c}",
                preemption=Preemption(
                    within_cluster_queue="LowerPriority", reclaim_within_cohort="Any"
                ),
            )
            for cls, count, every, runtime, priority, cpu in SETS:
                for k in range(max(1, round(count * scale))):
                    created = (k + 1) * every
                    wl = Workload(
                        key=f"{name}/{cls}-{k}",
                        cluster_queue=name,
                        pod_sets=(PodSet("main", 1, {"cpu": cpu * 1000}),),
                        priority=priority,
                        created=created / 1000,
                    )
                    jobs.append(Job(wl, cls, runtime, cpu * 1000, created))
    jobs.sort(key=lambda j: j.created_ms)
    return queues, jobs


def run(scale: float, cpu_clock: bool = True, pass_ms: float = 0.0) -> dict[str, float]:
    """Replay; a cycle costs its CPU time (`cpu_clock`) or its wall time on this machine,
    plus `pass_ms` (what a live pass adds: its writes' round trips)."""
    clock_fn = time.thread_time if cpu_clock else time.perf_counter
    queues, jobs = build(scale)
    by_key = {j.workload.key: j for j in jobs}
    flavors = {"rf": Flavor("rf")}
    pending: dict[str, Workload] = {}
    admitted: dict[str, AdmittedWorkload] = {}
    finishing: list[tuple[float, str, int]] = []
    clock, next_arrival, dirty = 0.0, 0, False
    usage_integral = 0.0  # CPU-milli x ms
    running_cpu, last_change = 0, 0.0
    cycles, compute_ms, worst_ms = 0, 0.0, 0.0
    decided_pending = 0

    def account(now: float) -> None:
        nonlocal usage_integral, last_change
        usage_integral += running_cpu * (now - last_change)
        last_change = now

    while next_arrival < len(jobs) or pending or admitted:
        if not dirty:
            candidates = []
            if next_arrival < len(jobs):
                candidates.append(jobs[next_arrival].created_ms)
            if finishing:
                candidates.append(finishing[0][0])
            if not candidates:
                break  # pending work that can never be admitted
            clock = max(clock, min(candidates))
        while next_arrival < len(jobs) and jobs[next_arrival].created_ms <= clock:
            job = jobs[next_arrival]
            pending[job.workload.key] = job.workload
            next_arrival += 1
            dirty = True
        while finishing and finishing[0][0] <= clock:
            at, key, incarnation = heapq.heappop(finishing)
            job = by_key[key]
            if incarnation != job.incarnation or key not in admitted:
                continue  # preempted before it finished
            account(at)
            running_cpu -= job.cpu_milli
            del admitted[key]
            dirty = True
        if not dirty:
            continue
        snap = Snapshot(
            queues, flavors, tuple(admitted.values()), tuple(pending.values()), now=clock / 1000
        )
        started = clock_fn()
        decisions = cycle(snap)
        spent = (clock_fn() - started) * 1000
        cycles, compute_ms, worst_ms = cycles + 1, compute_ms + spent, max(worst_ms, spent)
        decided_pending += len(snap.pending)
        clock += spent + pass_ms
        account(clock)
        for p in decisions.preempted:
            key = p.victim.workload.key
            job = by_key[key]
            del admitted[key]
            running_cpu -= job.cpu_milli
            job.incarnation += 1
            job.evictions += 1
            pending[key] = job.workload
        for a in decisions.admitted:
            key = a.workload.key
            job = by_key[key]
            del pending[key]
            admitted[key] = a.admitted(clock / 1000)
            running_cpu += job.cpu_milli
            job.admitted_ms = clock
            heapq.heappush(finishing, (clock + job.runtime_ms, key, job.incarnation))
        dirty = bool(decisions.preempted)

    wall = clock
    total_quota = NOMINAL_CPU * 1000 * len(queues)
    work = sum(j.cpu_milli * j.runtime_ms for j in jobs)
    out: dict[str, float] = {
        "workloads": len(jobs),
        "wall_ms": wall,
        "floor_ms": work / total_quota,
        "usage_pct": 100 * usage_integral / (wall * total_quota),
        "cycles": cycles,
        "cycle_ms_mean": compute_ms / max(cycles, 1),
        "cycle_ms_max": worst_ms,
        "cycle_ms_total": compute_ms,
        "pending_per_cycle": decided_pending / max(cycles, 1),
        "evictions": sum(j.evictions for j in jobs),
        "never_admitted": sum(1 for j in jobs if j.admitted_ms is None),
    }
    waits: dict[str, list[float]] = defaultdict(list)
    for j in jobs:
        if j.admitted_ms is not None:
            waits[j.cls].append(j.admitted_ms - j.created_ms)
    for cls, values in waits.items():
        out[f"admit_ms_{cls}"] = sum(values) / len(values)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of workloads per set")
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="charge each cycle its CPU time (default; immune to other load) or wall time",
    )
    parser.add_argument(
        "--pass-ms",
        type=float,
        default=0.0,
        help="simulated ms added to every cycle, as a live pass waits on its writes",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    r = run(args.scale, cpu_clock=args.clock == "cpu", pass_ms=args.pass_ms)
    real = time.perf_counter() - started
    print(f"python {platform.python_version()}, {platform.machine()}, scale {args.scale}")
    print(f"cycle cost charged as     {args.clock} time, plus {args.pass_ms:.0f} ms per cycle")
    print(f"workloads                 {r['workloads']:>10.0f}")
    kueue = f"Kueue mean {KUEUE['wall_ms']} ms, limit {THRESHOLDS['wall_ms']}"
    print(f"wall time (simulated)     {r['wall_ms']:>10.0f} ms   {kueue}")
    print(f"floor (work / quota)      {r['floor_ms']:>10.0f} ms")
    kueue = f"Kueue {KUEUE['usage_pct']} %, limit >= {THRESHOLDS['usage_pct']}"
    print(f"quota usage               {r['usage_pct']:>10.1f} %    {kueue}")
    for cls in ("large", "medium", "small"):
        key = f"admit_ms_{cls}"
        value = r.get(key, float("nan"))
        print(f"avg time to admit {cls:<7} {value:>10.0f} ms   limit {THRESHOLDS[cls]}")
    print(f"cycles                    {r['cycles']:>10.0f}")
    print(f"cycle compute mean / max  {r['cycle_ms_mean']:>10.2f} / {r['cycle_ms_max']:.1f} ms")
    print(f"cycle compute total       {r['cycle_ms_total']:>10.0f} ms")
    print(f"pending per cycle (mean)  {r['pending_per_cycle']:>10.0f}")
    print(f"evictions                 {r['evictions']:>10.0f}")
    print(f"never admitted            {r['never_admitted']:>10.0f}")
    print(f"real time of this run     {real:>10.1f} s")


if __name__ == "__main__":
    main()
