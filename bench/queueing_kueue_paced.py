"""Kueue's baseline through `cycle()` paced like the live operator: evictions per pacing.

`bench/queueing_kueue_baseline.py` runs a cycle at every arrival and finish. The live
operator instead runs a pass every few seconds, and what it decides takes effect a
moment later: a runner (or a job) sees the admission after a delay and finishes the
workload its runtime after that; a victim stops after a delay and holds its quota until
then (the snapshot marks it `evicting`). This replays the same scenario (5 cohorts x 6
ClusterQueues, the three workload sets) with a pass every `--pass` seconds and a delay
of `--delay` seconds, and counts evictions, the last admission and the useful usage.
Deterministic: the same code and arguments give the same numbers on any machine.

    python bench/queueing_kueue_paced.py [--scale 0.1] [--pass 0.3 0.5 1 2.6] [--delay 0.2 1]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from quarterdeck.queueing import AdmittedWorkload, Flavor, Snapshot, Workload, cycle
from queueing_kueue_baseline import NOMINAL_CPU, build


def run(scale: float, every: float, delay: float) -> dict[str, float]:
    """One paced replay: passes at 0, every, 2 x every, ... until all work finished."""
    queues, jobs = build(scale)
    by_key = {j.workload.key: j for j in jobs}
    flavors = {"rf": Flavor("rf")}
    pending: dict[str, Workload] = {}
    admitted: dict[str, AdmittedWorkload] = {}
    finish_at: dict[str, float] = {}  # when the runner marks it Finished
    stop_at: dict[str, float] = {}  # when an evicted workload has stopped
    evictions, useful, last_admission = 0, 0.0, 0.0
    t, arrived, passes = 0.0, 0, 0
    while arrived < len(jobs) or pending or admitted:
        while arrived < len(jobs) and jobs[arrived].created_ms / 1000 <= t:
            pending[jobs[arrived].workload.key] = jobs[arrived].workload
            arrived += 1
        for key in [k for k, at in finish_at.items() if at <= t]:
            del finish_at[key], admitted[key]
            useful += by_key[key].cpu_milli * by_key[key].runtime_ms / 1000
        for key in [k for k, at in stop_at.items() if at <= t]:
            del stop_at[key], admitted[key]
            pending[key] = by_key[key].workload
        snap = Snapshot(queues, flavors, tuple(admitted.values()), tuple(pending.values()), now=t)
        decisions = cycle(snap)
        passes += 1
        for p in decisions.preempted:
            key = p.victim.workload.key
            evictions += 1
            finish_at.pop(key, None)
            stop_at[key] = t + delay
            admitted[key] = replace(admitted[key], evicting=True)
        for a in decisions.admitted:
            key = a.workload.key
            del pending[key]
            admitted[key] = a.admitted(t)
            finish_at[key] = t + delay + by_key[key].runtime_ms / 1000
            last_admission = t
        t += every
    quota = NOMINAL_CPU * 1000 * len(queues)
    return {
        "evictions": evictions,
        "wall_s": last_admission,
        "useful_pct": 100 * useful / (t * quota),
        "passes": passes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="fraction of workloads per set")
    parser.add_argument("--pass", dest="every", type=float, nargs="+", default=[0.3, 0.5, 1, 2.6])
    parser.add_argument("--delay", type=float, nargs="+", default=[0.2, 1.0])
    args = parser.parse_args()
    print(f"scale {args.scale}: pass (s), delay (s), evictions, last admission (s), useful %")
    for every in args.every:
        for delay in args.delay:
            r = run(args.scale, every, delay)
            print(f"{every:>5} {delay:>5} {r['evictions']:>6.0f} {r['wall_s']:>7.1f} "
                  f"{r['useful_pct']:>6.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
