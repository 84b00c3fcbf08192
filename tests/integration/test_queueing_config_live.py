"""The live pass reads the cluster's QueueingConfig through the functions the simulator
applies to the same document in a file (`placer_from`, `configure`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from lightkube import Client, codecs
from lightkube.generic_resource import create_global_resource
from queueing_setup import conditions, gpu_job, gpu_queue, install_crds, workload

from quarterdeck.api.queueing import GROUP, VERSION
from quarterdeck.queueing.controller import Controller
from quarterdeck.queueing.live import read_view

pytestmark = pytest.mark.integration

Config = create_global_resource(GROUP, VERSION, "QueueingConfig", "queueingconfigs")


def _config(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "QueueingConfig",
        "metadata": {"name": "default"},
        "spec": spec,
    }


@pytest.fixture
def cluster_config(kube: Client) -> Iterator[None]:
    """The cluster-wide `default` QueueingConfig is removed again, whatever the test did."""
    install_crds(kube)
    yield
    kube.delete(Config, "default")


def test_a_pass_places_and_shares_as_the_clusters_queueing_config_says(
    kube: Client, namespace: str, cluster_config: None
) -> None:
    spec = {"placement": {"policy": "fgd"}, "fairSharing": {"enable": True}}
    kube.apply(codecs.from_dict(_config(spec)), field_manager="quarterdeck-tests", force=True)
    with gpu_queue(kube, namespace, nominal=8):
        kube.create(codecs.from_dict(gpu_job(namespace, "train", gpus=2, duration="10m")))
        controller = Controller(kube, read_view(kube))
        report = controller.reconcile(time.time())
        assert controller.placer.policy == "fgd"  # type: ignore[attr-defined]
        assert controller.config.fair_sharing
        assert report.admitted == [f"{namespace}/job-train"], report
        assert conditions(workload(kube, namespace, "job-train"))["Admitted"]["status"] == "True"


def test_a_refused_queueing_config_names_its_field_and_the_pass_goes_on(
    kube: Client, namespace: str, cluster_config: None
) -> None:
    bad = {"placement": {"policy": "no-such-policy"}}
    kube.apply(codecs.from_dict(_config(bad)), field_manager="quarterdeck-tests", force=True)
    with gpu_queue(kube, namespace, nominal=8):
        kube.create(codecs.from_dict(gpu_job(namespace, "train", duration="10m")))
        controller = Controller(kube, read_view(kube))
        report = controller.reconcile(time.time())
        (problem,) = [p for p in report.problems if "QueueingConfig" in p]
        assert "no-such-policy" in problem and "(using the defaults)" in problem, problem
        assert controller.placer.policy == "bestfit"  # type: ignore[attr-defined]
        assert report.admitted == [f"{namespace}/job-train"], report
