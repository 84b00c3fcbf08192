"""Two tenants on one cluster: team-a cannot reach team-b, and a hostile commit hurts only
its own Application. See docs/tenancy.md for the threat table."""

from __future__ import annotations

import base64
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from delivery_setup import install_crds
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

from gitrepo import Repo
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.controller import ApplicationRes, Controller, SourceRes
from quarterdeck.delivery.manifests import Key
from quarterdeck.delivery.source import GitSource
from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES

pytestmark = pytest.mark.integration
CRDS = Path(__file__).parents[2] / "deploy" / "crds"
TOKEN = "team-b-secret-token-" + uuid.uuid4().hex


def cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '1'\n"


@pytest.fixture(scope="module")
def crds(kube: Client) -> None:
    install_crds(kube)  # applied, Established and listable


@pytest.fixture
def team_b(kube: Client, crds: None) -> Iterator[str]:
    name = f"team-b-{uuid.uuid4().hex[:6]}"
    kube.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    kube.delete(Namespace, name)


class Listener:
    """A loopback TCP listener that counts connections (the attacker's server)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


def source(ns: str, name: str, url: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
        "kind": "Source",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"url": url, "ref": {"branch": "main"}, **spec},
    }


def application(ns: str, name: str, path: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"sourceRef": {"name": "repo"}, "path": path, "timeout": "30s", **spec},
    }


def condition(kube: Client, res: Any, ns: str, name: str) -> tuple[str, str]:
    status = dict(kube.get(res, name, namespace=ns)).get("status") or {}
    ready = next(c for c in status.get("conditions", []) if c["type"] == "Ready")
    return ready["status"], ready["message"]


def rbac_in_force(kube: Client, namespace: str, resource: str, group: str = "") -> None:
    """Wait until the API server's authorizer lets ServiceAccount ``deployer`` patch
    ``resource`` (a RoleBinding just created takes a moment to reach its cache)."""
    from lightkube.models.authorization_v1 import ResourceAttributes, SubjectAccessReviewSpec
    from lightkube.resources.authorization_v1 import SubjectAccessReview

    from quarterdeck.kube.wait import wait_for

    review = SubjectAccessReview(
        spec=SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{namespace}:deployer",
            groups=["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
            resourceAttributes=ResourceAttributes(
                namespace=namespace, verb="patch", group=group, resource=resource
            ),
        )
    )

    def allowed() -> bool:
        status = kube.create(review).status
        return bool(status and status.allowed)

    wait_for(allowed, f"deployer's RBAC on {resource}", 30)


def test_token_is_never_sent_for_a_secret_of_another_namespace(
    kube: Client, namespace: str, team_b: str, tmp_path: Path, crds: None
) -> None:
    kube.create(
        Secret(
            metadata=ObjectMeta(name="git-cred", namespace=team_b),
            data={"token": base64.b64encode(TOKEN.encode()).decode()},
        )
    )
    listener = Listener()
    try:
        url = f"https://127.0.0.1:{listener.port}/team-b.git"
        ref = {"name": "git-cred", "namespace": team_b}
        Cluster(kube).apply(source(namespace, "steal", url, secretRef=ref))
        Controller(
            kube, tmp_path / "cache", namespace=namespace, policy=LOCAL_REPOSITORIES
        ).reconcile_all()
        status, message = condition(kube, SourceRes, namespace, "steal")
    finally:
        listener.close()
    assert listener.connections == 0
    assert status == "False"
    assert f"secretRef to namespace '{team_b}' refused" in message and TOKEN not in message


def test_team_a_cannot_read_team_b_repository_or_mirror(
    kube: Client, namespace: str, team_b: str, tmp_path: Path, crds: None
) -> None:
    private = Repo(tmp_path / "private")
    private.commit("b", {"app/b.yaml": cm("team-b-private")})
    cache = tmp_path / "cache"
    cluster = Cluster(kube)
    cluster.apply(source(team_b, "repo", private.url))
    Controller(kube, cache, namespace=team_b, policy=LOCAL_REPOSITORIES).reconcile_all()
    mirror = GitSource(cache).mirror_path(private.url)
    assert (mirror / "HEAD").exists()
    cluster.apply(source(namespace, "mirror", mirror.as_uri()))
    cluster.apply(
        application(namespace, "cross", "app", sourceRef={"name": "repo", "namespace": team_b})
    )
    team_a = Controller(kube, cache, namespace=namespace, policy=LOCAL_REPOSITORIES)
    team_a.reconcile_all()
    team_a.reconcile_all()
    assert (
        "file:// into the operator's cache is refused"
        in condition(kube, SourceRes, namespace, "mirror")[1]
    )
    status, message = condition(kube, ApplicationRes, namespace, "cross")
    assert status == "False" and f"sourceRef to namespace '{team_b}' refused" in message
    assert cluster.get("v1", Key("", "ConfigMap", namespace, "team-b-private")) is None


BOMB = "".join(
    [f"a0: &a0 [{', '.join(['lol'] * 9)}]\n"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)]
)
HOSTILE = {
    "alias bomb": ({"bad/bomb.yaml": BOMB}, "bad/bomb.yaml:"),
    "deep nesting": ({"bad/deep.yaml": "a: " + "[" * 2000 + "]" * 2000 + "\n"}, "bad/deep.yaml:"),
    "wrong-typed labels": (
        {"bad/labels.yaml": cm("x").replace("  name: x\n", "  name: x\n  labels: [a]\n")},
        "metadata.labels must be a mapping",
    ),
    "escaping generator": (
        {"bad/kustomization.yaml": "generators: [../../../outside]\n"},
        "generators: '../../../outside' leaves the repository",
    ),
}


def test_a_hostile_commit_stalls_only_its_own_application(
    kube: Client, namespace: str, tmp_path: Path, crds: None
) -> None:
    repo = Repo(tmp_path / "repo")
    repo.commit("good", {"good/g.yaml": cm("good")})
    cluster = Cluster(kube)
    cluster.apply(source(namespace, "repo", repo.url))
    cluster.apply(application(namespace, "good", "good"))
    cluster.apply(application(namespace, "bad", "bad"))
    ctl = Controller(kube, tmp_path / "cache", namespace=namespace, policy=LOCAL_REPOSITORIES)
    for name, (files, reason) in HOSTILE.items():
        repo.git("rm", "-rq", "--ignore-unmatch", "bad")
        repo.commit(name, {**files, "good/g.yaml": cm("good") + f"  b: {name!r}\n"})
        ctl.reconcile_all(force=True)
        assert condition(kube, ApplicationRes, namespace, "good")[0] == "True", name
        status, message = condition(kube, ApplicationRes, namespace, "bad")
        assert status == "False" and reason in message, (name, message)
        live = cluster.get("v1", Key("", "ConfigMap", namespace, "good"))
        assert live is not None and live["data"]["b"] == name
    repo.git("rm", "-rq", "bad")
    os.makedirs(repo.path / "bad", exist_ok=True)
    os.symlink("loop-b", repo.path / "bad" / "loop-a")
    os.symlink("loop-a", repo.path / "bad" / "loop-b")
    repo.commit("symlink loop", {"good/g.yaml": cm("good")})
    ctl.reconcile_all(force=True)
    assert condition(kube, ApplicationRes, namespace, "good")[0] == "True"
    status, message = condition(kube, ApplicationRes, namespace, "bad")
    assert status == "False" and "is a loop" in message


def test_team_a_cannot_adopt_or_prune_team_b_objects_or_namespace(
    kube: Client, namespace: str, team_b: str, tmp_path: Path, crds: None
) -> None:
    from lightkube.resources.core_v1 import ConfigMap

    kube.create(ConfigMap(metadata=ObjectMeta(name="shared", namespace=team_b), data={"a": "b"}))
    repo = Repo(tmp_path / "repo")
    takeover = cm("shared").replace("  name: shared\n", f"  name: shared\n  namespace: {team_b}\n")
    ns_doc = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {team_b}\n"
    repo.commit(
        "take over", {"app/cm.yaml": takeover, "app/ns.yaml": ns_doc, "app/own.yaml": cm("own")}
    )
    cluster = Cluster(kube)
    cluster.apply(source(namespace, "repo", repo.url))
    cluster.apply(application(namespace, "takeover", "app"))
    ctl = Controller(kube, tmp_path / "cache", namespace=namespace, policy=LOCAL_REPOSITORIES)
    ctl.reconcile_all()
    status, message = condition(kube, ApplicationRes, namespace, "takeover")
    assert status == "False"
    assert f"ConfigMap {team_b}/shared exists and was not created by this application" in message
    assert f"Namespace {team_b} exists and was not created by this application" in message
    repo.git("rm", "-q", "app/ns.yaml", "app/cm.yaml")
    repo.commit("drop them")
    ctl.reconcile_all(force=True)
    assert condition(kube, ApplicationRes, namespace, "takeover")[0] == "True"
    live = kube.get(ConfigMap, "shared", namespace=team_b)
    assert live.data == {"a": "b"} and not (live.metadata.labels or {})
    assert kube.get(Namespace, team_b).status.phase == "Active"


def test_an_application_can_do_no_more_than_its_service_account(
    kube: Client, namespace: str, team_b: str, tmp_path: Path, crds: None
) -> None:
    cluster = Cluster(kube)
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "deployer", "namespace": namespace},
        }
    )
    cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "deployer", "namespace": namespace},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"],
                }
            ],
        }
    )
    cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "deployer", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "deployer",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}],
        }
    )
    rbac_in_force(kube, namespace, "configmaps")
    repo = Repo(tmp_path / "repo")
    repo.commit("own", {"app/own.yaml": cm("own")})
    cluster.apply(source(namespace, "repo", repo.url))
    cluster.apply(application(namespace, "bounded", "app", serviceAccountName="deployer"))
    ctl = Controller(kube, tmp_path / "cache", namespace=namespace, policy=LOCAL_REPOSITORIES)
    ctl.reconcile_all()
    assert condition(kube, ApplicationRes, namespace, "bounded")[0] == "True"
    into_b = cm("planted").replace("  name: planted\n", f"  name: planted\n  namespace: {team_b}\n")
    admin = (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n"
        f"metadata:\n  name: {namespace}-admin\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n"
        "  kind: ClusterRole\n  name: cluster-admin\nsubjects:\n- kind: ServiceAccount\n"
        f"  name: deployer\n  namespace: {namespace}\n"
    )
    for name, files in {
        "into team-b": {"app/b.yaml": into_b},
        "cluster-admin": {"app/crb.yaml": admin},
    }.items():
        repo.git("rm", "-q", "--ignore-unmatch", "app/b.yaml", "app/crb.yaml")
        repo.commit(name, files)
        ctl.reconcile_all(force=True)
        status, message = condition(kube, ApplicationRes, namespace, "bounded")
        assert status == "False" and "forbidden" in message, (name, message)
    assert cluster.get("v1", Key("", "ConfigMap", team_b, "planted")) is None
    crb = Key("rbac.authorization.k8s.io", "ClusterRoleBinding", "", f"{namespace}-admin")
    assert cluster.get("rbac.authorization.k8s.io/v1", crb) is None
