"""Admission decisions of the controller on labelled Jobs on the dev cluster (2 H100
nodes of 8 GPUs): a gang that fits the quota but not the nodes waits and says why
(in its Workload and in `qd queue why`), and StrictFIFO holds a small Job behind a
head that does not fit while BestEffortFIFO admits it.
"""

from __future__ import annotations

import json
import time

import pytest
from lightkube import Client, codecs
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod
from queueing_setup import as_dict, conditions, cq_usage, gpu_job, gpu_queue, workload
from typer.testing import CliRunner

from quarterdeck.cli.main import app
from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.queueing.controller import reconcile_once

pytestmark = pytest.mark.integration


def test_gang_that_fits_quota_but_not_nodes_waits_and_says_why(
    kube: Client, namespace: str, dev_cluster: RunningCluster
) -> None:
    with gpu_queue(kube, namespace, nominal=32) as cq:
        # 4 pods x 8 GPUs = 32 GPUs: within quota, but only 2 H100 nodes of 8 exist.
        kube.create(codecs.from_dict(gpu_job(namespace, "gang", pods=4)))
        first = reconcile_once(kube, time.time())
        assert first.pending == [f"{namespace}/job-gang"] and not first.admitted, first
        again = reconcile_once(kube, time.time())  # the next pass decides the same
        assert again.pending == [f"{namespace}/job-gang"] and not again.admitted, again

        reserved = conditions(workload(kube, namespace, "job-gang"))["QuotaReserved"]
        expected = (
            f"flavor h100-{namespace} has quota but 2 matching nodes hold 2 of 4 pods "
            "(at most 1 on one node)"
        )
        assert (reserved["status"], reserved["reason"]) == ("False", "Pending")
        assert reserved["message"] == expected
        assert as_dict(kube.get(Job, "gang", namespace=namespace))["spec"]["suspend"] is True
        assert not list(kube.list(Pod, namespace=namespace))  # nothing sits Pending on nodes
        assert cq_usage(kube, cq) == (0, 0)

        result = CliRunner().invoke(
            app,
            [
                "queue", "why", "job-gang", "-n", namespace,
                "--kubeconfig", str(dev_cluster.kubeconfig), "-o", "json",
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        answer = json.loads(result.stdout)
        assert answer["state"] == "Pending" and answer["message"] == expected


@pytest.mark.parametrize("strategy", ["StrictFIFO", "BestEffortFIFO"])
def test_strict_fifo_blocks_behind_its_head_best_effort_does_not(
    kube: Client, namespace: str, strategy: str
) -> None:
    with gpu_queue(kube, namespace, nominal=16, strategy=strategy):
        kube.create(codecs.from_dict(gpu_job(namespace, "running", pods=1, duration="1h")))
        assert reconcile_once(kube, time.time()).admitted == [f"{namespace}/job-running"]
        # The head needs 16 GPUs with 8 free; the small Job behind it needs 8.
        kube.create(codecs.from_dict(gpu_job(namespace, "head", pods=2)))
        head = reconcile_once(kube, time.time())
        assert head.pending == [f"{namespace}/job-head"], head
        time.sleep(1.1)  # creation times have one-second resolution: small is newer
        kube.create(codecs.from_dict(gpu_job(namespace, "small", pods=1)))
        after = reconcile_once(kube, time.time())

        small = conditions(workload(kube, namespace, "job-small")).get("QuotaReserved")
        suspended = as_dict(kube.get(Job, "small", namespace=namespace))["spec"]["suspend"]
        if strategy == "StrictFIFO":
            assert not after.admitted, after
            assert small is not None and small["reason"] == "Blocked"
            assert small["message"] == (
                f"waiting behind {namespace}/job-head at the head of "
                f"StrictFIFO ClusterQueue cq-{namespace}"
            )
            assert suspended is True
        else:
            assert after.admitted == [f"{namespace}/job-small"], after
            assert small is not None and small["status"] == "True"
            assert suspended is False
        head_reason = conditions(workload(kube, namespace, "job-head"))["QuotaReserved"]
        assert (head_reason["status"], head_reason["reason"]) == ("False", "Pending")
