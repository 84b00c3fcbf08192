"""Memory of the shared informer cache with N cached objects (ConfigMaps).

Creates N ConfigMaps (each with three small data keys and two labels, like generated
config) in a fresh namespace, then, in a child process that imports everything the
operator imports, lists and watches them with SharedInformers and reports its RSS
before and after the cache is synced, and the time to sync.

    python bench/informer_memory.py --kubeconfig PATH --objects 10000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace

from quarterdeck.kube.config import load_client

CHILD = r"""
import json, sys, time
from pathlib import Path

def rss_mib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

from lightkube.resources.core_v1 import ConfigMap
import quarterdeck.operator  # noqa: F401  (everything the operator process imports)
import quarterdeck.delivery.runner, quarterdeck.queueing.operator  # noqa: F401
from quarterdeck.kube.config import load_client
from quarterdeck.kube.informer import SharedInformers

kubeconfig, namespace = sys.argv[1], sys.argv[2]
client = load_client(Path(kubeconfig))
before = rss_mib()
informers = SharedInformers(client)
informer = informers.informer(ConfigMap, namespace)
started = time.monotonic()
informers.start()
assert informers.wait_synced(600)
synced = time.monotonic() - started
import gc; gc.collect()
after = rss_mib()
print(json.dumps({"objects": len(informer.list()), "rss_before_mib": round(before, 1),
                  "rss_after_mib": round(after, 1), "sync_seconds": round(synced, 2)}))
informers.stop()
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="Leave the namespace behind.")
    args = parser.parse_args()
    client = load_client(args.kubeconfig)
    namespace = f"bench-informer-{uuid.uuid4().hex[:6]}"
    client.create(Namespace(metadata=ObjectMeta(name=namespace)))
    try:

        def make(index: int) -> None:
            client.create(
                ConfigMap(
                    metadata=ObjectMeta(
                        name=f"config-{index:05d}",
                        namespace=namespace,
                        labels={"app": f"app-{index % 50}", "tier": "bench"},
                    ),
                    data={
                        "LOG_LEVEL": "info",
                        "ENDPOINT": f"https://svc-{index}.example.internal:8443/api",
                        "FEATURES": "alpha,beta,gamma",
                    },
                )
            )

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(make, range(args.objects)))
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(args.kubeconfig), namespace],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(result, indent=2))
    finally:
        if not args.keep:
            client.delete(Namespace, namespace)


if __name__ == "__main__":
    main()
