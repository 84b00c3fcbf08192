"""Guardrails before a delivery sync, on a real git repository and a real API server."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import yaml
from lightkube import Client
from lightkube.resources.apps_v1 import Deployment

from gitrepo import Repo
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.inventory import Owner
from quarterdeck.delivery.pipeline import Target, deliver
from quarterdeck.delivery.source import GitSource
from quarterdeck.delivery.sync import SyncOptions
from quarterdeck.policy.library import builtins
from quarterdeck.policy.library_examples import compliant_pod_spec, wrap

pytestmark = pytest.mark.integration


def deployment(name: str, image: str) -> str:
    spec = compliant_pod_spec()
    spec["containers"][0]["image"] = image
    spec["nodeSelector"] = {"nowhere": "true"}  # nothing has to run for this test
    return yaml.safe_dump(wrap("Deployment", name, spec))


def test_deny_blocks_the_sync_and_warn_lets_it_through(
    tmp_path: Path, kube: Client, namespace: str
) -> None:
    repo = Repo(tmp_path / "repo")
    repo.commit(
        "apps",
        {
            "app/ok.yaml": deployment("ok", "registry.example/app:1.0"),
            "app/bad.yaml": deployment("bad", "registry.example/app:latest"),
        },
    )
    source, cluster = GitSource(tmp_path / "cache"), Cluster(kube)
    options = SyncOptions(namespace=namespace, timeout=5, wait=False)
    deny = builtins()["disallow-latest-tag"]

    blocked = deliver(
        cluster,
        source,
        Target(repo.url, path="app"),
        Owner(namespace, "web"),
        [],
        options,
        guardrails=[deny],
    )
    assert not blocked.ok
    # objects are checked in the namespace they would be applied to
    why = f"Deployment/{namespace}/bad: disallow-latest-tag: images must be pinned"
    assert why in blocked.result.errors[0]
    assert f"Deployment/{namespace}/ok" not in blocked.result.errors[0]
    assert [d.metadata.name for d in kube.list(Deployment, namespace=namespace)] == []

    warn = msgspec.structs.replace(
        deny, spec=msgspec.structs.replace(deny.spec, validation_actions=["Warn"])
    )
    passed = deliver(
        cluster,
        source,
        Target(repo.url, path="app"),
        Owner(namespace, "web"),
        [],
        options,
        guardrails=[warn],
    )
    assert passed.ok, passed.result.errors
    assert len(passed.guardrail_warnings) == 1 and "bad" in passed.guardrail_warnings[0]
    names = sorted(d.metadata.name for d in kube.list(Deployment, namespace=namespace))
    assert names == ["bad", "ok"]


def test_a_sync_pod_security_would_refuse_is_refused_before_anything_is_applied(
    tmp_path: Path, kube: Client, namespace: str
) -> None:
    """No Guardrails at all: the namespace's own enforce label is what decides. The
    GuardrailCache reads the labels (as the operator does) and the sync is refused with
    the API server's message before the compliant Deployment is applied either."""
    import time

    from lightkube.resources.core_v1 import Namespace

    from quarterdeck.delivery.guardrail_cache import GuardrailCache

    kube.patch(Namespace, namespace, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}})
    root = compliant_pod_spec()
    root["securityContext"]["runAsUser"] = 0
    repo = Repo(tmp_path / "repo")
    repo.commit("apps", {"app/ok.yaml": deployment("ok", "registry.example/app:1.0"),
                         "app/root.yaml": yaml.safe_dump(wrap("Deployment", "root", root))})
    view = GuardrailCache(kube, time.monotonic).current()
    assert view.error == "" and view.namespaces[namespace]["pod-security.kubernetes.io/enforce"]
    blocked = deliver(Cluster(kube), GitSource(tmp_path / "cache"), Target(repo.url, path="app"),
                      Owner(namespace, "web"), [], SyncOptions(namespace=namespace, timeout=5,
                                                                wait=False),
                      guardrails=list(view.guardrails), namespaces=view.namespaces)
    assert not blocked.ok
    assert (f'Deployment/{namespace}/root: pod-security: would violate PodSecurity '
            '"restricted:latest": runAsUser=0 (pod must not set runAsUser=0)'
            in blocked.result.errors[0])
    assert [d.metadata.name for d in kube.list(Deployment, namespace=namespace)] == []


def test_the_gate_means_by_latest_what_the_api_server_means(
    tmp_path: Path, kube: Client, namespace: str
) -> None:
    """`baseline:latest` on the server's version, not on our newest table: a sysctl
    that v1.37 allows is refused by an older server, so the gate refuses it there too,
    with the server's own message (and lets it through where the server would)."""
    from lightkube.resources.core_v1 import Namespace

    kube.patch(Namespace, namespace, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "baseline"}}})
    spec = compliant_pod_spec()
    spec["securityContext"]["sysctls"] = [{"name": "net.ipv4.tcp_slow_start_after_idle",
                                           "value": "0"}]
    spec["nodeSelector"] = {"nowhere": "true"}  # nothing has to run for this test
    pod = {**wrap("Pod", "tuned", spec)}
    pod["metadata"] = {**pod["metadata"], "namespace": namespace}
    dry = kube._client._client.post(f"/api/v1/namespaces/{namespace}/pods",
                                    params={"dryRun": "All"}, json=pod)
    assert dry.status_code in (201, 403), dry.text
    repo = Repo(tmp_path / "repo")
    repo.commit("pod", {"app/pod.yaml": yaml.safe_dump(pod)})
    done = deliver(Cluster(kube), GitSource(tmp_path / "cache"), Target(repo.url, path="app"),
                   Owner(namespace, "web"), [],
                   SyncOptions(namespace=namespace, timeout=5, wait=False),
                   namespaces={namespace: {"pod-security.kubernetes.io/enforce": "baseline"}})
    if dry.status_code == 403:  # the server is older than the rule: refused by both
        assert not done.ok
        assert f"Pod/{namespace}/tuned: pod-security: {dry.json()['message']}" \
            in done.result.errors[0]
    else:
        assert done.ok, done.result.errors
