"""A manual AdmissionCheck on the dev cluster: quota is reserved, the Job waits
suspended until `qd queue check` says Ready, and a Rejected workload gives its quota
back and leaves the queue (deactivated, as Kueue does)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lightkube import Client, codecs
from lightkube.generic_resource import create_global_resource
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType
from queueing_setup import (
    API,
    ClusterQueue,
    as_dict,
    conditions,
    cq_usage,
    gpu_job,
    gpu_queue,
    install_crds,
    passes_until,
    workload,
)
from typer.testing import CliRunner

from quarterdeck.api.queueing import GROUP, VERSION
from quarterdeck.api.queueing.check import MANUAL
from quarterdeck.cli.main import app
from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.kube.wait import wait_for
from quarterdeck.queueing.jobs import JOB_NAME_LABEL

pytestmark = pytest.mark.integration

Check = create_global_resource(GROUP, VERSION, "AdmissionCheck", "admissionchecks")


@pytest.fixture
def approval(kube: Client, namespace: str) -> Iterator[str]:
    install_crds(kube)
    name = f"approval-{namespace}"[:63]
    body = {"apiVersion": API, "kind": "AdmissionCheck", "metadata": {"name": name}}
    kube.apply(Check.from_dict(body | {"spec": {"controllerName": MANUAL}}), force=True)
    yield name
    kube.delete(Check, name)


def test_a_manual_check_holds_the_job_until_ready_and_a_rejection_frees_quota(
    kube: Client, namespace: str, approval: str, dev_cluster: RunningCluster
) -> None:
    with gpu_queue(kube, namespace, nominal=8) as cq:
        checks = {"spec": {"admissionChecks": [approval]}}
        kube.patch(ClusterQueue, cq, checks, patch_type=PatchType.MERGE)
        kube.create(codecs.from_dict(gpu_job(namespace, "train", gpus=2, duration="10m")))
        kube.create(codecs.from_dict(gpu_job(namespace, "nope", gpus=4, duration="10m")))
        keys = {f"{namespace}/job-train", f"{namespace}/job-nope"}
        passes_until(
            kube, lambda rs: True if keys <= {k for r in rs for k in r.admitted} else None, "both"
        )
        wl = workload(kube, namespace, "job-train")
        conds = conditions(wl)
        assert conds["QuotaReserved"]["status"] == "True"
        assert (conds["Admitted"]["status"], conds["Admitted"]["reason"]) == (
            "False",
            "AdmissionChecksPending",
        )
        assert [(c["name"], c["state"]) for c in wl["status"]["admissionChecks"]] == [
            (approval, "Pending")
        ]
        assert as_dict(kube.get(Job, "train", namespace=namespace))["spec"]["suspend"] is True
        assert cq_usage(kube, cq) == (6, 0)  # reserved, not admitted
        active = conditions(as_dict(kube.get(Check, approval)))["Active"]
        assert active["status"] == "True"

        cfg = ["-n", namespace, "--kubeconfig", str(dev_cluster.kubeconfig)]
        ready = CliRunner().invoke(app, ["queue", "check", "job/train", approval, *cfg])
        assert ready.exit_code == 0, ready.output
        reject = ["queue", "check", "nope", approval, "--state", "Rejected"]
        rejected = CliRunner().invoke(app, [*reject, "--message", "no budget", *cfg])
        assert rejected.exit_code == 0, rejected.output
        passes_until(
            kube, lambda rs: True if f"{namespace}/train" in rs[-1].resumed else None, "resume"
        )
        assert not as_dict(kube.get(Job, "train", namespace=namespace))["spec"]["suspend"]
        assert conditions(workload(kube, namespace, "job-train"))["Admitted"]["status"] == "True"
        nope = workload(kube, namespace, "job-nope")
        reserved = conditions(nope)["QuotaReserved"]
        assert (reserved["status"], reserved["reason"]) == ("False", "AdmissionCheckRejected")
        assert "no budget" in reserved["message"]
        assert nope["spec"]["active"] is False
        passes_until(kube, lambda _: True if cq_usage(kube, cq) == (2, 1) else None, "usage")

        unknown = CliRunner().invoke(app, ["queue", "check", "train", "no-such-check", *cfg])
        assert unknown.exit_code == 2 and "AdmissionCheck no-such-check not found" in (
            unknown.output
        )


def test_a_checks_pod_set_updates_reach_the_jobs_pods(
    kube: Client, namespace: str, approval: str, dev_cluster: RunningCluster
) -> None:
    """Kueue's podSetUpdates: what the check asks for is on the template and on every
    pod the job controller makes from it, beside the flavor's own node labels."""
    with gpu_queue(kube, namespace, nominal=8) as cq:
        checks = {"spec": {"admissionChecks": [approval]}}
        kube.patch(ClusterQueue, cq, checks, patch_type=PatchType.MERGE)
        kube.create(codecs.from_dict(gpu_job(namespace, "prov", pods=2, gpus=1, duration="10m")))
        key = f"{namespace}/job-prov"
        passes_until(
            kube, lambda rs: True if any(key in r.admitted for r in rs) else None, "reserved"
        )
        cfg = ["-n", namespace, "--kubeconfig", str(dev_cluster.kubeconfig)]
        updates = ["--node-selector", "kubernetes.io/os=linux", "--label", "provisioned=yes"]
        updates += ["--annotation", "ticket=T-1", "--toleration", "spot:NoSchedule"]
        ready = CliRunner().invoke(app, ["queue", "check", "job/prov", approval, *updates, *cfg])
        assert ready.exit_code == 0, ready.output
        (state,) = workload(kube, namespace, "job-prov")["status"]["admissionChecks"]
        assert state["podSetUpdates"][0]["nodeSelector"] == {"kubernetes.io/os": "linux"}
        resumed = f"{namespace}/prov"
        passes_until(
            kube, lambda rs: True if any(resumed in r.resumed for r in rs) else None, "resume"
        )
        template = as_dict(kube.get(Job, "prov", namespace=namespace))["spec"]["template"]
        selector = {"kubernetes.io/os": "linux", "quarterdeck.dev/pool": "gpu-h100-8"}
        spot = {"key": "spot", "operator": "Exists", "effect": "NoSchedule"}

        def pods_made() -> list[dict[str, Any]] | None:
            pods = [
                as_dict(p)
                for p in kube.list(Pod, namespace=namespace, labels={JOB_NAME_LABEL: "prov"})
            ]
            return pods if len(pods) >= 2 else None

        for spec_meta in [template, *wait_for(pods_made, "the Job's two pods", 60)]:
            assert spec_meta["metadata"]["labels"]["provisioned"] == "yes"
            assert spec_meta["metadata"]["annotations"]["ticket"] == "T-1"
            assert spec_meta["spec"]["nodeSelector"] == selector
            assert spot in spec_meta["spec"]["tolerations"]
