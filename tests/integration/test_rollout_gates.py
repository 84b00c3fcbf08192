"""Rollout gates without Prometheus, on a real control plane: a CEL expression over an
object and a Job's outcome. A failing CEL gate aborts (stable keeps everything); a
passing CEL gate and a completed Job promote; blue/green keeps the Service on stable."""

from __future__ import annotations

from typing import Any

import pytest
from delivery_setup import install_crds
from lightkube import Client

from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.manifests import Key
from quarterdeck.kube.wait import wait_for
from quarterdeck.rollout.controller import RolloutController
from quarterdeck.rollout.decide import ROLE_LABEL

pytestmark = pytest.mark.integration


def rollout(ns: str, image: str, strategy: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [{"name": "check", "image": "registry.local/check:1"}],
    }
    return {
        "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "api", "namespace": ns},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": image}]},
            },
            "strategy": strategy,
            "analysis": {
                "interval": "100ms",
                "metrics": [
                    {
                        "name": "gate",
                        "cel": {
                            "apiVersion": "v1",
                            "kind": "ConfigMap",
                            "name": "gate",
                            "expression": "object.data.ok == 'true'",
                        },
                    },
                    {"name": "smoke", "job": {"template": {"spec": pod}}},
                ],
            },
        },
    }


def until(ctl: RolloutController, ns: str, phase: str) -> Any:
    def step() -> Any:
        got = ctl.reconcile_all()[(ns, "api")]
        return got if got.status.phase == phase else None

    return wait_for(step, f"phase {phase}", timeout=120, interval=0.3)


def image_of(cluster: Cluster, ns: str, name: str) -> str | None:
    obj = cluster.get("apps/v1", Key("apps", "Deployment", ns, name))
    return None if obj is None else str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def gate(cluster: Cluster, ns: str, ok: bool) -> None:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "gate", "namespace": ns},
            "data": {"ok": "true" if ok else "false"},
        }
    )


@pytest.mark.parametrize("strategy", ["canary", "blueGreen"])
def test_cel_breach_aborts_and_cel_plus_job_success_promotes(
    kube: Client, namespace: str, strategy: str
) -> None:
    install_crds(kube)
    cluster = Cluster(kube)
    ctl = RolloutController(kube, namespace=namespace)
    shape: dict[str, Any] = (
        {"canary": {"steps": [{"setWeight": 50}]}}
        if strategy == "canary"
        else {"blueGreen": {"activeService": "api"}}
    )
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "api", "namespace": namespace},
            "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]},
        }
    )
    gate(cluster, namespace, True)
    cluster.apply(rollout(namespace, "api:1", shape))
    until(ctl, namespace, "Healthy")
    gate(cluster, namespace, False)
    cluster.apply(rollout(namespace, "api:2", shape))
    aborted = until(ctl, namespace, "Degraded")
    assert "analysis gate breached" in aborted.status.message
    assert image_of(cluster, namespace, "api") == "api:1"
    assert image_of(cluster, namespace, "api-canary") is None
    service = cluster.get("v1", Key("", "Service", namespace, "api"))
    assert service is not None
    if strategy == "blueGreen":
        assert service["spec"]["selector"] == {"app": "api", ROLE_LABEL: "stable"}
    gate(cluster, namespace, True)
    cluster.apply(rollout(namespace, "api:3", shape))
    done = until(ctl, namespace, "Healthy")
    assert image_of(cluster, namespace, "api") == "api:3"
    assert {m.metric for m in done.status.measurements} >= {"gate", "smoke"}
    wait_for(
        lambda: image_of(cluster, namespace, "api-canary") is None, "the canary gone", timeout=30
    )
