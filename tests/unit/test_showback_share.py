"""A share of one GPU (`quarterdeck.dev/gpu-milli`) is what the queue charges and what
showback prices: one reading of the annotation, in `pod_requests`."""

from __future__ import annotations

from typing import Any

import pytest
from queueing_scenarios import queue_manifests

from quarterdeck.api.queueing import load_manifests
from quarterdeck.api.queueing.quantity import QuantityError
from quarterdeck.api.queueing.workload import GPU_SHARE_ANNOTATION, pod_requests
from quarterdeck.queueing import admission_of, cycle, snapshot_from_objects
from quarterdeck.showback.claims import claim_of

QUEUE = queue_manifests("h100", "nvidia.com/gpu", 1, "team-a", "notebooks")
SHARE = """
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: Workload
metadata: {{name: {name}, namespace: team-a, creationTimestamp: "2031-01-06T00:0{i}:00Z"}}
spec:
  queueName: notebooks
  podSets:
  - name: main
    count: 1
    template:
      metadata:
        annotations: {{quarterdeck.dev/gpu-milli: "{milli}"}}
      spec:
        containers: [{{name: nb, resources: {{}}}}]
"""


def template(share: str | None, **limits: str) -> dict[str, Any]:
    notes = {GPU_SHARE_ANNOTATION: share} if share is not None else {}
    return {
        "metadata": {"name": "nb", "namespace": "team-a", "annotations": notes},
        "spec": {"containers": [{"name": "nb", "resources": {"limits": limits}}]},
    }


def test_a_share_is_counted_as_milli_gpus_only_without_whole_gpus_or_mig() -> None:
    assert pod_requests(template("500", cpu="2"), "t") == {"cpu": 2000, "nvidia.com/gpu": 500}
    assert pod_requests(template("500", **{"nvidia.com/gpu": "1"}), "t") == {"nvidia.com/gpu": 1000}
    mig = {"nvidia.com/mig-1g.10gb": "1"}
    assert pod_requests(template("500", **mig), "t") == {"nvidia.com/mig-1g.10gb": 1000}
    assert pod_requests(template(None), "t") == {}


@pytest.mark.parametrize("bad", ["0", "1000", "0.5", "half"])
def test_a_bad_share_is_refused_naming_the_annotation(bad: str) -> None:
    with pytest.raises(
        QuantityError, match=r"^t\.metadata\.annotations\[quarterdeck\.dev/gpu-milli\]"
    ):
        pod_requests(template(bad), "t")


def test_showback_prices_the_share_the_queue_reads() -> None:
    claim = claim_of(template("250"))
    assert (claim.kind, claim.gpu_milli) == ("share", 250)


def test_the_queue_charges_shares_against_gpu_quota() -> None:
    """One GPU of quota: two 500m shares are admitted, a third (300m) waits."""
    text = QUEUE + "".join(
        SHARE.format(name=n, i=i, milli=m)
        for i, (n, m) in enumerate([("nb-1", 500), ("nb-2", 500), ("nb-3", 300)])
    )
    decisions = cycle(snapshot_from_objects(load_manifests(text)))
    admitted = {a.workload.key: admission_of(a) for a in decisions.admitted}
    assert sorted(admitted) == ["team-a/nb-1", "team-a/nb-2"]
    usage = admitted["team-a/nb-1"].pod_set_assignments[0].resource_usage
    assert usage == {"nvidia.com/gpu": "500m"}
    assert [p.workload.key for p in decisions.pending] == ["team-a/nb-3"]
