"""A GPU share taken outside the queue is seen by the queue's placement: a pod created
directly (no queued Job) with `quarterdeck.dev/gpu-milli: "500"` counts as half a GPU
used on its node, as the same pod admitted through the queue would (see
tests/unit/test_showback_share.py for the one reading of the annotation)."""

from __future__ import annotations

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Pod
from queueing_setup import install_crds
from showback_setup import pod, running

from quarterdeck.api.queueing.workload import GPU_SHARE_ANNOTATION
from quarterdeck.kube.wait import wait_for
from quarterdeck.queueing.live import LiveView

pytestmark = pytest.mark.integration
GPU = "nvidia.com/gpu"


def used_by_node(kube: Client) -> dict[str, int]:
    """Milli-GPUs in use per node as the queueing controller's node state has them."""
    view = LiveView(kube)
    view.fill()
    return {n.name: n.used.get(GPU, 0) for n in view.node_list(view.queued_jobs())}


def test_a_share_pod_outside_the_queue_counts_as_used_on_its_node(
    kube: Client, namespace: str
) -> None:
    install_crds(kube)  # the queueing kinds the view lists
    before = used_by_node(kube)
    for name, share in (("direct", "500"), ("bad", "half")):
        kube.create(
            pod(namespace, name, "t", "50", "gpu-h100-8", {}, {GPU_SHARE_ANNOTATION: share})
        )
    wait_for(lambda: running(kube, namespace, {"direct", "bad"}), "both share pods running", 60)
    node = kube.get(Pod, "direct", namespace=namespace).spec.nodeName  # type: ignore[union-attr]
    after = used_by_node(kube)  # a bad annotation hurts only its pod: nothing raises
    assert after[node] - before.get(node, 0) == 500
    assert sum(after.values()) - sum(before.values()) == 500  # the bad share asks nothing
