"""The delivery controller against a real control plane: Source and Application objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from delivery_setup import application, install_crds, ready, source
from lightkube import Client

from gitrepo import Repo
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.controller import ApplicationRes, Controller, SourceRes
from quarterdeck.delivery.manifests import Key
from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES
from quarterdeck.kube.wait import wait_for

pytestmark = pytest.mark.integration


def cm(name: str, value: str = "1") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '{value}'\n"


@pytest.fixture(scope="module")
def crds(kube: Client) -> None:
    install_crds(kube)  # applied, Established and listable


@pytest.fixture
def setup(tmp_path: Path, kube: Client, namespace: str, crds: None) -> tuple[Repo, Controller]:
    repo = Repo(tmp_path / "repo")
    cluster = Cluster(kube)
    cluster.apply(source(namespace, repo.url))
    return repo, Controller(
        kube, tmp_path / "cache", namespace=namespace, policy=LOCAL_REPOSITORIES
    )


def test_application_syncs_and_reports_status_and_history(
    setup: tuple[Repo, Controller], kube: Client, namespace: str
) -> None:
    repo, ctl = setup
    first = repo.commit("one", {"web/a.yaml": cm("a"), "web/b.yaml": cm("b")})
    ctl.cluster.apply(application(namespace, "web", "web"))
    apps = ctl.reconcile_all()
    assert ready(apps, "web") == ("True", f"applied revision {first[:12]}")
    raw = dict(kube.get(ApplicationRes, "web", namespace=namespace))
    status = raw["status"]
    assert status["lastAppliedRevision"] == first
    assert sorted(i["name"] for i in status["inventory"]) == ["a", "b"]
    assert status["history"][0]["created"] == 2
    from lightkube.resources.core_v1 import Event

    events = [
        e
        for e in kube.list(Event, namespace=namespace)
        if e.involvedObject.kind == "Application" and e.involvedObject.name == "web"
    ]
    assert [(e.type, e.reason) for e in events] == [("Normal", "Synced")]
    assert events[0].message == f"revision {first[:12]}: 2 created, 0 configured, 0 pruned"
    src = dict(kube.get(SourceRes, "repo", namespace=namespace))
    assert src["status"]["artifact"]["revision"] == first
    assert src["status"]["artifact"]["author"] == "Ada Lovelace <ada@example.com>"

    repo.commit("two", {"web/b.yaml": cm("b", "2")})
    repo.git("rm", "-q", "web/a.yaml")
    second = repo.commit("drop a")
    apps = ctl.reconcile_all(force=True)
    assert ready(apps, "web")[0] == "True"
    assert ctl.cluster.get("v1", Key("", "ConfigMap", namespace, "a")) is None
    history = dict(kube.get(ApplicationRes, "web", namespace=namespace))["status"]["history"]
    assert [(h["revision"], h["pruned"]) for h in history] == [(second, 1), (first, 0)]


def test_rollback_pins_an_earlier_revision(
    setup: tuple[Repo, Controller], kube: Client, namespace: str
) -> None:
    repo, ctl = setup
    first = repo.commit("one", {"web/a.yaml": cm("a", "v1")})
    ctl.cluster.apply(application(namespace, "web", "web"))
    ctl.reconcile_all()
    repo.commit("two", {"web/a.yaml": cm("a", "v2")})
    ctl.reconcile_all(force=True)
    live = ctl.cluster.get("v1", Key("", "ConfigMap", namespace, "a"))
    assert live is not None and live["data"] == {"a": "v2"}
    ctl.cluster.apply(application(namespace, "web", "web", revision=first))
    apps = ctl.reconcile_all()
    assert ready(apps, "web") == ("True", f"applied revision {first[:12]}")
    live = ctl.cluster.get("v1", Key("", "ConfigMap", namespace, "a"))
    assert live is not None and live["data"] == {"a": "v1"}


def test_depends_on_holds_an_app_until_its_dependency_is_ready(
    setup: tuple[Repo, Controller], namespace: str
) -> None:
    repo, ctl = setup
    stuck = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: db}\nspec:\n"
        "  progressDeadlineSeconds: 600\n  selector: {matchLabels: {app: db}}\n"
        "  template:\n    metadata: {labels: {app: db}}\n    spec:\n"
        "      nodeSelector: {nowhere: 'true'}\n"
        "      containers: [{name: db, image: registry.invalid/db:1}]\n"
    )
    repo.commit("one", {"db/d.yaml": stuck, "web/a.yaml": cm("a")})
    ctl.cluster.apply(application(namespace, "db", "db", timeout="3s"))
    ctl.cluster.apply(application(namespace, "web", "web", dependsOn=[{"name": "db"}]))
    apps = ctl.reconcile_all()
    assert ready(apps, "db")[0] == "Unknown"
    assert ready(apps, "web") == ("Unknown", f"waiting for {namespace}/db")
    assert ctl.cluster.get("v1", Key("", "ConfigMap", namespace, "a")) is None
    repo.commit("fix", {"db/d.yaml": cm("db")})
    apps = ctl.reconcile_all(force=True)
    assert ready(apps, "db")[0] == "True"
    assert ready(apps, "web")[0] == "True"
    assert ctl.cluster.get("v1", Key("", "ConfigMap", namespace, "a")) is not None


def test_dependency_cycle_and_bad_interval_stall_with_a_message(
    setup: tuple[Repo, Controller], namespace: str
) -> None:
    repo, ctl = setup
    repo.commit("one", {"web/a.yaml": cm("a")})
    ctl.cluster.apply(application(namespace, "x", "web", dependsOn=[{"name": "y"}]))
    ctl.cluster.apply(application(namespace, "y", "web", dependsOn=[{"name": "x"}]))
    ctl.cluster.apply(application(namespace, "z", "web", interval="0s"))
    apps = ctl.reconcile_all()
    assert ready(apps, "x") == ("False", "dependsOn cycle: x -> y -> x")
    assert ready(apps, "z") == ("False", "spec.interval: duration '0s' must be greater than zero")
    (z,) = [a for o, a in apps.items() if o.name == "z"]
    assert next(c for c in z.status.conditions if c.type == "Stalled").status == "True"


def test_self_heal_reverts_an_edit_and_reports_the_drift(
    setup: tuple[Repo, Controller], kube: Client, namespace: str
) -> None:
    import threading

    from lightkube.resources.core_v1 import ConfigMap

    from quarterdeck.delivery.runner import Runner

    repo, ctl = setup
    repo.commit("one", {"web/a.yaml": cm("a", "git")})
    ctl.cluster.apply(application(namespace, "web", "web", interval="1h"))
    runner = Runner(ctl, tick=0.5)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        key = Key("", "ConfigMap", namespace, "a")
        wait_for(lambda: ctl.cluster.get("v1", key), "the first sync", 30, interval=0.1)
        # no wait for the watch: an edit before it starts is in its first listing
        kube.patch(
            ConfigMap, "a", {"data": {"a": "edited"}}, namespace=namespace,
            field_manager="kubectl-edit",
        )  # fmt: skip

        def healed() -> dict[str, Any] | None:
            live = ctl.cluster.get("v1", key)
            return (
                live
                if live is not None and live["data"] == {"a": "git"} and runner.healed
                else None
            )

        live = wait_for(healed, "the edit to be reverted", 30, interval=0.1)
        assert live["data"] == {"a": "git"}
        status = dict(kube.get(ApplicationRes, "web", namespace=namespace))["status"]
        (drift,) = status["drift"]
        assert drift["name"] == "a"
        assert drift["fields"] == [{"path": "data.a", "desired": "git", "live": "edited"}]
    finally:
        runner.stop.set()
        thread.join(timeout=10)
    # a new commit replaces the drift report (empty lists are written, not left out)
    repo.commit("two", {"web/a.yaml": cm("a", "v2")})
    ctl.reconcile_all(force=True)
    status = dict(kube.get(ApplicationRes, "web", namespace=namespace))["status"]
    assert status["drift"] == []


def test_cli_diff_app_and_sync_app_at_a_revision(
    setup: tuple[Repo, Controller], namespace: str, dev_cluster: Any
) -> None:
    from typer.testing import CliRunner

    from quarterdeck.cli.main import app as qd

    repo, ctl = setup
    first = repo.commit("one", {"web/a.yaml": cm("a", "v1")})
    ctl.cluster.apply(application(namespace, "web", "web"))
    ctl.reconcile_all()
    kc = ["-n", namespace, "--kubeconfig", str(dev_cluster.kubeconfig)]
    same = CliRunner().invoke(qd, ["diff", "web", *kc, "-o", "json"])
    assert same.exit_code == 0, same.output
    repo.commit("two", {"web/a.yaml": cm("a", "v2")})
    ctl.reconcile_all(force=True)
    assert ctl.cluster.get("v1", Key("", "ConfigMap", namespace, "a"))["data"] == {"a": "v2"}

    result = CliRunner().invoke(qd, ["sync", "web", "--revision", first, *kc])
    assert result.exit_code == 0, result.output
    assert f"sync requested at {first}" in result.stdout
    ctl.reconcile_all()
    assert ctl.cluster.get("v1", Key("", "ConfigMap", namespace, "a"))["data"] == {"a": "v1"}
    history = CliRunner().invoke(qd, ["history", "web", *kc, "-o", "json"])
    assert yaml.safe_load(history.stdout)[0]["revision"] == first[:12]
    missing = CliRunner().invoke(qd, ["diff", "nope", *kc])
    assert missing.exit_code == 2 and "application" in missing.stderr


def test_health_checks_on_objects_outside_the_application(
    setup: tuple[Repo, Controller], namespace: str
) -> None:
    repo, ctl = setup
    ctl.cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "external", "namespace": namespace},
            "spec": {
                "progressDeadlineSeconds": 1,
                "selector": {"matchLabels": {"app": "x"}},
                "template": {
                    "metadata": {"labels": {"app": "x"}},
                    "spec": {
                        "nodeSelector": {"nowhere": "true"},
                        "containers": [{"name": "x", "image": "registry.invalid/x:1"}],
                    },
                },
            },
        }
    )
    repo.commit("one", {"web/a.yaml": cm("a")})
    checks = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "external"},
        {"apiVersion": "v1", "kind": "Namespace", "name": namespace},
    ]
    ctl.cluster.apply(application(namespace, "web", "web", timeout="20s", healthChecks=checks))
    apps = ctl.reconcile_all()
    status, message = ready(apps, "web")
    assert status == "False"
    assert "has timed out progressing" in message
