"""Benchmark: `/allocation/compute` latency for a 30-day window, served over HTTP.

    python bench/showback_api.py [--pods 10000,100000] [--requests 200] [--pass-every 0]

The operator's health server with showback's route (`cache.ResponseCache` over a
`ShowbackState`, as `qd operator` serves it) answers from synthetic usage records
(bench/showback_accounting.py's trace shapes); the client asks for 30 days by team,
accumulated, on loopback. The first request after a pass accounts (a miss); later ones
until the next pass are answered from the cache. `--pass-every N` bumps the state's
version (a showback pass) every N requests. Prints the miss, then p50/p99/max of all
requests, with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from decimal import Decimal
from functools import partial
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from quarterdeck.devcluster.tracedata import find_trace_dir
from quarterdeck.kube.health import ROUTES, HealthServer
from quarterdeck.showback.cache import ResponseCache
from quarterdeck.showback.controller import ShowbackState
from quarterdeck.showback.prices import GpuPrice, Prices
from showback_accounting import MODELS, synthetic


def _answer(cache: ResponseCache, state: ShowbackState, query: str) -> tuple[int, bytes, str]:
    return cache.answer(query, state)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", default="10000,100000")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--pass-every", type=int, default=0, help="0: no pass during the run")
    args = parser.parse_args()
    prices = Prices(gpus={m: GpuPrice(Decimal("2.10")) for m in MODELS[:3]})
    for size in (int(p) for p in args.pods.split(",")):
        records = synthetic(size, 30, find_trace_dir(Path.cwd()))
        state = ShowbackState(prices=prices, now=30 * 86400.0, version=1)
        state.records = {str(i): r for i, r in enumerate(records)}
        cache = ResponseCache()
        ROUTES["/allocation/compute"] = partial(_answer, cache, state)
        server = HealthServer("127.0.0.1", 0, lambda: (True, "ok"))
        server.start()
        url = f"http://127.0.0.1:{server.port}/allocation/compute"
        params = {"window": "30d", "aggregate": "label:team", "accumulate": "true"}
        took, misses = [], []
        with httpx.Client(timeout=120) as client:
            for i in range(args.requests):
                if args.pass_every and i and i % args.pass_every == 0:
                    with state.lock:
                        state.version += 1
                before = cache.misses
                started = time.perf_counter()
                assert client.get(url, params=params).status_code == 200
                took.append(time.perf_counter() - started)
                if cache.misses > before:
                    misses.append(took[-1])
        server.stop()
        took.sort()
        p99 = took[min(len(took) - 1, int(len(took) * 0.99))]
        print(
            f"{size:>7} pods, 30d by team: miss {max(misses) * 1000:7.1f} ms "
            f"({len(misses)} misses)  "
            f"p50 {statistics.median(took) * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  "
            f"max {took[-1] * 1000:7.1f} ms  ({args.requests} requests, load "
            f"{os.getloadavg()[0]:.1f})"
        )


if __name__ == "__main__":
    main()
