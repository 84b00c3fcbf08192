"""No labelled Job bypasses the queue, on the dev cluster's API server.

The API server itself stores a Job created with a queue-name label suspended (the
MutatingAdmissionPolicy), once `admission.in_force` says so: the policy is applied a
moment after it is stored, which is the race the old webhook test lost. A Job that
escapes the policy (the label added after creation) and runs is suspended by the next
controller pass, and its Workload and an Event on the Job say why it waits.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from lightkube import Client, codecs
from lightkube.resources.admissionregistration_v1 import MutatingWebhookConfiguration
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event
from lightkube.types import PatchType
from queueing_setup import as_dict, clean_up, conditions, gpu_job, install_crds, workload

from quarterdeck.kube.wait import wait_for
from quarterdeck.queueing import admission
from quarterdeck.queueing.controller import reconcile_once
from quarterdeck.queueing.operator import JobEvents

pytestmark = pytest.mark.integration


def _plain_job(namespace: str, name: str) -> dict[str, Any]:
    # An hour long: a Job that finished before the pass would have nothing to suspend.
    body = gpu_job(namespace, name, gpus=0, suspend=False, duration="1h")
    del body["metadata"]["labels"]
    return body


@pytest.fixture
def cleaned(kube: Client, namespace: str) -> Iterator[str]:
    """The test namespace, emptied of Jobs and Workloads at the end (later tests run
    cluster-wide passes and must not meet these). The CRDs are installed first: the
    clean-up lists Workloads, and this file may be the first to run on a new cluster."""
    install_crds(kube)
    yield namespace
    clean_up(kube, namespace)


def test_queued_jobs_are_stored_suspended(kube: Client, cleaned: str) -> None:
    namespace = cleaned
    admission.install(kube)
    wait_for(partial(admission.in_force, kube, namespace), "the policy to be in force", 30)
    queued = gpu_job(namespace, "queued", suspend=False)
    kueue = gpu_job(namespace, "kueue", suspend=False)
    kueue["metadata"]["labels"] = {"kueue.x-k8s.io/queue-name": "training"}
    for body in (queued, kueue):
        assert as_dict(kube.create(codecs.from_dict(body)))["spec"]["suspend"] is True
    kube.create(codecs.from_dict(_plain_job(namespace, "plain")))
    assert not as_dict(kube.get(Job, "plain", namespace=namespace))["spec"].get("suspend")
    assert as_dict(kube.get(Job, "queued", namespace=namespace))["spec"]["suspend"] is True


def test_a_running_job_labelled_for_a_missing_queue_is_suspended_and_told_why(
    kube: Client, cleaned: str
) -> None:
    namespace = cleaned
    install_crds(kube)
    kube.create(codecs.from_dict(_plain_job(namespace, "sneaky")))  # runs: no label yet
    label = {"metadata": {"labels": {"queueing.quarterdeck.dev/queue-name": "nope"}}}
    kube.patch(Job, "sneaky", label, namespace=namespace, patch_type=PatchType.MERGE)
    events_out = JobEvents(kube)
    report = reconcile_once(kube, 0.0, recorder=events_out)
    events_out.flush()
    assert not [p for p in report.problems if namespace in p]
    assert f"{namespace}/sneaky" in report.suspended
    assert as_dict(kube.get(Job, "sneaky", namespace=namespace))["spec"]["suspend"] is True
    reserved = conditions(workload(kube, namespace, "job-sneaky"))["QuotaReserved"]
    assert reserved["status"] == "False" and reserved["reason"] == "Inadmissible"
    assert reserved["message"] == f"LocalQueue {namespace}/nope not found"
    events = {
        (e.reason, e.message)
        for e in kube.list(Event, namespace=namespace, fields={"involvedObject.name": "sneaky"})
    }
    assert ("Inadmissible", f"LocalQueue {namespace}/nope not found") in events
    assert any(reason == "Suspended" for reason, _ in events)
    # The next pass has nothing left to do to it.
    again = reconcile_once(kube, 1.0)
    assert not again.suspended and not again.resumed and f"{namespace}/job-sneaky" in again.pending


def test_install_removes_the_webhook_earlier_versions_left(kube: Client) -> None:
    legacy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": admission.LEGACY_WEBHOOK},
        "webhooks": [
            {
                "name": "job0.queueing.quarterdeck.dev",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "clientConfig": {"url": "https://127.0.0.1:1/mutate"},
                "objectSelector": {
                    "matchExpressions": [
                        {"key": "queueing.quarterdeck.dev/queue-name", "operator": "Exists"}
                    ]
                },
                "rules": [
                    {
                        "apiGroups": ["batch"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["jobs"],
                    }
                ],
            }
        ],
    }
    kube.apply(codecs.from_dict(legacy), force=True)
    admission.install(kube)
    names = [w.metadata.name for w in kube.list(MutatingWebhookConfiguration) if w.metadata]
    assert admission.LEGACY_WEBHOOK not in names
