"""The finisher frees a Job's quota from the pod event, without a pass: on the dev
cluster, once kwok has run the pod of an admitted Job for its duration, `Finisher`
(fed by the real informers) writes the Workload Finished, and only then."""

from __future__ import annotations

import time

import pytest
from lightkube import Client, codecs
from queueing_setup import conditions, gpu_job, gpu_queue, workload

from quarterdeck.kube.informer import SharedInformers
from quarterdeck.kube.wait import wait_for
from quarterdeck.queueing.controller import FIELD_MANAGER, reconcile_once
from quarterdeck.queueing.finisher import Finisher
from quarterdeck.queueing.live import LiveView
from quarterdeck.queueing.operator import describe
from quarterdeck.queueing.writes import PassReport, Writes

pytestmark = pytest.mark.integration


def test_the_last_pod_succeeding_marks_the_workload_finished_without_a_pass(
    kube: Client, namespace: str
) -> None:
    with gpu_queue(kube, namespace, nominal=8):
        kube.create(codecs.from_dict(gpu_job(namespace, "short", duration="2s")))
        assert reconcile_once(kube, time.time()).admitted == [f"{namespace}/job-short"]
        view = LiveView(kube)
        informers = SharedInformers(kube)
        view.attach(informers)
        informers.start()
        lines: list[str] = []
        try:
            wait_for(view.synced, "the caches", 60)
            finisher = Finisher(Writes(kube, view, FIELD_MANAGER), lines.append, describe)
            early = PassReport()
            finisher.finish(namespace, "short", early)
            assert early.finished == [] and early.problems == []  # its pod still runs

            def succeeded() -> bool:
                pods = view.job_pods(namespace, "short")
                return bool(pods) and all(p["status"].get("phase") == "Succeeded" for p in pods)

            wait_for(succeeded, "the pod to succeed", 60)
            report = PassReport()
            finisher.finish(namespace, "short", report)
            assert report.finished == [f"{namespace}/job-short"], report
            done = conditions(workload(kube, namespace, "job-short"))["Finished"]
            assert (done["status"], done["reason"]) == ("True", "PodsSucceeded")
            again = PassReport()
            finisher.finish(namespace, "short", again)  # Finished already: nothing to do
            assert again.finished == [] and again.problems == []
        finally:
            informers.stop()
