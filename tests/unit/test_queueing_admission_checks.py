"""AdmissionChecks: Kueue's manifests load, and a check nobody here runs is told."""

from __future__ import annotations

import pytest

from quarterdeck.api.queueing import ClusterQueue as ApiClusterQueue
from quarterdeck.api.queueing import load_manifests
from quarterdeck.api.queueing.check import MANUAL, AdmissionCheck, AdmissionCheckState
from quarterdeck.api.queueing.manifests import ManifestError
from quarterdeck.api.queueing.workload import WorkloadStatus
from quarterdeck.queueing import cycle, snapshot_from_objects
from quarterdeck.queueing.status import after_checks

# The shape of Kueue's provisioning example (site/static/examples/provisioning),
# written here in our words: a queue whose one flavor needs a provisioning check.
PROVISIONING = """
apiVersion: kueue.x-k8s.io/{version}
kind: ResourceFlavor
metadata: {{name: plain}}
---
apiVersion: kueue.x-k8s.io/{version}
kind: ClusterQueue
metadata: {{name: gated}}
spec:
  namespaceSelector: {{}}
  resourceGroups:
  - coveredResources: [nvidia.com/gpu]
    flavors:
    - name: plain
      resources: [{{name: nvidia.com/gpu, nominalQuota: 4}}]
  admissionChecksStrategy:
    admissionChecks:
    - name: capacity
      onFlavors: [plain]
---
apiVersion: kueue.x-k8s.io/{version}
kind: LocalQueue
metadata: {{name: user, namespace: team}}
spec: {{clusterQueue: gated}}
---
apiVersion: kueue.x-k8s.io/{version}
kind: AdmissionCheck
metadata: {{name: capacity}}
spec:
  controllerName: {controller}
  parameters: {{apiGroup: kueue.x-k8s.io, kind: ProvisioningRequestConfig, name: cfg}}
---
apiVersion: kueue.x-k8s.io/{version}
kind: ProvisioningRequestConfig
metadata: {{name: cfg}}
spec:
  provisioningClassName: check-capacity.autoscaling.x-k8s.io
  managedResources: [nvidia.com/gpu]
  retryStrategy: {{backoffLimitCount: 2, backoffBaseSeconds: 0, backoffMaxSeconds: 1800}}
---
apiVersion: kueue.x-k8s.io/{version}
kind: Workload
metadata: {{name: train, namespace: team}}
spec:
  queueName: user
  podSets:
  - name: main
    count: 1
    template:
      spec:
        containers:
        - name: t
          resources: {{requests: {{nvidia.com/gpu: 2}}}}
"""


def _load(controller: str, version: str = "v1beta2") -> list[object]:
    return list(load_manifests(PROVISIONING.format(version=version, controller=controller)))


@pytest.mark.parametrize("version", ["v1beta1", "v1beta2"])
def test_kueues_provisioning_setup_loads_and_its_queue_is_inactive_here(version: str) -> None:
    objects = _load("kueue.x-k8s.io/provisioning-request", version)
    (cq,) = [o for o in objects if isinstance(o, ApiClusterQueue)]
    assert [r.name for r in cq.spec.checks()] == ["capacity"]
    snap = snapshot_from_objects(objects, namespaces={"team": {}})  # type: ignore[arg-type]
    (pending,) = cycle(snap).pending
    assert pending.reason == "Inadmissible"
    assert "AdmissionCheck capacity is for controller kueue.x-k8s.io/provisioning-request" in (
        pending.message
    )


def test_a_manual_check_reserves_quota_and_waits() -> None:
    snap = snapshot_from_objects(_load(MANUAL), namespaces={"team": {}})  # type: ignore[arg-type]
    (admit,) = cycle(snap).admitted
    assert admit.checks == ("capacity",)


def test_both_spellings_of_a_queues_checks_are_refused_together() -> None:
    both = PROVISIONING.format(version="v1beta2", controller=MANUAL).replace(
        "  admissionChecksStrategy:", "  admissionChecks: [capacity]\n  admissionChecksStrategy:"
    )
    with pytest.raises(ManifestError, match="cannot both be set"):
        load_manifests(both)


def _status(*states: str) -> WorkloadStatus:
    checks = [AdmissionCheckState(name=f"c{i}", state=s) for i, s in enumerate(states)]  # type: ignore[arg-type]
    return WorkloadStatus(admission_checks=checks)


def test_checks_answer_admitted_requeued_or_rejected() -> None:
    now = "2026-12-02T00:00:00Z"
    assert after_checks(_status("Ready", "Pending"), now) is None
    ready = after_checks(_status("Ready", "Ready"), now)
    assert ready is not None and ready[0].is_true("Admitted") and not ready[1]
    retry = after_checks(_status("Ready", "Retry"), now)
    assert retry is not None and retry[0].admission is None and not retry[1]
    rejected = after_checks(_status("Retry", "Rejected"), now)
    assert rejected is not None and rejected[1]
    assert rejected[0].condition("QuotaReserved").reason == "AdmissionCheckRejected"  # type: ignore[union-attr]
    assert isinstance(_load(MANUAL)[3], AdmissionCheck)
