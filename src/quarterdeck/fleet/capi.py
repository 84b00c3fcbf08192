"""Cluster API's own CRDs, from its pinned release module, for management dev clusters.

``go mod download`` fetches ``sigs.k8s.io/cluster-api`` at the pinned version into the
Go module cache (checksummed against the Go checksum database), and the CRD
manifests are read from the module's ``core/config/crd/bases`` and
``controlplane/kubeadm/config/crd/bases``. Nothing of them is copied into this
repository. No Cluster API controller runs on a dev cluster: tests and demos write
a Cluster's status the way its controllers would.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from quarterdeck import kyaml

MODULE = "sigs.k8s.io/cluster-api"
VERSION = "v1.14.2"
CRD_FILES = (
    "core/config/crd/bases/cluster.x-k8s.io_clusters.yaml",
    "core/config/crd/bases/cluster.x-k8s.io_machines.yaml",
    "core/config/crd/bases/cluster.x-k8s.io_machinedeployments.yaml",
    "controlplane/kubeadm/config/crd/bases/controlplane.cluster.x-k8s.io_kubeadmcontrolplanes.yaml",
)


class CapiError(RuntimeError):
    """The module could not be downloaded or does not hold the CRDs where expected."""


def module_dir(version: str = VERSION, timeout: float = 300.0) -> Path:
    """The module's directory in the Go module cache, downloading it if needed."""
    try:
        done = subprocess.run(
            ["go", "mod", "download", "-json", f"{MODULE}@{version}"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd="/",
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise CapiError(f"go mod download {MODULE}@{version}: {err}") from None
    try:
        info: dict[str, Any] = json.loads(done.stdout or "{}")
    except json.JSONDecodeError:
        info = {}
    if done.returncode != 0 or not info.get("Dir"):
        why = info.get("Error") or (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise CapiError(f"go mod download {MODULE}@{version}: {why}")
    return Path(str(info["Dir"]))


def crds(version: str = VERSION) -> list[dict[str, Any]]:
    """The Cluster, Machine, MachineDeployment and KubeadmControlPlane CRDs of ``version``."""
    root = module_dir(version)
    out: list[dict[str, Any]] = []
    for rel in CRD_FILES:
        path = root / rel
        if not path.is_file():
            raise CapiError(f"{MODULE}@{version} has no {rel}")
        doc = kyaml.load(path.read_bytes(), str(rel))
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            raise CapiError(f"{rel} is not a CustomResourceDefinition")
        out.append(doc)
    return out
