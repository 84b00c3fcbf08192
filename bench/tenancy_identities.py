"""The cost of one more impersonated identity: building its client, its first requests.

Each Application with its own ServiceAccount is one impersonated identity
(``Cluster.impersonating``). This builds N of them and sends one and then a second
request (``GET /version``) as each of the first 200, printing wall and CPU time
and the RSS added, with the load average (the machine may be shared).

    python bench/tenancy_identities.py --kubeconfig PATH --identities 500
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from quarterdeck.delivery.cluster import Cluster
from quarterdeck.kube.client import load_client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True, type=Path)
    parser.add_argument("--identities", type=int, default=500)
    args = parser.parse_args()
    base = Cluster(load_client(args.kubeconfig, field_manager="bench"))
    users = [f"system:serviceaccount:bench:sa{i}" for i in range(args.identities)]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall, cpu = time.perf_counter(), time.process_time()
    for user in users:
        base.impersonating(user)
    added = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024
    print(
        f"build {len(users)} identities: {time.perf_counter() - wall:.2f} s wall, "
        f"{time.process_time() - cpu:.2f} s CPU, +{added:.0f} MiB"
    )
    for attempt in ("first", "second"):
        wall, cpu = time.perf_counter(), time.process_time()
        for user in users[:200]:
            base.impersonating(user).client._client._client.get("/version")
        print(
            f"{attempt} request as each of {len(users[:200])}: "
            f"{time.perf_counter() - wall:.2f} s wall, {time.process_time() - cpu:.2f} s CPU"
        )
    print("load average: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
