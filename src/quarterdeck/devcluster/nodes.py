"""Node objects for fake nodes, and the openb trace's inventory as node specs.

kwok takes over any Node it manages: it fills in conditions, addresses and node info
(see `stages`), but capacity, allocatable, labels and taints come from the object we
create, so this is where a pool's shape becomes what the scheduler sees.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from quarterdeck.devcluster.gpus import lookup
from quarterdeck.devcluster.pools import NodeSpec, PoolSpecError

KWOK_ANNOTATION = "kwok.x-k8s.io/node"


def node_manifest(spec: NodeSpec) -> dict[str, Any]:
    """The Node object for a spec; allocatable equals capacity (no system reservations)."""
    labels = {
        "type": "kwok",
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/exclude-from-external-load-balancers": "true",
    } | spec.labels
    node: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": spec.name,
            "labels": labels,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {},
        "status": {
            "capacity": dict(spec.capacity),
            "allocatable": dict(spec.capacity),
            "phase": "Pending",
        },
    }
    if spec.taints:
        node["spec"]["taints"] = [
            {"key": t.key, "value": t.value, "effect": t.effect} for t in spec.taints
        ]
    return node


_TRACE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")


def trace_nodes(text: str, source: str, pool: str = "openb") -> list[NodeSpec]:
    """Node specs from an openb node list CSV (`sn,cpu_milli,memory_mib,gpu,model`).

    Every row becomes one node with the trace's exact CPU, memory, GPU count and model;
    a malformed row is reported with its line number.
    """
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != _TRACE_COLUMNS:
        raise PoolSpecError(
            f"{source}: expected columns {','.join(_TRACE_COLUMNS)}, got {reader.fieldnames}"
        )
    nodes = []
    for row in reader:
        where = f"{source}:{reader.line_num}"
        try:
            cpu_milli, memory_mib, gpus = (int(row[k]) for k in ("cpu_milli", "memory_mib", "gpu"))
        except (TypeError, ValueError):
            raise PoolSpecError(
                f"{where}: cpu_milli, memory_mib and gpu must be integers"
            ) from None
        if min(cpu_milli, memory_mib, gpus) < 0:
            raise PoolSpecError(f"{where}: negative resource in {dict(row)}")
        labels = {
            "quarterdeck.dev/pool": pool,
            "topology.kubernetes.io/zone": "zone-a",
            "quarterdeck.dev/nvlink-domain": row["sn"],
        }
        capacity = {"cpu": f"{cpu_milli}m", "memory": f"{memory_mib}Mi", "pods": "110"}
        if gpus:
            try:
                model = lookup(row["model"])
            except ValueError as e:
                raise PoolSpecError(f"{where}: {e}") from None
            capacity["nvidia.com/gpu"] = str(gpus)
            labels |= {
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.product": model.product,
                "nvidia.com/gpu.count": str(gpus),
                "nvidia.com/gpu.memory": str(model.memory_mib),
            }
        nodes.append(NodeSpec(row["sn"], labels, capacity))
    return nodes
