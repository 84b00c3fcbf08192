"""Fake nodes carry the capacity and labels their pool spec asked for."""

from __future__ import annotations

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Node

pytestmark = pytest.mark.integration


def _nodes(kube: Client, pool: str) -> list[Node]:
    return sorted(
        kube.list(Node, labels={"quarterdeck.dev/pool": pool}),
        key=lambda n: n.metadata.name if n.metadata and n.metadata.name else "",
    )


def test_gpu_pool_nodes_have_capacity_labels_and_topology(kube: Client) -> None:
    nodes = _nodes(kube, "gpu-h100-8")
    assert [n.metadata.name for n in nodes if n.metadata] == ["gpu-h100-8-00", "gpu-h100-8-01"]
    for i, node in enumerate(nodes):
        assert node.status is not None and node.status.capacity is not None
        assert node.status.capacity["nvidia.com/gpu"] == "8"
        assert node.status.allocatable == node.status.capacity
        labels = node.metadata.labels if node.metadata and node.metadata.labels else {}
        assert labels["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
        assert labels["nvidia.com/gpu.count"] == "8"
        assert labels["topology.kubernetes.io/zone"] == "zone-a"
        assert labels["quarterdeck.dev/rack"] == f"gpu-h100-8-rack{i}"
        assert labels["quarterdeck.dev/nvlink-domain"] == f"gpu-h100-8-nvl{i}"
        conditions = {c.type: c.status for c in node.status.conditions or []}
        assert conditions["Ready"] == "True"


def test_mig_pool_exposes_mig_slices_instead_of_whole_gpus(kube: Client) -> None:
    (node,) = _nodes(kube, "a100-mig")
    assert node.status is not None and node.status.capacity is not None
    assert node.status.capacity["nvidia.com/mig-1g.10gb"] == "56"  # 7 slices x 8 GPUs
    assert node.status.capacity["nvidia.com/gpu"] == "0"
    assert node.metadata is not None and node.metadata.labels is not None
    assert node.metadata.labels["nvidia.com/mig.strategy"] == "mixed"


def test_cpu_pool_nodes_have_no_gpu(kube: Client) -> None:
    for node in _nodes(kube, "cpu-16"):
        assert node.status is not None and node.status.capacity is not None
        assert node.status.capacity["cpu"] == "16"
        assert "nvidia.com/gpu" not in node.status.capacity
