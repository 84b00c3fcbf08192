"""The delivery controller checks every sync against the cluster's Guardrails.

A real git repository, a real API server with the Guardrail CRD, Guardrails made
in the test: Deny stops a sync (nothing applied, status and an Event say which
object and why), Warn lets it through and is recorded. The Guardrails are
cluster-scoped, so each selects only this test's namespace by a label on it,
which the controller has to read from the live Namespace.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from delivery_setup import install_crds
from lightkube import Client
from lightkube.resources.core_v1 import Event, Namespace

from gitrepo import Repo
from quarterdeck.api.policy import API_VERSION, GROUP
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.controller import ApplicationRes, Controller
from quarterdeck.delivery.guardrail_cache import GuardrailCache
from quarterdeck.delivery.manifests import Key
from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES
from quarterdeck.kube.wait import wait_for

pytestmark = pytest.mark.integration
CRDS = Path(__file__).parents[2] / "deploy" / "crds"
LABEL = "guardrails.quarterdeck.dev/test"
CRD = "CustomResourceDefinition"


def cm(name: str, value: str, *, team: bool = True, password: bool = False) -> str:
    labels = {"team": "shop"} if team else {}
    data = {"a": value, **({"password": "hunter2"} if password else {})}
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    if labels:
        doc["metadata"]["labels"] = labels
    return yaml.safe_dump(doc)


def guardrail(name: str, ns_label: str, action: str, expression: str, message: str) -> Any:
    return {
        "apiVersion": API_VERSION,
        "kind": "Guardrail",
        "metadata": {"name": name},
        "spec": {
            "validationActions": [action],
            "matchConstraints": {
                "resourceRules": [
                    {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}
                ],
                "namespaceSelector": {"matchLabels": {LABEL: ns_label}},
            },
            "validations": [{"expression": expression, "message": message}],
        },
    }


@pytest.fixture
def guarded(tmp_path: Path, kube: Client, namespace: str) -> Iterator[tuple[Repo, Controller]]:
    """Guardrail CRD installed; Deny and Warn Guardrails selecting ``namespace``."""
    cluster = Cluster(kube)
    install_crds(kube)  # applied, Established and listable
    kube.patch(Namespace, namespace, {"metadata": {"labels": {LABEL: namespace}}})
    rails = [
        guardrail(
            f"{namespace}-no-password",
            namespace,
            "Deny",
            "!has(object.data) || !('password' in object.data)",
            "ConfigMaps must not hold a password",
        ),
        guardrail(
            f"{namespace}-team-label",
            namespace,
            "Warn",
            "has(object.metadata.labels) && 'team' in object.metadata.labels",
            "every ConfigMap needs a team label",
        ),
        # selects no namespace that exists: must never block anything
        guardrail(f"{namespace}-elsewhere", "nowhere", "Deny", "false", "never"),
    ]
    for rail in rails:
        cluster.apply(rail)
    repo = Repo(tmp_path / "repo")
    cluster.apply(
        {
            "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
            "kind": "Source",
            "metadata": {"name": "repo", "namespace": namespace},
            "spec": {"url": repo.url, "ref": {"branch": "main"}},
        }
    )
    cluster.apply(
        {
            "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {"sourceRef": {"name": "repo"}, "path": "web", "timeout": "30s"},
        }
    )
    yield repo, Controller(kube, tmp_path / "cache", namespace=namespace, policy=LOCAL_REPOSITORIES)
    for rail in rails:
        cluster.delete(API_VERSION, Key(GROUP, "Guardrail", "", rail["metadata"]["name"]))


def app_status(kube: Client, namespace: str) -> dict[str, Any]:
    status: dict[str, Any] = dict(kube.get(ApplicationRes, "web", namespace=namespace))["status"]
    return status


def ready(status: dict[str, Any]) -> tuple[str, str, str]:
    cond = next(c for c in status["conditions"] if c["type"] == "Ready")
    return cond["status"], cond["reason"], cond["message"]


def events(kube: Client, namespace: str, reason: str) -> list[str]:
    return [
        str(e.message)
        for e in kube.list(Event, namespace=namespace)
        if e.involvedObject.name == "web" and e.reason == reason and e.type == "Warning"
    ]


def data(ctl: Controller, namespace: str, name: str) -> dict[str, str] | None:
    live = ctl.cluster.get("v1", Key("", "ConfigMap", namespace, name))
    return None if live is None else dict(live.get("data") or {})


def test_deny_changes_nothing_and_says_why_warn_applies_and_is_recorded(
    guarded: tuple[Repo, Controller], kube: Client, namespace: str
) -> None:
    repo, ctl = guarded
    first = repo.commit("one", {"web/a.yaml": cm("a", "v1")})
    ctl.reconcile_all()
    assert ready(app_status(kube, namespace))[:2] == ("True", "Synced")
    assert data(ctl, namespace, "a") == {"a": "v1"}

    # Deny: a ConfigMap with a password, next to a harmless change to `a`
    second = repo.commit(
        "two", {"web/a.yaml": cm("a", "v2"), "web/creds.yaml": cm("creds", "x", password=True)}
    )
    ctl.reconcile_all(force=True)
    status = app_status(kube, namespace)
    state, reason, message = ready(status)
    policy = f"{namespace}-no-password"
    why = f"ConfigMap/{namespace}/creds: {policy}: ConfigMaps must not hold a password"
    assert (state, reason) == ("False", "GuardrailDenied")
    assert message.startswith(f"revision {second[:12]}: blocked by 1 guardrail violation(s):")
    assert why in message and "ConfigMap/" + namespace + "/a:" not in message
    assert data(ctl, namespace, "a") == {"a": "v1"}  # nothing applied, not even `a`
    assert data(ctl, namespace, "creds") is None
    assert status["lastAppliedRevision"] == first
    assert [i["name"] for i in status["inventory"]] == ["a"]
    (denied,) = events(kube, namespace, "GuardrailDenied")
    assert why in denied
    assert events(kube, namespace, "SyncFailed") == []

    # Warn: the password is gone; `b` has no team label, which only warns
    repo.git("rm", "-q", "web/creds.yaml")
    third = repo.commit(
        "three", {"web/a.yaml": cm("a", "v3"), "web/b.yaml": cm("b", "1", team=False)}
    )
    ctl.reconcile_all(force=True)
    status = app_status(kube, namespace)
    assert ready(status)[:2] == ("True", "Synced")
    assert status["lastAppliedRevision"] == third
    assert data(ctl, namespace, "a") == {"a": "v3"} and data(ctl, namespace, "b") == {"a": "1"}
    assert status["guardrailWarnings"] == [
        {
            "policy": f"{namespace}-team-label",
            "actions": ["Warn"],
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "b",
            "namespace": namespace,
            "message": "every ConfigMap needs a team label",
        }
    ]
    (warned,) = events(kube, namespace, "GuardrailWarning")
    assert f"ConfigMap/{namespace}/b: {namespace}-team-label: every ConfigMap" in warned

    # a resync that finds the same warning again records it, without a second Event
    ctl.reconcile_all(force=True)
    assert len(app_status(kube, namespace)["guardrailWarnings"]) == 1
    assert len(events(kube, namespace, "GuardrailWarning")) == 1


def test_a_denial_is_lifted_by_changing_the_guardrail_and_a_broken_one_is_ignored(
    guarded: tuple[Repo, Controller], kube: Client, namespace: str
) -> None:
    repo, ctl = guarded
    cluster = ctl.cluster
    # Deny together with Warn: the API server would reject such a binding; so do we
    broken = guardrail(f"{namespace}-broken", namespace, "Deny", "false", "broken")
    broken["spec"]["validationActions"] = ["Deny", "Warn"]
    cluster.apply(broken)
    try:
        second = repo.commit("creds", {"web/creds.yaml": cm("creds", "x", password=True)})
        ctl.reconcile_all()
        status = app_status(kube, namespace)
        assert ready(status)[:2] == ("False", "GuardrailDenied")
        assert "broken" not in ready(status)[2]
        stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
        assert stalled["status"] == "False"

        cluster.delete(API_VERSION, Key(GROUP, "Guardrail", "", f"{namespace}-no-password"))
        ctl.guardrails.expire()  # the operator re-reads Guardrails every tick
        ctl.reconcile_all(force=True)
        status = app_status(kube, namespace)
        assert ready(status)[:2] == ("True", "Synced")
        assert status["lastAppliedRevision"] == second
        assert data(ctl, namespace, "creds") == {"a": "x", "password": "hunter2"}
    finally:
        cluster.delete(API_VERSION, Key(GROUP, "Guardrail", "", f"{namespace}-broken"))


def test_guardrail_reads_without_the_crd_and_right_after_it_is_installed(kube: Client) -> None:
    """No CRD: no Guardrails. A CRD just established answers 503 for a moment
    ("storage is (re)initializing"); the read waits that out instead of failing syncs."""
    cluster = Cluster(kube)
    path = CRDS / "guardrails.policy.quarterdeck.dev.yaml"
    name = path.name.removesuffix(".yaml")
    cache = GuardrailCache(kube, time.monotonic, max_age=0)
    try:
        cluster.delete("apiextensions.k8s.io/v1", Key("apiextensions.k8s.io", CRD, "", name))
        crd_key = Key("apiextensions.k8s.io", CRD, "", name)
        wait_for(lambda: cluster.get("apiextensions.k8s.io/v1", crd_key) is None,
                 "the Guardrail CRD to be deleted", 60, interval=0.2)  # fmt: skip
        without = cache.current()  # no Guardrails, but the namespaces' PSA labels still count
        assert without.guardrails == () and without.error == ""
    finally:
        cluster.apply(yaml.safe_load(path.read_text()))
        cluster.wait_established([name], timeout=30)
    assert cache.current().error == ""
