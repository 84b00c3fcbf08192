"""A blue/green Rollout inside the Application that syncs it, on a real control plane:
the Application (prune and self-heal on) owns the Rollout and the Services, the
Rollout owns its Deployments and both Services' selectors. A re-sync and a self-heal
in the middle of the switch change nothing the Rollout set, nothing is drift, nothing
of the Rollout's is pruned; the rollout notices carry the Application's labels, so an
Alert selecting the Application by label gets them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from delivery_setup import application, ready
from lightkube import Client
from notify_receiver import Receiver
from notify_world import rollouts_notified

from gitrepo import Repo
from quarterdeck.delivery.controller import ApplicationRes, Controller
from quarterdeck.delivery.inventory import Owner
from quarterdeck.delivery.manifests import Key
from quarterdeck.delivery.selfheal import repair
from quarterdeck.kube.wait import wait_for
from quarterdeck.rollout.controller import RolloutController
from quarterdeck.rollout.decide import ROLE_LABEL

pytestmark = pytest.mark.integration

ROLLOUT = """apiVersion: delivery.quarterdeck.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "registry.local/web:IMAGE"}]}
  strategy: {blueGreen: {activeService: web, previewService: web-preview}}
  analysis:
    interval: 100ms
    metrics:
      - name: gate
        cel: {apiVersion: v1, kind: ConfigMap, name: gate, expression: "object.data.ok == 'true'"}
"""
SERVICE = """apiVersion: v1
kind: Service
metadata: {name: NAME}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""


@pytest.fixture
def world(
    tmp_path: Path, kube: Client, namespace: str
) -> Iterator[tuple[Repo, Controller, RolloutController, Receiver]]:
    by_label = [{"kind": "Application", "matchLabels": {"team": "payments"}}]
    with rollouts_notified(tmp_path, kube, namespace, "payments", eventSources=by_label) as world:
        yield world


def commit(repo: Repo, image: str) -> str:
    return repo.commit(
        image,
        {
            "web/rollout.yaml": ROLLOUT.replace("IMAGE", image),
            "web/service.yaml": SERVICE.replace("NAME", "web"),
            "web/preview.yaml": SERVICE.replace("NAME", "web-preview"),
        },
    )


def gate(ctl: Controller, namespace: str, ok: bool) -> None:
    """The analysis gate: a ConfigMap outside Git that the test sets."""
    ctl.cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "gate", "namespace": namespace},
            "data": {"ok": "true" if ok else "false"},
        }
    )


def selector(ctl: Controller, namespace: str, name: str) -> dict[str, str] | None:
    live = ctl.cluster.get("v1", Key("", "Service", namespace, name))
    return None if live is None else live["spec"].get("selector")


def image_of(ctl: Controller, namespace: str, name: str) -> str | None:
    live = ctl.cluster.get("apps/v1", Key("apps", "Deployment", namespace, name))
    return None if live is None else str(live["spec"]["template"]["spec"]["containers"][0]["image"])


def drive(rollouts: RolloutController, namespace: str, done: Any, what: str) -> Any:
    """Rollout passes (this test is the only one moving it) until ``done()`` holds."""

    def step() -> Any:
        got = rollouts.reconcile_all()[(namespace, "web")]
        return got if done(got) else None

    return wait_for(step, what, timeout=120, interval=0.3)


def status_of(kube: Client, namespace: str) -> dict[str, Any]:
    return dict(kube.get(ApplicationRes, "web", namespace=namespace))["status"]


def test_blue_green_switch_is_the_rollouts_and_the_application_never_fights_it(
    world: tuple[Repo, Controller, RolloutController, Receiver], kube: Client, namespace: str
) -> None:
    repo, ctl, rollouts, hook = world
    stable = {"app": "web", ROLE_LABEL: "stable"}
    preview = {"app": "web", ROLE_LABEL: "canary"}
    gate(ctl, namespace, True)
    commit(repo, "1.0")
    app = application(namespace, "web", "web", timeout="2s", prune=True, selfHeal=True)
    app["metadata"]["labels"] = {"team": "payments"}
    ctl.cluster.apply(app)
    ctl.reconcile_all()
    drive(rollouts, namespace, lambda r: r.status.phase == "Healthy", "the first version")
    assert selector(ctl, namespace, "web") == stable
    assert selector(ctl, namespace, "web-preview") == preview
    # a re-sync after the Rollout set the selectors: no drift, nothing put back
    assert ready(ctl.reconcile_all(force=True), "web")[0] == "True"
    assert status_of(kube, namespace)["drift"] == []
    assert selector(ctl, namespace, "web") == stable

    # v2: the preview runs at full size, passes the gate, the active Service switches
    commit(repo, "2.0")
    ctl.reconcile_all(force=True)
    drive(
        rollouts,
        namespace,
        lambda r: selector(ctl, namespace, "web") == preview,
        "the active Service switched to the preview",
    )
    # mid-switch, the Application re-syncs and self-heals: the switch stays, and the
    # Rollout's Deployments (not in Git, not in the inventory) are not pruned
    apps = ctl.reconcile_all(force=True)
    assert ready(apps, "web")[1].startswith("applied revision"), ready(apps, "web")
    status = status_of(kube, namespace)
    assert status["drift"] == []
    assert {(i["kind"], i["name"]) for i in status["inventory"]} == {
        ("Rollout", "web"), ("Service", "web"), ("Service", "web-preview")
    }
    assert repair(ctl, Owner(namespace, "web"))  # a self-heal pass ran and found nothing
    assert selector(ctl, namespace, "web") == preview
    assert image_of(ctl, namespace, "web-canary") == "registry.local/web:2.0"
    assert image_of(ctl, namespace, "web") is not None
    done = drive(rollouts, namespace, lambda r: r.status.phase == "Healthy", "the promotion")
    assert done.status.stable_revision != ""
    assert selector(ctl, namespace, "web") == stable
    assert image_of(ctl, namespace, "web") == "registry.local/web:2.0"
    wait_for(lambda: "rollout-completed" in hook.events(), "the completion notice", timeout=30)

    # v3 breaches: it aborts, the active Service stays on stable (v2), the notice goes
    # to the Alert that selects the Application by its label
    gate(ctl, namespace, False)
    commit(repo, "3.0")
    ctl.reconcile_all(force=True)
    aborted = drive(rollouts, namespace, lambda r: r.status.phase == "Degraded", "the abort")
    assert "analysis gate breached" in aborted.status.message
    assert selector(ctl, namespace, "web") == stable
    assert image_of(ctl, namespace, "web") == "registry.local/web:2.0"
    wait_for(lambda: "rollout-aborted" in hook.events(), "the abort notice", timeout=30)
    sent = hook.received[hook.events().index("rollout-aborted")].json()
    assert sent["involvedObject"] == {"kind": "Application", "namespace": namespace, "name": "web"}
    assert "analysis gate breached" in sent["message"]
    assert sent.get("revision") == status_of(kube, namespace)["lastAppliedRevision"]
