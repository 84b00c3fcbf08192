"""Pool specs: parsing, expansion and the errors a user sees for bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quarterdeck.devcluster.pools import (
    GPU_TAINT,
    PoolSpecError,
    check_unique,
    expand,
    parse_pool_document,
    parse_spec,
)


def test_gpu_pool_spec_sets_model_count_and_sized_defaults() -> None:
    pool = parse_spec("4x gpu-h100-8")
    assert (pool.name, pool.count, pool.gpus) == ("gpu-h100-8", 4, 8)
    assert pool.gpu_model is not None and pool.gpu_model.product == "NVIDIA-H100-80GB-HBM3"
    assert (pool.cpu, pool.memory) == ("224", "2048Gi")


def test_options_override_defaults() -> None:
    pool = parse_spec(
        "2x gpu-a100-4:name=train,cpu=64,memory=512Gi,zone=zone-b,rack-size=2,"
        "nvlink-size=2,taint=true"
    )
    assert (pool.name, pool.cpu, pool.memory, pool.zone) == ("train", "64", "512Gi", "zone-b")
    assert (pool.rack_size, pool.nvlink_size, pool.taints) == (2, 2, (GPU_TAINT,))


def test_mig_partitions_every_gpu() -> None:
    (node,) = expand(parse_spec("1x gpu-a100-8:mig=3g.40gb"))
    assert node.capacity["nvidia.com/mig-3g.40gb"] == "16"
    assert node.capacity["nvidia.com/gpu"] == "0"
    (node,) = expand(parse_spec("1x gpu-h100-2:mig=1g.10gb*4"))
    assert node.capacity["nvidia.com/mig-1g.10gb"] == "8"


def test_cpu_pool_has_no_gpu_resources() -> None:
    (node,) = expand(parse_spec("1x cpu-32"))
    assert node.capacity == {"cpu": "32", "memory": "128Gi", "pods": "110"}
    assert "nvidia.com/gpu.product" not in node.labels


def test_expansion_labels_topology() -> None:
    nodes = expand(parse_spec("4x gpu-h100-8:rack-size=2,nvlink-size=2"))
    assert [n.name for n in nodes] == [f"gpu-h100-8-0{i}" for i in range(4)]
    assert [n.labels["quarterdeck.dev/rack"] for n in nodes] == [
        "gpu-h100-8-rack0",
        "gpu-h100-8-rack0",
        "gpu-h100-8-rack1",
        "gpu-h100-8-rack1",
    ]
    assert len({n.labels["quarterdeck.dev/nvlink-domain"] for n in nodes}) == 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("4 gpu-h100-8", "malformed"),
        ("0x gpu-h100-8", "positive integer"),
        ("4x gpu-zz-8", "unknown GPU model 'zz'"),
        ("4x tpu-8", "unknown template"),
        ("4x gpu-h100-0", "positive integer"),
        ("4x gpu-h100-8:color=red", "unknown option"),
        ("4x gpu-t4-1:mig=1g.10gb", "has no MIG profile"),
        ("4x gpu-a100-1:mig=1g.10gb*9", "at most 7"),
        ("4x cpu-8:mig=1g.10gb", "only applies to GPU pools"),
        ("4x cpu-8:cpu=lots", "not a Kubernetes quantity"),
        ("999999x cpu-8", "at most"),
    ],
)
def test_bad_specs_get_a_clear_error(spec: str, message: str) -> None:
    with pytest.raises(PoolSpecError, match=message) as info:
        parse_spec(spec)
    assert "\n" not in str(info.value)


def test_duplicate_pool_names_are_refused_with_a_hint() -> None:
    with pytest.raises(PoolSpecError, match="name=train"):
        check_unique([parse_spec("1x gpu-h100-8"), parse_spec("2x gpu-h100-8")])


def test_pool_file_adds_labels_and_taints() -> None:
    doc = {
        "pools": [
            {
                "spec": "2x gpu-l4-1",
                "labels": {"team": "ml"},
                "taints": [{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}],
            }
        ]
    }
    (pool,) = parse_pool_document(doc, "pools.yaml")
    nodes = expand(pool)
    assert all(n.labels["team"] == "ml" and n.taints[0].key == "dedicated" for n in nodes)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "expected a mapping"),
        ({"pools": [{"count": 3}]}, r"pools\[0\]: each pool needs a 'spec'"),
        ({"pools": [{"spec": "1x cpu-2", "colour": 1}]}, "unknown keys"),
        ({"pools": [{"spec": "1x gpu-qq-1"}]}, r"pools.yaml: pools\[0\]: .*unknown GPU model"),
    ],
)
def test_bad_pool_files_name_the_entry(doc: object, message: str) -> None:
    with pytest.raises(PoolSpecError, match=message):
        parse_pool_document(doc, "pools.yaml")


@given(
    count=st.integers(1, 300),
    gpus=st.integers(1, 16),
    model=st.sampled_from(["h100", "a100", "l4", "t4"]),
    rack=st.integers(0, 8),
    nvl=st.integers(1, 8),
)
def test_expansion_gives_count_unique_nodes_with_exact_gpus(
    count: int, gpus: int, model: str, rack: int, nvl: int
) -> None:
    opts = f"nvlink-size={nvl}" + (f",rack-size={rack}" if rack else "")
    nodes = expand(parse_spec(f"{count}x gpu-{model}-{gpus}:{opts}"))
    assert len(nodes) == count == len({n.name for n in nodes})
    assert all(n.capacity["nvidia.com/gpu"] == str(gpus) for n in nodes)
    domains = {n.labels["quarterdeck.dev/nvlink-domain"] for n in nodes}
    assert len(domains) == -(-count // nvl)
