"""Delivery of one large app vs. the floor of raw server-side apply calls.

Prints: objects, concurrency, floor seconds (raw SSA of every object, same
concurrency), sync seconds (quarterdeck sync: read live, plan, dry-run all, apply,
wait healthy), their ratio, and a second no-change sync.

    python bench/delivery_sync.py --kubeconfig PATH --objects 1000 --concurrency 16
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.inventory import Owner
from quarterdeck.delivery.sync import SyncOptions, sync

Obj = dict[str, Any]


def objects(n: int, namespace: str) -> list[Obj]:
    """n objects: a third each ConfigMaps, Deployments (scaled to 0) and Services."""
    out: list[Obj] = []
    for i in range(n):
        meta = {"name": f"o{i}", "namespace": namespace}
        if i % 3 == 0:
            out.append(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"i": str(i)}}
            )
        elif i % 3 == 1:
            labels = {"app": f"o{i}"}
            out.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": meta,
                    "spec": {
                        "replicas": 0,
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
                        },
                    },
                }
            )
        else:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": meta,
                    "spec": {"selector": {"app": f"o{i - 1}"}, "ports": [{"port": 80}]},
                }
            )
    return out


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    client = Client(KubeConfig.from_file(args.kubeconfig), field_manager="bench")
    cluster = Cluster(client)
    tag = uuid.uuid4().hex[:6]
    floor_ns, sync_ns = f"bench-floor-{tag}", f"bench-sync-{tag}"
    for ns in (floor_ns, sync_ns):
        client.create(Namespace(metadata=ObjectMeta(name=ns)))
    try:
        raw = objects(args.objects, floor_ns)
        cluster.kind("v1", "ConfigMap")

        def floor() -> None:
            with ThreadPoolExecutor(args.concurrency) as pool:
                list(pool.map(cluster.apply, raw))

        floor_s = timed(floor)
        desired = objects(args.objects, sync_ns)
        owner = Owner(sync_ns, "bench")
        opts = SyncOptions(
            namespace=sync_ns, concurrency=args.concurrency, timeout=600, max_share=1.0
        )
        result = None

        def ours() -> None:
            nonlocal result
            result = sync(cluster, desired, [], owner, opts)

        sync_s = timed(ours)
        assert result is not None and result.ok, result.errors if result else None
        healthy = sum(h.status == "Healthy" for h in result.health.values())
        inventory = result.inventory
        again_s = timed(lambda: sync(cluster, desired, inventory, owner, opts))
        print(
            f"objects={args.objects} concurrency={args.concurrency} floor_s={floor_s:.2f} "
            f"sync_s={sync_s:.2f} ratio={sync_s / floor_s:.2f} healthy={healthy} "
            f"nochange_sync_s={again_s:.2f}"
        )
    finally:
        for ns in (floor_ns, sync_ns):
            client.delete(Namespace, ns)


if __name__ == "__main__":
    main()
