"""What both peer benchmarks share: a fresh dev cluster, a Go module's sources, apply.

Each controller gets its own dev cluster of the same shape, brought up fresh by the
benchmark and taken down after it, so neither run inherits the other's objects.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from lightkube import Client, codecs
from lightkube.generic_resource import create_global_resource, create_namespaced_resource

from quarterdeck.devcluster import build, cache

QD = str(Path(sys.executable).parent / "qd")
NODES = "20x cpu-64"
#: Kinds our benchmarks apply that are cluster-scoped.
GLOBAL_KINDS = ("ResourceFlavor", "ClusterQueue")


def module_dir(module: str, version: str) -> Path:
    """The module's unpacked source in Go's module cache (downloaded if missing)."""
    go = build.find_go()
    out = build.run_go([go, "mod", "download", "-json", f"{module}@{version}"], Path("/"),
                       f"downloading {module}@{version}")  # fmt: skip
    return Path(json.loads(out)["Dir"])


def dev_cluster(name: str) -> Path:
    """Kubeconfig of a fresh dev cluster `name` (an old one of that name is removed)."""
    subprocess.run([QD, "dev", "down", "--name", name], capture_output=True, check=False)
    # Nodes with twice the quota: Kueue admits without looking at nodes, quarterdeck
    # places each pod, so neither run is limited by where pods fit.
    up = [QD, "dev", "up", "--name", name, "--nodes", NODES]
    subprocess.run(up, check=True, stdout=subprocess.DEVNULL)
    return cache.clusters_dir() / name / "kubeconfig"


def plural(kind: str) -> str:
    """`GitRepository` -> `gitrepositories`, `Workload` -> `workloads`."""
    lower = kind.lower()
    return lower[:-1] + "ies" if lower.endswith("y") else lower + "s"


def apply_all(kube: Client, docs: list[dict[str, Any]]) -> None:
    """Server-side apply `docs` in order (generic resources registered for their kinds)."""
    for doc in docs:
        group, _, version = doc["apiVersion"].rpartition("/")
        if group and doc["kind"] in GLOBAL_KINDS:
            create_global_resource(group, version, doc["kind"], plural(doc["kind"]))
        elif group:
            create_namespaced_resource(group, version, doc["kind"], plural(doc["kind"]))
    for doc in docs:
        kube.apply(codecs.from_dict(doc), force=True)


def dev_down(name: str) -> None:
    subprocess.run([QD, "dev", "down", "--name", name], capture_output=True, check=False)
