"""Real Prometheus scrapes the dcgm-format source: a pod's annotation is its GPUs' utilisation."""

from __future__ import annotations

from typing import Any

import httpx
from lightkube import Client
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType
from prometheus_fixture import prometheus  # noqa: F401  (the fixture)

from quarterdeck.devcluster import prometheus as devprom
from quarterdeck.kube.wait import wait_for


def _query(url: str, promql: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert body["status"] == "success"
    return list(body["data"]["result"])


def _gpu_pod(namespace: str, name: str, util: str) -> Pod:
    return Pod.from_dict(
        {
            "metadata": {"name": name, "namespace": namespace,
                         "annotations": {"quarterdeck.dev/gpu-util": util}},
            "spec": {
                "nodeSelector": {"quarterdeck.dev/pool": "gpu-h100-8"},
                "tolerations": [{"operator": "Exists"}],
                "containers": [{"name": "cuda", "image": "fake",
                                "resources": {"limits": {"nvidia.com/gpu": "2"}}}],
            },
        }
    )  # fmt: skip


def test_pod_utilisation_reaches_prometheus_with_dcgm_labels(
    kube: Client,
    namespace: str,
    prometheus: devprom.PrometheusState,  # noqa: F811
) -> None:
    kube.create(_gpu_pod(namespace, "train", "35"))
    promql = f'DCGM_FI_DEV_GPU_UTIL{{namespace="{namespace}",pod="train"}}'
    wait_for(lambda: len(_query(prometheus.url, promql)) == 2, "two GPUs of train scraped", 60)
    series = _query(prometheus.url, promql)
    assert {s["value"][1] for s in series} == {"35"}
    labels = series[0]["metric"]
    assert {"gpu", "UUID", "device", "modelName", "Hostname", "container"} <= set(labels)
    assert labels["modelName"] == "NVIDIA H100 80GB HBM3" and labels["container"] == "cuda"

    kube.patch(
        Pod, "train", {"metadata": {"annotations": {"quarterdeck.dev/gpu-util": "0"}}},
        namespace=namespace, patch_type=PatchType.MERGE,
    )  # fmt: skip
    wait_for(
        lambda: {s["value"][1] for s in _query(prometheus.url, promql)} == {"0"},
        "the new utilisation scraped",
        60,
    )
    engine = _query(
        prometheus.url, promql.replace("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_PROF_GR_ENGINE_ACTIVE")
    )
    assert {s["value"][1] for s in engine} == {"0"}
    kube.delete(Pod, "train", namespace=namespace, grace_period=0)
