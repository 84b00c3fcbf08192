"""A finished Job frees its quota on the dev cluster: its pods run on kwok GPU nodes for
their annotated duration, the Job completes, the next controller pass marks its
Workload Finished, the ClusterQueue's usage drops, and the Job waiting behind it is
admitted in the same pass.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from lightkube import Client, codecs
from lightkube.resources.batch_v1 import Job
from queueing_setup import (
    as_dict,
    conditions,
    cq_usage,
    gpu_job,
    gpu_queue,
    passes_until,
    workload,
)

from quarterdeck.kube.wait import wait_for
from quarterdeck.queueing.controller import reconcile_once
from quarterdeck.queueing.writes import PassReport

pytestmark = pytest.mark.integration


@pytest.fixture
def eight_gpus(kube: Client, namespace: str) -> Iterator[str]:
    with gpu_queue(kube, namespace, nominal=8) as cq:
        yield cq


def test_finished_job_frees_its_quota_for_the_waiting_one(
    kube: Client, namespace: str, eight_gpus: str
) -> None:
    cq = eight_gpus
    kube.create(codecs.from_dict(gpu_job(namespace, "first", duration="3s")))
    first = reconcile_once(kube, time.time())
    assert first.admitted == [f"{namespace}/job-first"], first
    kube.create(codecs.from_dict(gpu_job(namespace, "second", duration="3s")))
    waiting = reconcile_once(kube, time.time())
    assert waiting.pending == [f"{namespace}/job-second"], waiting
    reason = conditions(workload(kube, namespace, "job-second"))["QuotaReserved"]
    assert reason["status"] == "False" and "needs 8 nvidia.com/gpu" in reason["message"], reason
    assert cq_usage(kube, cq) == (8, 1)  # the first Job holds the whole quota

    def first_finished(reports: list[PassReport]) -> PassReport | None:
        return next((r for r in reports if f"{namespace}/job-first" in r.finished), None)

    freed, _ = passes_until(kube, first_finished, "the first Job to finish", timeout=60)
    # Quota is freed once the Job's pods have succeeded; the job controller's Complete
    # condition may come later than that pass, so it is waited for, not assumed.
    assert conditions(workload(kube, namespace, "job-first"))["Finished"]["status"] == "True"
    wait_for(lambda: conditions(as_dict(kube.get(Job, "first", namespace=namespace)))
             .get("Complete", {}).get("status") == "True", "the first Job's Complete", 60)
    # Same pass: the quota the first Job held went to the one waiting for it.
    assert freed.admitted == [f"{namespace}/job-second"], freed
    assert not as_dict(kube.get(Job, "second", namespace=namespace))["spec"]["suspend"]

    def second_finished(reports: list[PassReport]) -> bool | None:
        return True if any(f"{namespace}/job-second" in r.finished for r in reports) else None

    passes_until(kube, second_finished, "the second Job to finish", timeout=60)
    assert cq_usage(kube, cq) == (0, 0)  # every GPU of the queue is free again
