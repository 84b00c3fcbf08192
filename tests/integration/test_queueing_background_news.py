"""Waiting reasons written in the background never undo a newer write, on the dev cluster.

The operator writes waiting reasons while the next pass runs (`Controller._send_news`),
so one may land after that pass wrote something newer to the same Workload (say its
admission). Each such write carries the resourceVersion it was decided on: the API
server refuses it with 409 Conflict, the write is dropped without a problem line, and
the newer status stays. Here the newer write lands first for certain: the decision is
made, then the Workload's status is changed, then the decided reason is sent.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from lightkube import Client
from queueing_setup import API, Workload, conditions, gpu_queue, workload

from quarterdeck.api.queueing.workload import Workload as ApiWorkload
from quarterdeck.queueing import cycle
from quarterdeck.queueing.controller import Controller, rfc3339
from quarterdeck.queueing.decisions import Pending
from quarterdeck.queueing.live import read_view
from quarterdeck.queueing.writes import PassReport

pytestmark = pytest.mark.integration
NEWER = "written after the decision"


def _waiting_workload(namespace: str) -> dict[str, Any]:
    container = {"name": "c", "image": "c", "resources": {"requests": {"nvidia.com/gpu": "2"}}}
    return {
        "apiVersion": API,
        "kind": "Workload",
        "metadata": {"name": "wait", "namespace": namespace},
        "spec": {
            "queueName": "training",
            "podSets": [{"name": "main", "count": 1, "template": {"spec": {
                "containers": [container]}}}],
        },
    }  # fmt: skip


def _decided(controller: Controller, key: str) -> tuple[dict[str, ApiWorkload], Pending]:
    """The Workloads as the pass saw them and the waiting reason it decided for `key`."""
    snapshot, objects, _ = controller.view.snapshot(time.time())
    seen = {
        f"{o.metadata.namespace}/{o.metadata.name}": o
        for o in objects
        if isinstance(o, ApiWorkload)
    }
    pending = next(p for p in cycle(snapshot).pending if p.workload.key == key)
    return seen, pending


def _write_newer(controller: Controller, namespace: str) -> None:
    """A newer status, written as the next pass would (unguarded, it always lands)."""
    cond = {"type": "QuotaReserved", "status": "False", "reason": "Newer", "message": NEWER,
            "lastTransitionTime": rfc3339(time.time())}  # fmt: skip
    report = PassReport()
    assert controller.writes.patch_status(namespace, "wait", {"conditions": [cond]}, report)
    assert report.problems == []


def test_a_stale_background_waiting_reason_gets_409_and_is_dropped(
    kube: Client, namespace: str
) -> None:
    key = f"{namespace}/wait"
    with gpu_queue(kube, namespace, nominal=1):  # 2 GPUs never fit: it waits
        kube.create(Workload.from_dict(_waiting_workload(namespace)))
        controller = Controller(kube, read_view(kube), in_background=True)
        seen, pending = _decided(controller, key)
        decided_on = seen[key].metadata.resource_version
        _write_newer(controller, namespace)
        assert workload(kube, namespace, "wait")["metadata"]["resourceVersion"] != decided_on

        sent: list[bool] = []

        def wait(pen: Pending, told: PassReport) -> None:
            sent.append(controller._record(seen, key, pen, rfc3339(time.time()), told, 0.0))

        controller._send_news([pending], wait)
        controller.writes.pool.shutdown(wait=True)  # the background write has answered
        assert sent == [False]  # refused by the API server (409) and dropped
        late = PassReport()
        controller.news.collect(late)
        assert late.problems == []  # no problem line for it
        assert controller.news.busy() == set()
        now = conditions(workload(kube, namespace, "wait"))["QuotaReserved"]
        assert (now["reason"], now["message"]) == ("Newer", NEWER)  # the newer write stays

        # The same reason decided on the current object lands: the guard was the cause.
        fresh = Controller(kube, read_view(kube), in_background=True)
        seen, pending = _decided(fresh, key)
        report = PassReport()
        assert fresh._record(seen, key, pending, rfc3339(time.time()), report, 0.0)
        assert report.problems == []
        landed = conditions(workload(kube, namespace, "wait"))["QuotaReserved"]
        assert (landed["reason"], landed["message"]) == (pending.reason, pending.message)
