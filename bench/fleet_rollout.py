"""Baseline commit to healthy on every cluster of a fleet; memory and connections per cluster.

Runs the operator in this process (delivery + fleet, as `qd operator` runs them) against
a management dev cluster, registers the given workload dev clusters through kubeconfig
Secrets, and rolls examples/fleet/baseline out with a ClusterSet. Prints, with the load
average next to each number (the machine is shared):

- first rollout: ClusterSet created -> Healthy on all clusters;
- update: a commit to the baseline -> its revision Healthy on all clusters;
- the process's RSS and its established TCP connections to each registered API server.

    qd dev up --name fleet-m; qd dev up --name fleet-a --nodes "1x cpu-16"; ...
    python bench/fleet_rollout.py --management fleet-m --workloads fleet-a,fleet-b
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret
from lightkube.resources.storage_v1 import StorageClass

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from gitrepo import Repo
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES
from quarterdeck.devcluster.cluster import layout_for
from quarterdeck.fleet.clusterset import ClusterSetRes
from quarterdeck.fleet.registrar import ManagedClusterRes
from quarterdeck.kube.client import load_client
from quarterdeck.kube.wait import wait_for
from quarterdeck.operator import Operator, OperatorConfig

BASELINE = Path(__file__).parents[1] / "examples" / "fleet" / "baseline"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f}"


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def connections_by_port() -> dict[int, int]:
    """Established TCP connections of this process, by remote port."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    counts: dict[int, int] = {}
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] == "01" and parts[9] in inodes:  # ESTABLISHED, ours
                port = int(parts[2].rsplit(":", 1)[1], 16)
                counts[port] = counts.get(port, 0) + 1
    return counts


def reachable(kube: Client, name: str) -> bool:
    try:
        return bool((dict(kube.get(ManagedClusterRes, name)).get("status") or {}).get("reachable"))
    except ApiError:
        return False


def healthy(kube: Client, ns: str, revision: str, n: int) -> bool:
    st = dict(kube.get(ClusterSetRes, "baseline", namespace=ns)).get("status") or {}
    return st.get("revision") == revision and st.get("healthy") == n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--management", default="fleet-m")
    ap.add_argument("--workloads", default="fleet-a,fleet-b")
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()
    mgmt = layout_for(args.management).kubeconfig
    names = args.workloads.split(",")
    kube = load_client(mgmt)
    ns = f"bench-fleet-{uuid.uuid4().hex[:6]}"
    kube.create(Namespace(metadata=ObjectMeta(name=ns)))
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    workloads = {n: layout_for(n).kubeconfig for n in names}
    ports = {n: urlsplit(load_client(k).config.cluster.server).port for n, k in workloads.items()}
    op: Operator | None = None
    thread: threading.Thread | None = None
    try:
        print(
            f"clusters: {len(names)} ({', '.join(names)}); "
            f"before: rss {rss_mib():.0f} MiB; {load()}"
        )
        config = OperatorConfig(
            cache_dir=work / "cache",
            namespace=ns,
            queueing=False,
            tick=0.5,
            tenancy=LOCAL_REPOSITORIES,
        )
        op = Operator(load_client(mgmt), config, lambda fm: load_client(mgmt, field_manager=fm))
        thread = threading.Thread(target=op.run, daemon=True)
        thread.start()
        wait_for(op.started.is_set, "the operator", 120)
        base_rss = rss_mib()
        for name, path in workloads.items():
            data = {"kubeconfig": base64.b64encode(path.read_bytes()).decode()}
            labels = {"quarterdeck.dev/cluster": f"{name}-{ns[-6:]}", "env": "prod"}
            kube.create(
                Secret(metadata=ObjectMeta(name=name, namespace=ns, labels=labels), data=data)
            )
        for name in names:
            wait_for(partial(reachable, kube, f"{name}-{ns[-6:]}"), f"{name} registered", 120)
        repo = Repo(work / "repo")
        shutil.copytree(BASELINE, repo.path / "baseline")
        first = repo.commit("baseline")
        cl = Cluster(kube)
        cl.apply(
            {
                "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
                "kind": "Source",
                "metadata": {"name": "platform", "namespace": ns},
                "spec": {"url": repo.url, "ref": {"branch": "main"}, "interval": "1s"},
            }
        )
        started = time.monotonic()
        cl.apply(
            {
                "apiVersion": "fleet.quarterdeck.dev/v1alpha1",
                "kind": "ClusterSet",
                "metadata": {"name": "baseline", "namespace": ns},
                "spec": {
                    "clusterSelector": {"matchLabels": {"env": "prod"}},
                    "sourceRef": {"name": "platform"},
                    "template": {
                        "sourceRef": {"name": "platform"},
                        "path": "baseline",
                        "timeout": "60s",
                    },
                },
            }
        )
        wait_for(
            lambda: healthy(kube, ns, first, len(names)),
            "first rollout",
            args.timeout,
            interval=0.1,
        )
        print(
            f"first rollout to {len(names)} clusters: {time.monotonic() - started:.2f} s; {load()}"
        )
        quota = (repo.path / "baseline" / "quota.yaml").read_text().replace('"16"', '"24"')
        started = time.monotonic()
        second = repo.commit("more GPUs for team-apps", {"baseline/quota.yaml": quota})
        wait_for(
            lambda: healthy(kube, ns, second, len(names)), "update", args.timeout, interval=0.1
        )
        print(
            f"commit -> healthy on all {len(names)} clusters: "
            f"{time.monotonic() - started:.2f} s; {load()}"
        )
        conns = connections_by_port()
        per = [conns.get(ports[n] or 0, 0) for n in names]
        grown = rss_mib() - base_rss
        print(
            f"rss {rss_mib():.0f} MiB (+{grown:.0f} MiB since the operator started, "
            f"{grown / len(names):.1f} MiB per cluster); connections per cluster: {per}; {load()}"
        )
    finally:
        if op is not None:
            op.stop.set()
        if thread is not None:
            thread.join(30)
        kube.delete(Namespace, ns)
        for path in workloads.values():
            w = load_client(path)
            for res, name in (
                (Namespace, "team-apps"),
                (Namespace, "platform-system"),
                (StorageClass, "standard"),
            ):
                with contextlib.suppress(ApiError):
                    w.delete(res, name)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
