"""Benchmark: `/allocation/compute` latency for a 30-day window, served over HTTP.

    python bench/showback_api.py [--pods 10000,100000] [--requests 40]

The operator's health server with showback's route answers from synthetic usage
records (bench/showback_accounting.py's trace shapes); the client asks for 30 days by
team, accumulated, on loopback. Prints p50/p99/max per dataset size with the load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from quarterdeck.devcluster.tracedata import find_trace_dir
from quarterdeck.kube.health import ROUTES, HealthServer
from quarterdeck.showback.opencost import compute
from quarterdeck.showback.prices import GpuPrice, Prices
from showback_accounting import MODELS, synthetic


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", default="10000,100000")
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    prices = Prices(gpus={m: GpuPrice(Decimal("2.10")) for m in MODELS[:3]})
    now = 30 * 86400.0
    for size in (int(p) for p in args.pods.split(",")):
        records = synthetic(size, 30, find_trace_dir(Path.cwd()))

        def route(query: str, rs: list = records) -> tuple[int, bytes, str]:  # type: ignore[type-arg]
            import json

            code, body = compute(query, rs, prices, now)
            return code, json.dumps(body).encode(), "application/json"

        ROUTES["/allocation/compute"] = route
        server = HealthServer("127.0.0.1", 0, lambda: (True, "ok"))
        server.start()
        url = f"http://127.0.0.1:{server.port}/allocation/compute"
        params = {"window": "30d", "aggregate": "label:team", "accumulate": "true"}
        took = []
        with httpx.Client(timeout=60) as client:
            for _ in range(args.requests):
                started = time.perf_counter()
                assert client.get(url, params=params).status_code == 200
                took.append(time.perf_counter() - started)
        server.stop()
        took.sort()
        p99 = took[min(len(took) - 1, int(len(took) * 0.99))]
        print(
            f"{size:>7} pods, 30d by team: p50 {statistics.median(took) * 1000:7.1f} ms  "
            f"p99 {p99 * 1000:7.1f} ms  max {took[-1] * 1000:7.1f} ms  "
            f"({args.requests} requests, load {os.getloadavg()[0]:.1f})"
        )


if __name__ == "__main__":
    main()
