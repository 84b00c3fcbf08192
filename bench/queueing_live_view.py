"""Cost of the live view's snapshot per pass: the first pass and steady passes.

Fills a `LiveView`'s caches by hand (no API server: this times the pure decode and
conversion, what the pass thread spends before the cycle) with the two-teams example
queues and N pending Workloads, then takes a snapshot per pass while `--changes`
Workloads change between passes, as a watch would bring them.

    python bench/queueing_live_view.py --workloads 15000 --changes 10 --passes 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from quarterdeck.queueing.live import LiveView

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "queueing" / "two-teams.yaml"


def workload(name: str, rv: int, team: str, gpus: int) -> dict[str, Any]:
    requests = {"cpu": "1", "memory": "4Gi", "nvidia.com/gpu": str(gpus)}
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta1",
        "kind": "Workload",
        "metadata": {
            "name": name,
            "namespace": team,
            "resourceVersion": str(rv),
            "creationTimestamp": "2026-11-21T05:00:00Z",
        },
        "spec": {
            "queueName": "training",
            "podSets": [
                {
                    "name": "main",
                    "count": 1,
                    "template": {
                        "spec": {"containers": [{"name": "c", "resources": {"requests": requests}}]}
                    },
                }
            ],
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", type=int, default=15000)
    ap.add_argument("--changes", type=int, default=10, help="Workloads changed between passes")
    ap.add_argument("--passes", type=int, default=5)
    args = ap.parse_args()

    view = LiveView(None)  # type: ignore[arg-type]  # caches fed by hand
    with open(EXAMPLE) as f:
        for rv, doc in enumerate((d for d in yaml.safe_load_all(f) if d), start=1):
            doc["metadata"]["resourceVersion"] = str(rv)
            view.queueing[doc["kind"]].assume(doc)
    teams = ("team-a", "team-b")
    for i in range(args.workloads):
        view.workloads.assume(workload(f"w{i}", 1000 + i, teams[i % 2], 1))

    rv = 1000 + args.workloads
    times = []
    for _ in range(args.passes):
        start = time.perf_counter()
        snap, _, _ = view.snapshot(now=2e9)
        times.append(time.perf_counter() - start)
        for j in range(args.changes):  # e.g. status writes the last pass made
            rv += 1
            view.workloads.assume(workload(f"w{j}", rv, teams[j % 2], 2))
    out = {
        "workloads": args.workloads,
        "changes_per_pass": args.changes,
        "pending": len(snap.pending),
        "first_pass_ms": round(times[0] * 1000),
        "steady_pass_ms_median": round(statistics.median(times[1:]) * 1000)
        if len(times) > 1
        else None,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
