"""Node manifests, the openb trace inventory, and the kwok stages."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck.devcluster.nodes import node_manifest, trace_nodes
from quarterdeck.devcluster.pools import PoolSpecError, expand, parse_spec
from quarterdeck.devcluster.stages import DURATION_ANNOTATION, stages
from quarterdeck.devcluster.tracedata import NODE_FILE, find_trace_dir

HEADER = "sn,cpu_milli,memory_mib,gpu,model\n"


def test_node_manifest_carries_capacity_labels_and_taints() -> None:
    (spec,) = expand(parse_spec("1x gpu-h100-8:taint=true"))
    node = node_manifest(spec)
    assert node["status"]["capacity"] == node["status"]["allocatable"] == spec.capacity
    assert node["metadata"]["labels"]["type"] == "kwok"
    assert node["metadata"]["labels"]["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert node["spec"]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    ]


def test_trace_rows_become_nodes_with_exact_resources() -> None:
    nodes = trace_nodes(HEADER + "n1,64000,262144,2,P100\nn2,96000,393216,0,\n", "x.csv")
    assert nodes[0].capacity == {
        "cpu": "64000m",
        "memory": "262144Mi",
        "pods": "110",
        "nvidia.com/gpu": "2",
    }
    assert nodes[0].labels["nvidia.com/gpu.product"] == "Tesla-P100-PCIE-16GB"
    assert "nvidia.com/gpu" not in nodes[1].capacity


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("n1,64000,abc,2,P100\n", r"x.csv:2: .*integers"),
        ("n1,64000,1024,-2,P100\n", r"x.csv:2: negative"),
        ("n1,64000,1024,2,Z999\n", r"x.csv:2: unknown GPU model"),
    ],
)
def test_bad_trace_rows_are_reported_with_their_line(body: str, message: str) -> None:
    with pytest.raises(PoolSpecError, match=message):
        trace_nodes(HEADER + body, "x.csv")


def test_trace_with_wrong_columns_is_refused() -> None:
    with pytest.raises(PoolSpecError, match="expected columns"):
        trace_nodes("name,cpu\nx,1\n", "x.csv")


def test_the_real_openb_inventory_has_1213_nodes_and_6212_gpus() -> None:
    found = find_trace_dir(Path(__file__).resolve())
    if found is None:
        pytest.skip("the openb trace is not beside this checkout")
    nodes = trace_nodes((found / NODE_FILE).read_text(), NODE_FILE)
    assert len(nodes) == 1213
    assert sum(int(n.capacity.get("nvidia.com/gpu", "0")) for n in nodes) == 6212


def test_stages_cover_the_whole_lifecycle() -> None:
    docs = stages()
    names = [d["metadata"]["name"] for d in docs]
    assert names == [
        "qd-node-initialize",
        "qd-node-heartbeat",
        "qd-pod-running",
        "qd-pod-job-complete",
        "qd-pod-delete",
    ]
    assert all(d["kind"] == "Stage" and d["apiVersion"] == "kwok.x-k8s.io/v1alpha1" for d in docs)
    complete = docs[3]["spec"]
    assert DURATION_ANNOTATION in complete["delay"]["durationFrom"]["expressionFrom"]
    owner = [e for e in complete["selector"]["matchExpressions"] if "ownerReferences" in e["key"]]
    assert owner == [
        {"key": ".metadata.ownerReferences.[].kind", "operator": "In", "values": ["Job"]}
    ]
    assert docs[4]["spec"]["next"] == {"delete": True}
