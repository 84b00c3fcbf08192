"""`qd operator` runs the queueing controller beside delivery, on the dev cluster.

The operator is a subprocess; the test never calls a reconcile pass itself, and the
operator's interval is 30 s, so every step within the test's time comes from a pass
triggered by a watch event. Two labelled Jobs created unsuspended the moment the
operator says it is ready (the admission policy suspends them) share 8 GPUs of quota:
the operator admits one, pins its pod, the pod runs for its annotated duration on a
kwok H100 node, and the Job's completion frees the quota for the other. After a
restart the operator rebuilds the same accounting from the cluster: a running Job
keeps its admission and a new one waits. A labelled Job created while no operator
runs is stored suspended (nothing blocks the cluster meanwhile) and is admitted once
an operator is back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, Client, codecs
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod
from lightkube.types import CascadeType
from queueing_setup import as_dict, conditions, cq_usage, gpu_job, gpu_queue, workload

from quarterdeck.api import delivery as delivery_api
from quarterdeck.api.crd import crd
from quarterdeck.api.policy_crd import guardrail_crd
from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.kube.wait import wait_for
from quarterdeck.queueing.jobs import pinned_node

pytestmark = pytest.mark.integration


class Operator:
    """`qd operator` as a child process, logging to a file."""

    def __init__(self, kubeconfig: Path, workdir: Path) -> None:
        self.args = [
            str(Path(sys.executable).parent / "qd"), "operator",
            "--kubeconfig", str(kubeconfig),
            "--cache-dir", str(workdir / "cache"),
            "--tick", "30",  # passes come from watch events, not the interval
        ]  # fmt: skip
        self.log = workdir / "operator.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.logged = 0  # bytes of the log written by earlier runs

    def start(self) -> None:
        self.logged = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            env = os.environ | {"PYTHONUNBUFFERED": "1"}
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=out, env=env)

    def ready(self) -> bool:
        """This run of the operator logged that queueing is ready (caches synced, policy
        in force); a restarted one is not ready on its predecessor's line."""
        return self.log.exists() and b"queueing  ready" in self.log.read_bytes()[self.logged :]

    def stop(self) -> int:
        """Interrupt it (as Ctrl-C would) and wait."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def _delivery_crds() -> list[dict[str, Any]]:
    return [*(crd(kind) for kind in delivery_api.KINDS), guardrail_crd()]


def _served(kube: Client) -> bool:
    try:
        for manifest in _delivery_crds():
            spec = manifest["spec"]
            args = (spec["group"], spec["versions"][0]["name"], spec["names"]["kind"])
            plural = spec["names"]["plural"]
            if spec["scope"] == "Namespaced":
                list(kube.list(create_namespaced_resource(*args, plural), namespace="*"))
            else:
                list(kube.list(create_global_resource(*args, plural)))
    except ApiError:
        return False
    return True


@pytest.fixture
def operator(kube: Client, dev_cluster: RunningCluster, tmp_path: Path) -> Iterator[Operator]:
    # The delivery loop stops on an API error at its first pass, which a CRD created a
    # moment before can still give ("storage is (re)initializing"): serve them first.
    for manifest in _delivery_crds():
        kube.apply(codecs.from_dict(manifest), force=True)
    wait_for(lambda: _served(kube), "the delivery CRDs to be served", 60)
    op = Operator(dev_cluster.kubeconfig, tmp_path)
    try:
        yield op
    finally:
        if op.proc is not None and op.proc.poll() is None:
            op.stop()


def _job(kube: Client, namespace: str, name: str) -> dict[str, Any]:
    return as_dict(kube.get(Job, name, namespace=namespace))


def _workload(kube: Client, namespace: str, name: str) -> dict[str, Any]:
    """The Workload, or {} while the operator has not created it yet."""
    try:
        return workload(kube, namespace, name)
    except ApiError:
        return {}


def _pod_ended(kube: Client, namespace: str, job: dict[str, Any]) -> datetime:
    """When the last container of the Job's pods terminated."""
    selector = {"batch.kubernetes.io/job-name": job["metadata"]["name"]}
    ends = [
        _time(c["state"]["terminated"]["finishedAt"])
        for pod in kube.list(Pod, namespace=namespace, labels=selector)
        for c in as_dict(pod)["status"].get("containerStatuses") or []
        if "terminated" in c.get("state", {})
    ]
    return max(ends)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_operator_admits_runs_and_frees_quota_and_survives_a_restart(
    kube: Client, namespace: str, operator: Operator
) -> None:
    with gpu_queue(kube, namespace, nominal=8) as cq:
        operator.start()
        wait_for(operator.ready, "the operator to report ready", 180, interval=0.001)
        for name in ("first", "second"):  # not suspended: the admission policy does that
            body = gpu_job(namespace, name, duration="2s", suspend=False)
            stored = as_dict(kube.create(codecs.from_dict(body)))
            assert stored["spec"]["suspend"] is True

        def complete(name: str) -> dict[str, Any] | None:
            job = _job(kube, namespace, name)
            return job if conditions(job).get("Complete", {}).get("status") == "True" else None

        first = wait_for(lambda: complete("first"), "the first Job to complete", 90)
        second = wait_for(lambda: complete("second"), "the second Job to complete", 90)
        # 8 GPUs of quota for two 8-GPU Jobs: one ran after the other's pod ended (its
        # quota is free then, before the job controller marks the Job Complete).
        earlier, later = sorted((first, second), key=lambda j: j["status"]["startTime"])
        assert _time(later["status"]["startTime"]) >= _pod_ended(kube, namespace, earlier)
        for name in ("first", "second"):

            def finished(key: str = f"job-{name}") -> dict[str, Any] | None:
                wl = workload(kube, namespace, key)
                return wl if conditions(wl).get("Finished", {}).get("status") == "True" else None

            wl = wait_for(finished, f"the Workload of {name} to be Finished", 30)
            (psa,) = wl["status"]["admission"]["podSetAssignments"]
            (domain,) = psa["topologyAssignment"]["domains"]
            pods = [
                as_dict(p)
                for p in kube.list(
                    Pod, namespace=namespace, labels={"batch.kubernetes.io/job-name": name}
                )
            ]
            assert [pinned_node(p) for p in pods] == domain["values"]  # where we decided
            assert [p["spec"]["nodeName"] for p in pods] == domain["values"]
        wait_for(lambda: cq_usage(kube, cq) == (0, 0) or None, "the quota to be free", 30)

        # A long Job holds the quota; the accounting must survive a restart.
        kube.create(codecs.from_dict(gpu_job(namespace, "long", duration="10m", suspend=False)))

        def admitted(name: str) -> dict[str, Any] | None:
            wl = _workload(kube, namespace, f"job-{name}")
            return wl if (wl.get("status") or {}).get("admission") else None

        before = wait_for(lambda: admitted("long"), "the long Job's admission", 60)
        wait_for(lambda: cq_usage(kube, cq) == (8, 1) or None, "usage of the long Job", 30)
        assert operator.stop() in (0, 130)

        # No operator runs: a labelled Job is stored suspended and simply waits, and
        # nothing blocks other Jobs (no webhook is left to refuse them).
        late = as_dict(kube.create(codecs.from_dict(gpu_job(namespace, "late", suspend=False))))
        assert late["spec"]["suspend"] is True
        plain = gpu_job(namespace, "plain", gpus=0, suspend=False)
        del plain["metadata"]["labels"]
        assert not as_dict(kube.create(codecs.from_dict(plain)))["spec"].get("suspend")

        operator.start()
        wait_for(operator.ready, "the restarted operator to report ready", 180)

        def waiting() -> dict[str, Any] | None:
            reserved = conditions(_workload(kube, namespace, "job-late")).get("QuotaReserved")
            return reserved if reserved and reserved["status"] == "False" else None

        reason = wait_for(waiting, "the late Job to be seen and left waiting", 60)
        assert reason["reason"] == "Pending" and "needs 8 nvidia.com/gpu" in reason["message"]
        after = workload(kube, namespace, "job-long")
        assert after["status"]["admission"] == before["status"]["admission"]
        assert cq_usage(kube, cq) == (8, 1)
        assert _job(kube, namespace, "late")["spec"]["suspend"] is True
        assert not _job(kube, namespace, "long")["spec"]["suspend"]

        # The Job created while no operator ran is admitted once the quota is free.
        kube.delete(Job, "long", namespace=namespace, cascade=CascadeType.BACKGROUND)
        wait_for(lambda: admitted("late"), "the late Job's admission", 60)
        wait_for(lambda: not _job(kube, namespace, "late")["spec"]["suspend"], "late to run", 30)
