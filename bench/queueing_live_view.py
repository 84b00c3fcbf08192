"""Cost of the live view's snapshot per pass, and of the cycle over it.

Fills a `LiveView`'s caches by hand (no API server: this times the pure decode and
conversion, what the pass thread spends before the cycle) with Kueue's baseline
scenario as `bench/peers` runs it (30 ClusterQueues, 15,000 Workloads at scale 1, all
pending), then takes a snapshot per pass while `--changes` Workloads change between
passes, as the watch brings back the last pass's status writes. Each pass also runs
the cycle (as the operator: the cluster's default placer) over the snapshot; its
decisions are not applied, so every pass decides the same from nothing running.

    python bench/queueing_live_view.py --scale 1 --changes 10 --passes 6
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "peers"))

import queue_scenario as qs

from quarterdeck.queueing.cycle import cycle
from quarterdeck.queueing.gpus import GpuPlacer
from quarterdeck.queueing.live import LiveView


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of workloads per set")
    ap.add_argument("--changes", type=int, default=10, help="Workloads changed between passes")
    ap.add_argument("--passes", type=int, default=6)
    args = ap.parse_args()

    view = LiveView(None)  # type: ignore[arg-type]  # caches fed by hand
    rv = 0

    def put(doc: dict[str, object]) -> None:
        nonlocal rv
        rv += 1
        meta = doc["metadata"]
        assert isinstance(meta, dict)
        meta |= {"resourceVersion": str(rv), "creationTimestamp": "2026-11-21T05:00:00Z"}
        view.queueing[str(doc["kind"])].assume(doc)

    for i in range(20):  # the peers' dev cluster: 20 x cpu-64, twice the quota
        alloc = {"cpu": "64", "memory": "256Gi", "pods": "110"}
        node = {"metadata": {"name": f"node-{i:02d}", "resourceVersion": "1",
                             "labels": {"kubernetes.io/hostname": f"node-{i:02d}"}},
                "status": {"allocatable": alloc}}  # fmt: skip
        view.nodes.assume(node)
    for doc in qs.queue_objects(qs.QD):
        if doc["kind"] in view.queueing:  # Namespaces are not queueing objects
            put(doc)
    plans = qs.plan(args.scale)
    for p in plans:
        put(qs.workload_object(qs.QD, p))

    times, cycles = [], []
    placer = GpuPlacer()
    for _ in range(args.passes):
        start = time.perf_counter()
        snap, _, _ = view.snapshot(now=2e9)
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        decisions = cycle(snap, placer)
        cycles.append(time.perf_counter() - start)
        for p in plans[: args.changes]:
            put(qs.workload_object(qs.QD, p))
    print(
        json.dumps(
            {
                "workloads": len(plans),
                "changes_per_pass": args.changes,
                "pending": len(snap.pending),
                "first_pass_ms": round(times[0] * 1000),
                "steady_pass_ms_median": round(statistics.median(times[1:]) * 1000),
                "admitted_per_cycle": len(decisions.admitted),
                "cycle_ms_median": round(statistics.median(cycles) * 1000),
            }
        )
    )


if __name__ == "__main__":
    main()
