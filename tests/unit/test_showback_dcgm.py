"""The dcgm-format GPU metrics source: labels, pod mapping, utilisation from annotations."""

from __future__ import annotations

from typing import Any

import pytest

from quarterdeck.devcluster.dcgm import render, schedule_value, series, utilisation
from quarterdeck.showback.claims import claim_of

LABELS = ["gpu", "UUID", "device", "modelName", "Hostname", "container", "namespace", "pod"]


def node(name: str = "gpu-00", gpus: int = 8, product: str = "NVIDIA-H100-80GB-HBM3") -> Any:
    return {
        "metadata": {
            "name": name,
            "labels": {
                "nvidia.com/gpu.product": product,
                "nvidia.com/gpu.count": str(gpus),
                "nvidia.com/gpu.memory": "81559",
            },
        }
    }


def pod(
    name: str,
    resources: dict[str, str],
    annotations: dict[str, str] | None = None,
    node_name: str = "gpu-00",
    phase: str = "Running",
    created: str = "2026-01-01T00:00:00Z",
) -> Any:
    return {
        "metadata": {"name": name, "namespace": "team-a", "annotations": annotations or {},
                     "creationTimestamp": created},
        "spec": {"nodeName": node_name,
                 "containers": [{"name": "main", "resources": {"limits": resources}}]},
        "status": {"phase": phase, "startTime": "2026-01-01T00:00:00Z"},
    }  # fmt: skip


def test_whole_gpu_pod_gets_its_gpus_with_dcgm_labels() -> None:
    p = pod("train", {"nvidia.com/gpu": "2"}, {"quarterdeck.dev/gpu-util": "35"})
    out = series([node()], [p], now=0)
    assert len(out) == 8
    held = [s for s in out if dict(s.labels)["pod"] == "train"]
    assert [dict(s.labels)["gpu"] for s in held] == ["0", "1"]
    assert all(s.util == 35 for s in held)
    assert [k for k, _ in held[0].labels] == LABELS
    assert dict(held[0].labels)["modelName"] == "NVIDIA H100 80GB HBM3"
    idle = [s for s in out if dict(s.labels)["pod"] == ""]
    assert len(idle) == 6 and all(s.util == 0 for s in idle)


def test_shares_pack_onto_one_gpu_with_a_series_each() -> None:
    pods = [
        pod("a", {}, {"quarterdeck.dev/gpu-milli": "500", "quarterdeck.dev/gpu-util": "10"}),
        pod("b", {}, {"quarterdeck.dev/gpu-milli": "500", "quarterdeck.dev/gpu-util": "90"},
            created="2026-01-01T00:00:01Z"),
    ]  # fmt: skip
    out = series([node(gpus=1)], pods, now=0)
    assert [(dict(s.labels)["gpu"], dict(s.labels)["pod"], s.util) for s in out] == [
        ("0", "a", 10),
        ("0", "b", 90),
    ]
    assert claim_of(pods[0]).kind == "share"


def test_mig_instance_series_carry_the_profile() -> None:
    p = pod("nb", {"nvidia.com/mig-1g.10gb": "1"}, {"quarterdeck.dev/gpu-util": "5"})
    (s,) = series([node(gpus=1)], [p], now=0)
    assert dict(s.labels)["GPU_I_PROFILE"] == "1g.10gb" and s.util == 5


def test_pods_not_running_hold_nothing() -> None:
    p = pod("done", {"nvidia.com/gpu": "8"}, phase="Succeeded")
    assert all(dict(s.labels)["pod"] == "" for s in series([node()], [p], now=0))


def test_schedule_follows_the_pod_start() -> None:
    p = pod("s", {"nvidia.com/gpu": "1"}, {"quarterdeck.dev/gpu-util-schedule": "0s=80,30m=0"})
    start = 1767225600.0  # 2026-01-01T00:00:00Z
    assert utilisation(p, start + 60) == 80
    assert utilisation(p, start + 1800) == 0
    assert schedule_value("10m=50", 0, "x") == 0


@pytest.mark.parametrize("bad", ["101", "-1", "lots"])
def test_bad_util_annotation_is_refused_naming_it(bad: str) -> None:
    p = pod("x", {"nvidia.com/gpu": "1"}, {"quarterdeck.dev/gpu-util": bad})
    with pytest.raises(ValueError, match="gpu-util"):
        utilisation(p, 0)
    (held, *_) = series([node()], [p], now=0)
    assert held.util == 0  # the scrape still works; the GPU reads as idle


def test_render_is_prometheus_text() -> None:
    text = render(series([node(gpus=1)], [], now=0))
    assert "# TYPE DCGM_FI_DEV_GPU_UTIL gauge" in text
    assert 'DCGM_FI_PROF_GR_ENGINE_ACTIVE{gpu="0",' in text
    assert text.count("\n") == 9
