"""Projects on the dev cluster, two tenants: what team-a's Project does not allow is refused
as a whole before anything is applied, with the object and the rule named and an Event.
See docs/tenancy.md for the threat table."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from delivery_setup import install_crds
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Namespace
from typer.testing import CliRunner

from gitrepo import Repo
from quarterdeck.cli.main import app as qd
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.controller import ApplicationRes, Controller
from quarterdeck.delivery.manifests import Key
from quarterdeck.delivery.project_cache import ProjectRes
from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES
from quarterdeck.devcluster.session import RunningCluster

pytestmark = pytest.mark.integration
CRDS = Path(__file__).parents[2] / "deploy" / "crds"


def cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '1'\n"


def source(ns: str, name: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
        "kind": "Source",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"url": url, "ref": {"branch": "main"}},
    }


def application(ns: str, name: str, path: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"sourceRef": {"name": "repo"}, "path": path, "timeout": "30s", **spec},
    }


@pytest.fixture(scope="module")
def crds(kube: Client) -> None:
    install_crds(kube)  # applied, Established and listable


def project(name: str, team: str, repos: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name},
        "spec": {
            "description": f"{team} only",
            "applicationNamespaces": [team],
            "sourceRepos": repos,
            "destinations": [{"namespace": team}],
        },
    }


@pytest.fixture
def team_b(kube: Client, crds: None) -> Iterator[str]:
    name = f"team-b-{uuid.uuid4().hex[:6]}"
    kube.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    kube.delete(Namespace, name)


@pytest.fixture
def projects(kube: Client, crds: None) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        kube.delete(ProjectRes, name)


def ready(kube: Client, ns: str, name: str) -> dict[str, Any]:
    status = dict(kube.get(ApplicationRes, name, namespace=ns)).get("status") or {}
    return dict(next(c for c in status.get("conditions", []) if c["type"] == "Ready"))


def refusals(kube: Client, ns: str, name: str) -> list[str]:
    return [
        str(e.message)
        for e in kube.list(Event, namespace=ns)
        if e.involvedObject.name == name and e.reason == "ProjectRefused"
    ]


def test_team_a_project_refuses_team_b_namespace_and_cluster_role_bindings(
    kube: Client,
    namespace: str,
    team_b: str,
    tmp_path: Path,
    projects: list[str],
    dev_cluster: RunningCluster,
) -> None:
    repo = Repo(tmp_path / "repo")
    repo.commit("own", {"app/own.yaml": cm("own")})
    name = f"team-a-{uuid.uuid4().hex[:6]}"
    cluster = Cluster(kube)
    cluster.apply(project(name, namespace, [repo.url]))
    projects.append(name)
    cluster.apply(source(namespace, "repo", repo.url))
    cluster.apply(application(namespace, "web", "app", project=name))
    ctl = Controller(kube, tmp_path / "cache", namespace=namespace, policy=LOCAL_REPOSITORIES)
    ctl.reconcile_all()
    assert ready(kube, namespace, "web")["status"] == "True"
    into_b = cm("planted").replace("  name: planted\n", f"  name: planted\n  namespace: {team_b}\n")
    admin = (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n"
        f"metadata:\n  name: {namespace}-admin\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n"
        "  kind: ClusterRole\n  name: cluster-admin\nsubjects:\n- kind: ServiceAccount\n"
        f"  name: default\n  namespace: {namespace}\n"
    )
    cases = {
        "into team-b": (
            {"app/b.yaml": into_b},
            f"ConfigMap {team_b}/planted: spec.destinations does not list namespace '{team_b}'",
        ),
        "cluster-admin": (
            {"app/crb.yaml": admin},
            f"ClusterRoleBinding {namespace}-admin: spec.clusterResourceAllow does not list "
            "group 'rbac.authorization.k8s.io' kind 'ClusterRoleBinding'",
        ),
    }
    for case, (files, says) in cases.items():
        repo.git("rm", "-q", "--ignore-unmatch", "app/b.yaml", "app/crb.yaml")
        # the same commit changes an allowed object: the whole plan is refused, not a part
        repo.commit(case, {**files, "app/own.yaml": cm("own") + f"  case: {case!r}\n"})
        ctl.reconcile_all(force=True)
        cond = ready(kube, namespace, "web")
        assert cond["status"] == "False" and cond["reason"] == "ProjectRefused", (case, cond)
        assert f"Project '{name}' refuses {says}" in cond["message"], (case, cond)
        assert "nothing was applied" in cond["message"]
        assert any(says in m for m in refusals(kube, namespace, "web")), case
        own = cluster.get("v1", Key("", "ConfigMap", namespace, "own"))
        assert own is not None and "case" not in own["data"], case
    assert cluster.get("v1", Key("", "ConfigMap", team_b, "planted")) is None
    crb = Key("rbac.authorization.k8s.io", "ClusterRoleBinding", "", f"{namespace}-admin")
    assert cluster.get("rbac.authorization.k8s.io/v1", crb) is None
    # team-b cannot borrow team-a's Project by naming it
    cluster.apply(source(team_b, "repo", repo.url))
    cluster.apply(application(team_b, "borrow", "app", project=name))
    Controller(
        kube, tmp_path / "cache-b", namespace=team_b, policy=LOCAL_REPOSITORIES
    ).reconcile_all()
    cond = ready(kube, team_b, "borrow")
    assert cond["reason"] == "ProjectRefused"
    assert f"refuses Applications of namespace '{team_b}'" in cond["message"]
    assert cluster.get("v1", Key("", "ConfigMap", team_b, "own")) is None
    # and `qd get projects` shows what the Project allows
    out = CliRunner().invoke(qd, ["get", "projects", "--kubeconfig", str(dev_cluster.kubeconfig)])
    assert out.exit_code == 0, out.output
    header, *rows = out.stdout.splitlines()
    assert header.split() == ["NAME", "APPLICATIONS", "REPOS", "DESTINATIONS", "AGE"]
    (row,) = [r.split() for r in rows if r.startswith(name)]
    assert row[:4] == [name, namespace, repo.url, namespace]


def test_a_source_url_outside_the_project_is_refused_before_fetching(
    kube: Client, namespace: str, tmp_path: Path, projects: list[str]
) -> None:
    repo = Repo(tmp_path / "repo")
    repo.commit("own", {"app/own.yaml": cm("own")})
    name = f"team-a-{uuid.uuid4().hex[:6]}"
    cluster = Cluster(kube)
    cluster.apply(project(name, namespace, ["https://git.example.com/team-a/*"]))
    projects.append(name)
    cluster.apply(source(namespace, "repo", repo.url))
    cluster.apply(application(namespace, "web", "app", project=name))
    ctl = Controller(kube, tmp_path / "cache", namespace=namespace, policy=LOCAL_REPOSITORIES)
    ctl.reconcile_all()
    ctl.reconcile_all()
    cond = ready(kube, namespace, "web")
    assert cond["status"] == "False" and cond["reason"] == "ProjectRefused", cond
    says = f"Project '{name}' refuses source {repo.url}: spec.sourceRepos does not list it"
    assert cond["message"] == says
    assert refusals(kube, namespace, "web") == [says]
    assert cluster.get("v1", Key("", "ConfigMap", namespace, "own")) is None
