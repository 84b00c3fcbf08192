"""Health of Cluster API and Crossplane objects, through delivery's own health()."""

from __future__ import annotations

from typing import Any

import pytest

from quarterdeck.delivery.health import health


def _obj(api: str, kind: str, conds: list[tuple[str, str]], **status: Any) -> dict[str, Any]:
    st = {
        "conditions": [{"type": t, "status": s, "message": f"{t} is {s}"} for t, s in conds],
        **status,
    }
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "x", "generation": 1},
        "status": {"observedGeneration": 1, **st},
    }


CAPI = "cluster.x-k8s.io/v1beta2"
KCP = "controlplane.cluster.x-k8s.io/v1beta2"


@pytest.mark.parametrize(
    ("obj", "want"),
    [
        (_obj(CAPI, "Cluster", [("Available", "True")]), "Healthy"),
        (_obj(CAPI, "Cluster", [("Available", "False")]), "Progressing"),
        (_obj(CAPI, "Cluster", [], phase="Failed", failureMessage="no quota"), "Degraded"),
        (_obj("cluster.x-k8s.io/v1beta1", "Cluster", [("Ready", "True")]), "Healthy"),
        (
            _obj(
                CAPI,
                "Cluster",
                [],
                deprecated={"v1beta1": {"conditions": [{"type": "Ready", "status": "True"}]}},
            ),
            "Healthy",
        ),
        ({**_obj(CAPI, "Cluster", [("Available", "True")]), "spec": {"paused": True}}, "Suspended"),
        (
            {
                **_obj(KCP, "KubeadmControlPlane", [("Available", "True")], readyReplicas=1),
                "spec": {"replicas": 3},
            },
            "Progressing",
        ),
        (
            {
                **_obj(KCP, "KubeadmControlPlane", [("Available", "True")], readyReplicas=3),
                "spec": {"replicas": 3},
            },
            "Healthy",
        ),
        (
            {
                **_obj(CAPI, "MachineDeployment", [("Available", "True")], readyReplicas=2),
                "spec": {"replicas": 2},
            },
            "Healthy",
        ),
        (_obj(CAPI, "Machine", [("Ready", "False")], phase="Provisioning"), "Progressing"),
        (_obj(CAPI, "Machine", [("Ready", "True")], phase="Running"), "Healthy"),
        (_obj(CAPI, "Machine", [], phase="Failed", failureReason="CreateError"), "Degraded"),
        (
            _obj("rds.aws.upbound.io/v1beta1", "Instance", [("Synced", "True"), ("Ready", "True")]),
            "Healthy",
        ),
        (
            _obj(
                "rds.aws.upbound.io/v1beta1", "Instance", [("Synced", "True"), ("Ready", "False")]
            ),
            "Progressing",
        ),
        (
            _obj("platform.example.org/v1", "XDatabase", [("Synced", "False"), ("Ready", "False")]),
            "Degraded",
        ),
    ],
)
def test_infrastructure_kinds(obj: dict[str, Any], want: str) -> None:
    assert health(obj).status == want


def test_other_kinds_keep_the_kstatus_rules() -> None:
    assert health(_obj("example.org/v1", "Widget", [("Ready", "False")])).status == "Progressing"
    assert health(_obj("example.org/v1", "Widget", [("Stalled", "True")])).status == "Degraded"


def test_a_pending_generation_is_progressing() -> None:
    obj = _obj(CAPI, "MachineDeployment", [("Available", "True")])
    obj["metadata"]["generation"] = 2
    assert health(obj).status == "Progressing"
