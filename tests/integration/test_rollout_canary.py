"""Progressive delivery on a real control plane with a real Prometheus: a canary whose
analysis query breaches at step 2 aborts (stable keeps all traffic, the Application
says why, the webhook receiver is told); a healthy canary completes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from delivery_setup import application, example_files, ready
from lightkube import Client
from lightkube.resources.core_v1 import Pod
from notify_receiver import Receiver
from notify_world import rollouts_notified
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from gitrepo import Repo
from quarterdeck.delivery.controller import Controller
from quarterdeck.devcluster import ports, prometheus
from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.kube.wait import wait_for
from quarterdeck.rollout.analysis import prometheus_value
from quarterdeck.rollout.controller import RolloutController
from quarterdeck.rollout.decide import ROLE_LABEL

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def metrics(
    dev_cluster: RunningCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Gauge]]:
    """A real Prometheus scraping the app's error ratio (a gauge the test sets)."""
    root = tmp_path_factory.mktemp("prometheus")
    state = prometheus.start(root, dev_cluster.kubeconfig)
    registry = CollectorRegistry()
    gauge = Gauge("web_error_ratio", "errors per request of the web app", registry=registry)
    (port,) = ports.free_ports(1)
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    prometheus.add_target(root, f"127.0.0.1:{port}")
    yield state.url, gauge
    server.shutdown()
    prometheus.stop(root)


def seen(url: str, value: float) -> bool:
    try:
        return prometheus_value(url, "max(web_error_ratio)") == value
    except Exception:
        return False


@pytest.fixture
def world(
    tmp_path: Path, kube: Client, namespace: str, metrics: tuple[str, Gauge]
) -> Iterator[tuple[Repo, Controller, RolloutController, Receiver]]:
    with rollouts_notified(tmp_path, kube, namespace, "rollouts") as world:
        yield world


def commit(repo: Repo, url: str, image: str) -> str:
    files = example_files("canary")
    files["canary/rollout.yaml"] = (
        files["canary/rollout.yaml"].replace("PROMETHEUS", url).replace("web:1.0", image)
    )
    return repo.commit(image, files)


def until(rollouts: RolloutController, namespace: str, done: Any, what: str) -> Any:
    """Rollout passes until ``done(rollout)`` holds (bounded)."""

    def step() -> Any:
        got = rollouts.reconcile_all()[(namespace, "web")]
        return got if done(got) else None

    return wait_for(step, what, timeout=120, interval=0.3)


def images(kube: Client, namespace: str) -> dict[str, set[str]]:
    """Image by role of the running (not terminating) pods of the app."""
    out: dict[str, set[str]] = {}
    for pod in kube.list(Pod, namespace=namespace, labels={"app": "web"}):
        if pod.metadata.deletionTimestamp is None:
            role = pod.metadata.labels.get(ROLE_LABEL, "")
            out.setdefault(role, set()).add(pod.spec.containers[0].image)
    return out


def test_canary_breaching_at_step_2_aborts_and_a_healthy_one_completes(
    world: tuple[Repo, Controller, RolloutController, Receiver],
    kube: Client,
    namespace: str,
    metrics: tuple[str, Gauge],
) -> None:
    repo, ctl, rollouts, hook = world
    url, gauge = metrics
    gauge.set(0.0)
    wait_for(lambda: seen(url, 0.0), "prometheus sees the healthy ratio", timeout=60)
    commit(repo, url, "web:1.0")
    ctl.cluster.apply(application(namespace, "web", "canary", timeout="2s"))
    ctl.reconcile_all()
    until(rollouts, namespace, lambda r: r.status.phase == "Healthy", "the first version")
    assert ready(ctl.reconcile_all(force=True), "web")[0] == "True"

    # v2 is bad under load: fine at 25 %, errors once it takes half the traffic
    commit(repo, url, "web:2.0")
    ctl.reconcile_all(force=True)
    at_25 = until(rollouts, namespace, lambda r: r.status.current_step == 1, "step 1 passed")
    assert at_25.status.measurements[-1].phase == "Successful"
    assert at_25.status.weight == 50
    gauge.set(0.4)
    wait_for(lambda: seen(url, 0.4), "prometheus sees the errors", timeout=60)
    aborted = until(rollouts, namespace, lambda r: r.status.phase == "Degraded", "the abort")
    assert "aborted at step 2" in aborted.status.message
    assert "error-rate breached: result 0.4 (result < 0.05)" in aborted.status.message
    # the stable version keeps all the traffic: 4 stable pods of v1, no canary
    wait_for(
        lambda: images(kube, namespace) == {"stable": {"registry.local/web:1.0"}},
        "only stable pods of v1",
        timeout=60,
    )
    status, message = ready(ctl.reconcile_all(force=True), "web")
    assert status == "False" and "aborted at step 2" in message, message
    wait_for(lambda: "rollout-aborted" in hook.events(), "the abort notification", timeout=30)
    sent = hook.received[hook.events().index("rollout-aborted")].json()
    assert sent["involvedObject"] == {"kind": "Application", "namespace": namespace, "name": "web"}
    assert "error-rate breached" in sent["message"]

    # v3 is healthy: every step passes and it is promoted
    gauge.set(0.0)
    wait_for(lambda: seen(url, 0.0), "prometheus sees the healthy ratio", timeout=60)
    commit(repo, url, "web:3.0")
    ctl.reconcile_all(force=True)
    done = until(
        rollouts,
        namespace,
        lambda r: (
            r.status.phase == "Healthy"
            and r.status.stable_revision != aborted.status.stable_revision
        ),
        "the promotion",
    )
    assert all(m.phase == "Successful" for m in done.status.measurements)
    wait_for(
        lambda: images(kube, namespace) == {"stable": {"registry.local/web:3.0"}},
        "only stable pods of v3",
        timeout=60,
    )
    assert ready(ctl.reconcile_all(force=True), "web")[0] == "True"
    wait_for(
        lambda: "rollout-completed" in hook.events(), "the completion notification", timeout=30
    )
