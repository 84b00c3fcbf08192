"""Benchmark: Prometheus scrape to idle action, on a dev cluster with real Prometheus.

    qd dev up --name bench --nodes "1x gpu-h100-8"
    python bench/showback_idle_latency.py --kubeconfig KUBECONFIG [--rounds 5] [--interval 1]

Each round: a notebook pod at 100 % utilisation, a GpuIdlePolicy (DeleteNotebook,
threshold 5 %, duration 1s); the pod's annotation goes to 0 %; the time of the first
Prometheus sample at 0 % (its scrape timestamp) is compared with the moment the pod is
seen deleted. Printed: that latency minus the policy's 1 s, per round, with the load.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import cast

import httpx
from lightkube import ApiError, Client
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType

from quarterdeck.api.crd import crd
from quarterdeck.api.showback import KINDS
from quarterdeck.devcluster import prometheus as devprom
from quarterdeck.kube.client import load_client
from quarterdeck.kube.crds import install_crds
from quarterdeck.kube.events import EventRecorder
from quarterdeck.kube.informer import SharedInformers
from quarterdeck.kube.wait import wait_for
from quarterdeck.showback.clock import SystemClock
from quarterdeck.showback.controller import Showback
from quarterdeck.showback.prometheus import PrometheusSource
from quarterdeck.showback.resources import IdlePolicyResource

NS = "default"


def first_zero(url: str, pod: str) -> float | None:
    """The scrape timestamp of the pod's first raw sample at 0 %."""
    q = f'DCGM_FI_DEV_GPU_UTIL{{namespace="{NS}",pod="{pod}"}}[5m]'
    result = httpx.get(f"{url}/api/v1/query", params={"query": q}, timeout=5).json()
    zeros = [float(t) for r in result["data"]["result"] for t, v in r["values"] if v == "0"]
    return min(zeros) if zeros else None


def round_(kube: Client, showback: Showback, url: str, i: int) -> float:
    name = f"bench-nb-{i}-{int(time.time())}"
    kube.apply(
        IdlePolicyResource.from_dict(
            {
                "apiVersion": "showback.quarterdeck.dev/v1alpha1",
                "kind": "GpuIdlePolicy",
                "metadata": {"name": "bench-nb", "namespace": NS},
                "spec": {
                    "selector": {"bench": "idle"},
                    "threshold": 5,
                    "duration": "1s",
                    "action": "DeleteNotebook",
                },
            }
        ),
        field_manager="bench",
        force=True,
    )
    kube.create(
        cast(
            Pod,
            Pod.from_dict(
                {
                    "metadata": {
                        "name": name,
                        "namespace": NS,
                        "labels": {"bench": "idle", "quarterdeck.dev/notebook": "true"},
                        "annotations": {"quarterdeck.dev/gpu-util": "100"},
                    },
                    "spec": {
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [
                            {
                                "name": "nb",
                                "image": "fake",
                                "resources": {"limits": {"nvidia.com/gpu": "1"}},
                            }
                        ],
                    },
                }
            ),
        )
    )

    def measured(util: float) -> bool:
        records, _, _, _ = showback.state.snapshot()
        r = next((r for r in records if r.pod == name), None)
        return r is not None and bool(r.util) and r.util[-1][1] == util

    wait_for(lambda: measured(100.0), "the notebook measured busy", 60)
    kube.patch(
        Pod,
        name,
        {"metadata": {"annotations": {"quarterdeck.dev/gpu-util": "0"}}},
        namespace=NS,
        patch_type=PatchType.MERGE,
    )

    def deleted() -> bool:
        try:
            meta = kube.get(Pod, name, namespace=NS).metadata
        except ApiError:
            return True  # already gone (kwok removes a deleted pod at once)
        return meta is not None and meta.deletionTimestamp is not None

    wait_for(deleted, "the idle notebook deleted", 60, interval=0.02)
    acted = time.time()
    scraped = wait_for(lambda: first_zero(url, name), "the 0% sample", 10)
    with contextlib.suppress(ApiError):
        kube.delete(Pod, name, namespace=NS, grace_period=0)
    return acted - scraped - 1.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    kube = load_client(args.kubeconfig, field_manager="bench")
    install_crds(kube, [crd(k) for k in KINDS])
    root = Path(tempfile.mkdtemp(prefix="qd-bench-prom-"))
    prom = devprom.start(root, args.kubeconfig)
    informers = SharedInformers(kube)
    showback = Showback(
        kube,
        informers,
        EventRecorder(kube, "bench"),
        SystemClock(),
        PrometheusSource(prom.url),
        interval=args.interval,
    )
    informers.start()
    showback.start()
    try:
        for i in range(args.rounds):
            latency = round_(kube, showback, prom.url, i)
            print(
                f"round {i}: scrape to action {latency:.2f} s beyond the 1 s policy "
                f"(pass interval {args.interval:g} s, scrape 1 s, load {os.getloadavg()[0]:.1f})"
            )
    finally:
        showback.stop()
        informers.stop()
        devprom.stop(root)
        kube.delete(IdlePolicyResource, "bench-nb", namespace=NS)


if __name__ == "__main__":
    main()
