"""Staged pods on the dev cluster: with `spec.staging.enable`, the Job next in line has
its pod created by the real job controller while it waits, behind our gate; a Job is
tried only once its pods exist; the pass that admits it pins that pod to the chosen
node and lifts the gate, and its quota is free again once the pod has succeeded (kwok
runs it for its annotated duration).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from lightkube import Client, codecs
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType
from queueing_setup import (
    Workload,
    as_dict,
    conditions,
    gpu_job,
    gpu_queue,
    passes_until,
    queueing_config,
    workload,
)

from quarterdeck.kube.wait import wait_for
from quarterdeck.queueing.controller import reconcile_once
from quarterdeck.queueing.jobs import STAGED, gated, pinned_node
from quarterdeck.queueing.writes import PassReport

pytestmark = pytest.mark.integration
STAGING = {"staging": {"enable": True}}


def _pods(kube: Client, namespace: str, job: str) -> list[dict[str, Any]]:
    selector = {"batch.kubernetes.io/job-name": job}
    return [as_dict(p) for p in kube.list(Pod, namespace=namespace, labels=selector)]


def test_the_next_job_waits_with_its_pod_gated_and_starts_in_the_pass_that_admits_it(
    kube: Client, namespace: str
) -> None:
    with gpu_queue(kube, namespace, nominal=8), queueing_config(kube, STAGING):
        kube.create(codecs.from_dict(gpu_job(namespace, "first", duration="4s")))
        # Room now, but no pods yet: staged in the pass that made its Workload, and
        # admitted (its gate lifted in that same pass) once the job controller made them.
        creating = reconcile_once(kube, time.time())
        assert creating.staged == [f"{namespace}/first"] and not creating.admitted, creating
        first = wait_for(lambda: _pods(kube, namespace, "first") or None, "the first pod", 60)
        admitting = reconcile_once(kube, time.time())
        assert admitting.admitted == [f"{namespace}/job-first"], admitting
        assert admitting.released == [f"{namespace}/{first[0]['metadata']['name']}"], admitting
        kube.create(codecs.from_dict(gpu_job(namespace, "next", duration="2s")))
        waiting = reconcile_once(kube, time.time())  # its Workload, waiting: staged
        assert waiting.pending == [f"{namespace}/job-next"], waiting
        assert waiting.staged == [f"{namespace}/next"], waiting
        job = as_dict(kube.get(Job, "next", namespace=namespace))
        assert job["spec"]["suspend"] is False and STAGED in job["metadata"]["annotations"]
        # The job controller creates the pod now; it waits behind our gate, on no node.
        pods = wait_for(lambda: _pods(kube, namespace, "next") or None, "the staged pod", 60)
        assert len(pods) == 1 and gated(pods[0]) and not pods[0]["spec"].get("nodeName")
        again = reconcile_once(kube, time.time())  # not "running unadmitted": not suspended
        assert not again.suspended and not again.staged, again
        assert as_dict(kube.get(Job, "next", namespace=namespace))["spec"]["suspend"] is False
        created = pods[0]["metadata"]["creationTimestamp"]

        def admitted(reports: list[PassReport]) -> PassReport | None:
            return next((r for r in reports if f"{namespace}/job-next" in r.admitted), None)

        admitting, _ = passes_until(kube, admitted, "the first Job to free the quota", 60)
        # The same pass lifted the gate of the pod made before the admission.
        pod_name = pods[0]["metadata"]["name"]
        assert admitting.released == [f"{namespace}/{pod_name}"], admitting
        reserved = conditions(workload(kube, namespace, "job-next"))["QuotaReserved"]
        assert created <= reserved["lastTransitionTime"]
        pod = as_dict(kube.get(Pod, pod_name, namespace=namespace))
        assert not gated(pod) and pinned_node(pod) is not None

        def finished(reports: list[PassReport]) -> bool | None:
            return True if any(f"{namespace}/job-next" in r.finished for r in reports) else None

        passes_until(kube, finished, "the staged Job's quota to be freed", 60)
        done = conditions(workload(kube, namespace, "job-next"))["Finished"]
        assert done["status"] == "True", done


def test_a_staged_job_whose_workload_is_deactivated_is_suspended_again(
    kube: Client, namespace: str
) -> None:
    with gpu_queue(kube, namespace, nominal=8), queueing_config(kube, STAGING):
        kube.create(codecs.from_dict(gpu_job(namespace, "first", duration="1h")))
        reconcile_once(kube, time.time())  # staged
        wait_for(lambda: _pods(kube, namespace, "first") or None, "the first pod", 60)
        assert reconcile_once(kube, time.time()).admitted == [f"{namespace}/job-first"]
        kube.create(codecs.from_dict(gpu_job(namespace, "next")))
        assert reconcile_once(kube, time.time()).staged == [f"{namespace}/next"]
        wait_for(lambda: _pods(kube, namespace, "next") or None, "the staged pod", 60)
        patch = {"spec": {"active": False}}
        kube.patch(Workload, "job-next", patch, namespace=namespace, patch_type=PatchType.MERGE)
        wait_for(
            lambda: workload(kube, namespace, "job-next")["spec"].get("active") is False,
            "the deactivation",
            30,
        )
        report = reconcile_once(kube, time.time())
        assert report.suspended == [f"{namespace}/next"], report
        wait_for(lambda: not _pods(kube, namespace, "next"), "the gated pod to go", 60)
