"""The API server's cost of impersonation per request, paired so that load cancels out.

The same server-side apply of a ConfigMap (dry run and real) and the same GET are made
as the operator's own identity and as a ServiceAccount (``Cluster.impersonating``, the
sync's client), one right after the other, the order alternating. On a shared machine
the load moves by a factor of ten within a run; each pair sees the same load, so the
median of the paired differences is the cost of impersonation, where a comparison of
two whole runs is mostly a comparison of two loads.

    python bench/tenancy_impersonation.py --kubeconfig PATH --pairs 400
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from delivery_apps import bind_accounts, gone
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.manifests import Key
from quarterdeck.kube.client import load_client


def configmap(namespace: str, name: str, i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"i": str(i)},
    }


Op = Callable[[Cluster, str, int], object]


def timed(call: Op, view: Cluster, name: str, i: int) -> float:
    started = time.perf_counter()
    call(view, name, i)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True, type=Path)
    parser.add_argument("--pairs", type=int, default=400)
    args = parser.parse_args()
    client = load_client(args.kubeconfig, field_manager="bench")
    own = Cluster(client)
    ns = f"bench-imp-{uuid.uuid4().hex[:6]}"
    client.create(Namespace(metadata=ObjectMeta(name=ns)))
    try:
        bind_accounts(own, ns, ["deployer"])
        tenant = own.impersonating(f"system:serviceaccount:{ns}:deployer")
        views = {"own": own, "tenant": tenant}
        ops: dict[str, Op] = {
            "apply dryRun": lambda c, n, i: c.apply(configmap(ns, n, i), dry_run=True),
            "apply": lambda c, n, i: c.apply(configmap(ns, n, i)),
            "get": lambda c, n, i: c.get("v1", Key("", "ConfigMap", ns, n)),
        }
        for who, view in views.items():  # warm: connections, discovery
            ops["apply"](view, f"{who}-0", 0)
        seconds: dict[tuple[str, str], list[float]] = {}
        start_load = os.getloadavg()
        for i in range(args.pairs):
            order = ["own", "tenant"] if i % 2 == 0 else ["tenant", "own"]
            for op, call in ops.items():
                for who in order:
                    s = timed(call, views[who], f"{who}-{i % 50}", i)
                    seconds.setdefault((op, who), []).append(s)
        end_load = os.getloadavg()
        print(
            f"pairs={args.pairs} load_start={start_load[0]:.1f},{start_load[1]:.1f},"
            f"{start_load[2]:.1f} load_end={end_load[0]:.1f},{end_load[1]:.1f},{end_load[2]:.1f}"
        )
        for op in ops:
            mine, theirs = seconds[(op, "own")], seconds[(op, "tenant")]
            diffs = [(t - m) * 1000 for m, t in zip(mine, theirs, strict=True)]
            print(
                f"  {op:13} own median {statistics.median(mine) * 1000:7.2f} ms  "
                f"tenant median {statistics.median(theirs) * 1000:7.2f} ms  "
                f"paired difference median {statistics.median(diffs):+7.2f} ms "
                f"(mean {statistics.fmean(diffs):+.2f})"
            )
    finally:
        client.delete(Namespace, ns)
        gone(client, ns)


if __name__ == "__main__":
    main()
