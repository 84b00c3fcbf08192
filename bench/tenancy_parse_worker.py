"""The cost of parsing manifests in a worker process (``delivery.parse_worker``).

Parses one Application's file (four objects, as in ``delivery_apps.py``) N times in
this process and through a ParsePool, printing wall time and this process's CPU
per parse, and the worker's start-up, with the load average.

    python bench/tenancy_parse_worker.py --parses 200
"""

from __future__ import annotations

import argparse
import os
import time

from delivery_apps import APP
from quarterdeck.delivery import manifests
from quarterdeck.delivery.parse_worker import ParsePool


def timed(n: int, text: str) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        manifests.parse_documents(text, "apps/a7/app.yaml")
    return (time.perf_counter() - wall) / n * 1000, (time.process_time() - cpu) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parses", type=int, default=200)
    args = parser.parse_args()
    text = APP.format(i=7)
    here = timed(args.parses, text)
    pool = ParsePool(size=1)
    manifests.isolate(pool)
    try:
        start = time.perf_counter()
        manifests.parse_documents(text, "apps/a7/app.yaml")
        print(f"worker start-up and first parse: {time.perf_counter() - start:.2f} s")
        isolated = timed(args.parses, text)
    finally:
        manifests.isolate(None)
        pool.close()
    print(f"in process: {here[0]:.2f} ms wall, {here[1]:.2f} ms CPU per parse")
    print(f"in a worker: {isolated[0]:.2f} ms wall, {isolated[1]:.2f} ms CPU (this process)")
    print("load average: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
