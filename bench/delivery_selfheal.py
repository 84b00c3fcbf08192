"""Self-heal latency: from an edit of a managed object by another manager to its revert.

Runs the delivery operator loop in this process on one Application of one
Deployment, edits the Deployment's replicas N times (as `kubectl edit` would,
with another field manager) and reports how long each revert took, observed
through a watch on the object.

    python bench/delivery_selfheal.py --kubeconfig PATH --edits 20
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace

from quarterdeck.api.crd import crd
from quarterdeck.api.delivery import KINDS
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.controller import Controller
from quarterdeck.delivery.runner import Runner
from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES
from quarterdeck.kube.client import load_client

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: nginx}]}
"""


def make_repo(repo: Path) -> str:
    (repo / "web").mkdir(parents=True)
    (repo / "web" / "deploy.yaml").write_text(DEPLOY)
    git = ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "web"], check=True)
    return repo.resolve().as_uri()


def delivery_namespace(kubeconfig: Path, prefix: str) -> tuple[Client, Cluster, str]:
    """A client, our delivery CRDs Established, and a new namespace ``prefix-xxxxxx``."""
    client = load_client(kubeconfig, field_manager="bench")
    cluster = Cluster(client)
    for kind in KINDS:
        cluster.apply(crd(kind))
    cluster.wait_established([f"{k.plural}.{k.group}" for k in KINDS], timeout=60)
    ns = f"{prefix}-{uuid.uuid4().hex[:6]}"
    client.create(Namespace(metadata=ObjectMeta(name=ns)))
    return client, cluster, ns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True, type=Path)
    parser.add_argument("--edits", type=int, default=20)
    args = parser.parse_args()
    client, cluster, ns = delivery_namespace(args.kubeconfig, "bench-heal")
    tmp = Path(tempfile.mkdtemp(prefix="qd-bench-"))
    url = make_repo(tmp / "repo")
    group = "delivery.quarterdeck.dev/v1alpha1"
    cluster.apply(
        {
            "apiVersion": group,
            "kind": "Source",
            "metadata": {"name": "repo", "namespace": ns},
            "spec": {"url": url},
        }
    )
    cluster.apply(
        {
            "apiVersion": group,
            "kind": "Application",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"sourceRef": {"name": "repo"}, "path": "web", "interval": "1h"},
        }
    )
    runner = Runner(
        Controller(client, tmp / "cache", namespace=ns, policy=LOCAL_REPOSITORIES), tick=5.0
    )
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        while not any(m.desired for m in list(runner.controller.apps.values())):
            time.sleep(0.1)
        time.sleep(1.0)  # let the watch start
        latencies = []
        for i in range(args.edits):
            start = time.perf_counter()
            client.patch(
                Deployment,
                "web",
                {"spec": {"replicas": 3 + i % 2}},
                namespace=ns,
                field_manager="kubectl-edit",
            )
            for _, obj in client.watch(Deployment, namespace=ns, fields={"metadata.name": "web"}):
                if obj.spec is not None and obj.spec.replicas == 0:
                    break
            latencies.append(time.perf_counter() - start)
            time.sleep(0.2)
        latencies.sort()
        print(
            f"edits={args.edits} median_s={statistics.median(latencies):.3f} "
            f"p90_s={latencies[int(0.9 * (len(latencies) - 1))]:.3f} max_s={latencies[-1]:.3f}"
        )
    finally:
        runner.stop.set()
        client.delete(Namespace, ns)


if __name__ == "__main__":
    main()
