"""Every queueing pass completes what an earlier, interrupted one left half done.

A kill -9 between "Workload status written" and "Job unsuspended" is replayed here by
stopping a pass at exactly that point (its Job patch raises); the next pass, over a
fresh view as a restarted operator would have, unsuspends the Job. A Workload
deleted while a pass holds it in its view costs one problem line, not the pass.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from lightkube import Client, codecs
from lightkube.resources.batch_v1 import Job
from lightkube.types import PatchType
from queueing_setup import (
    ClusterQueue,
    Workload,
    as_dict,
    conditions,
    cq_usage,
    gpu_job,
    gpu_queue,
    workload,
)

from quarterdeck.queueing.controller import Controller, reconcile_once
from quarterdeck.queueing.live import read_view
from quarterdeck.queueing.writes import PassReport

pytestmark = pytest.mark.integration


class Killed(BaseException):
    """The operator died here."""


def test_a_pass_killed_before_unsuspending_is_completed_by_the_next(
    kube: Client, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with gpu_queue(kube, namespace, nominal=8) as cq:
        kube.create(codecs.from_dict(gpu_job(namespace, "train", duration="10m")))
        controller = Controller(kube, read_view(kube))
        patch_job = controller.writes.patch_job

        def die_on_unsuspend(
            job: dict[str, Any], patch: dict[str, Any], report: PassReport
        ) -> bool:
            if patch.get("spec", {}).get("suspend") is False:
                raise Killed
            return patch_job(job, patch, report)

        monkeypatch.setattr(controller.writes, "patch_job", die_on_unsuspend)
        with pytest.raises(Killed):
            controller.reconcile(time.time())
        wl = workload(kube, namespace, "job-train")
        assert conditions(wl)["Admitted"]["status"] == "True"  # the status was written
        assert as_dict(kube.get(Job, "train", namespace=namespace))["spec"]["suspend"] is True

        report = reconcile_once(kube, time.time())
        assert f"{namespace}/train" in report.resumed
        assert not as_dict(kube.get(Job, "train", namespace=namespace))["spec"]["suspend"]
        assert (
            workload(kube, namespace, "job-train")["status"]["admission"]
            == wl["status"]["admission"]
        )
        assert cq_usage(kube, cq) == (8, 1)


def test_a_workload_deleted_during_a_pass_does_not_abort_it(kube: Client, namespace: str) -> None:
    with gpu_queue(kube, namespace, nominal=0) as cq:
        for name in ("gone", "stays"):
            kube.create(codecs.from_dict(gpu_job(namespace, name, gpus=4)))
        first = reconcile_once(kube, time.time())  # Workloads created, no quota: pending
        assert {f"{namespace}/job-gone", f"{namespace}/job-stays"} <= set(first.pending)
        quota = {
            "spec": {
                "resourceGroups": as_dict(kube.get(ClusterQueue, cq))["spec"]["resourceGroups"]
            }
        }
        quota["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] = 8
        kube.patch(ClusterQueue, cq, quota, patch_type=PatchType.MERGE)
        view = read_view(kube)  # the pass's view still holds job-gone ...
        kube.delete(Workload, "job-gone", namespace=namespace)  # ... which is deleted now
        report = Controller(kube, view).reconcile(time.time())
        assert any(f"{namespace}/job-gone" in p and "not found" in p for p in report.problems)
        assert f"{namespace}/job-stays" in report.admitted
        assert not as_dict(kube.get(Job, "stays", namespace=namespace))["spec"]["suspend"]
