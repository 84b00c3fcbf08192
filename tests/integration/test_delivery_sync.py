"""Delivery against a real control plane, from real git repositories made in the test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from lightkube import Client
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import ConfigMap

from gitrepo import Repo
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.inventory import Owner
from quarterdeck.delivery.manifests import Key
from quarterdeck.delivery.pipeline import Delivery, Target, deliver
from quarterdeck.delivery.source import GitSource
from quarterdeck.delivery.sync import SyncOptions, sync

pytestmark = pytest.mark.integration


def cm(name: str, value: str = "1") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '{value}'\n"


DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  progressDeadlineSeconds: {deadline}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      nodeSelector: {{nowhere: "{nowhere}"}}
      containers: [{{name: main, image: registry.invalid/app:1}}]
"""


class App:
    """An Application in miniature: a repo, an owner, an inventory carried between syncs."""

    def __init__(self, tmp_path: Path, kube: Client, namespace: str) -> None:
        self.repo = Repo(tmp_path / "repo")
        self.source = GitSource(tmp_path / "cache")
        self.cluster = Cluster(kube)
        self.owner = Owner(namespace, "web")
        self.namespace = namespace
        self.inventory: list = []

    def sync(self, **opts: object) -> Delivery:
        options = SyncOptions(namespace=self.namespace, timeout=30, **opts)  # type: ignore[arg-type]
        out = deliver(
            self.cluster,
            self.source,
            Target(self.repo.url, path="app"),
            self.owner,
            self.inventory,
            options,
        )
        if out.ok:
            self.inventory = out.result.inventory
        return out

    def live(self, name: str) -> ConfigMap | None:
        return self.cluster.get("v1", Key("", "ConfigMap", self.namespace, name))  # type: ignore[return-value]


@pytest.fixture
def app(tmp_path: Path, kube: Client, namespace: str) -> App:
    return App(tmp_path, kube, namespace)


def test_commit_is_applied_then_second_commit_changes_and_prunes(app: App) -> None:
    first = app.repo.commit("one", {"app/a.yaml": cm("a") + "---\n" + cm("b")})
    out = app.sync()
    assert out.ok, out.result.errors
    assert out.revision is not None and out.revision.sha == first
    assert sorted(k.name for k in out.result.created) == ["a", "b"]
    assert out.result.overall.status == "Healthy"
    assert app.live("a")["metadata"]["labels"]["delivery.quarterdeck.dev/name"] == "web"

    app.repo.commit("two", {"app/a.yaml": cm("a", "2")})
    out = app.sync()
    assert out.ok, out.result.errors
    assert [k.name for k in out.result.configured] == ["a"]
    assert [k.name for k in out.result.pruned] == ["b"]
    assert app.live("b") is None
    assert app.live("a")["data"] == {"a": "2"}
    assert [e.key.name for e in app.inventory] == ["a"]


def test_invalid_yaml_changes_nothing_and_names_file_and_line(app: App) -> None:
    app.repo.commit("one", {"app/a.yaml": cm("a")})
    assert app.sync().ok
    app.repo.commit("bad", {"app/a.yaml": cm("a", "2"), "app/b.yaml": "x: [1,\n"})
    out = app.sync()
    assert out.result.errors == [
        f"revision {out.revision.sha[:12]}: app/b.yaml:2:1: invalid YAML: "  # type: ignore[union-attr]
        "did not find expected node content"
    ]
    assert app.live("a")["data"] == {"a": "1"}


def test_symlink_escape_changes_nothing(app: App, tmp_path: Path) -> None:
    app.repo.commit("one", {"app/a.yaml": cm("a")})
    assert app.sync().ok
    (tmp_path / "outside.yaml").write_text(cm("stolen"))
    app.repo.write({"app/a.yaml": cm("a", "2")})
    (app.repo.path / "app" / "b.yaml").symlink_to(tmp_path / "outside.yaml")
    app.repo.commit("escape")
    out = app.sync()
    assert "app/b.yaml: symlink to" in out.result.errors[0]
    assert "leaves the repository" in out.result.errors[0]
    assert app.live("a")["data"] == {"a": "1"} and app.live("stolen") is None


def test_object_rejected_by_the_server_changes_nothing(app: App) -> None:
    app.repo.commit("one", {"app/a.yaml": cm("a")})
    assert app.sync().ok
    bad = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: broken}\nspec: {}\n"
    app.repo.commit("bad", {"app/a.yaml": cm("a", "2"), "app/d.yaml": bad})
    out = app.sync()
    assert len(out.result.errors) == 1
    assert out.result.errors[0].startswith(f"Deployment.apps {app.namespace}/broken: ")
    assert "selector" in out.result.errors[0]
    assert out.result.created == [] and out.result.configured == []
    assert app.live("a")["data"] == {"a": "1"}


def test_unknown_kind_changes_nothing(app: App) -> None:
    widget = "apiVersion: nowhere.example.com/v1\nkind: Gizmo\nmetadata: {name: g}\n"
    app.repo.commit("one", {"app/a.yaml": cm("a"), "app/g.yaml": widget})
    out = app.sync()
    assert out.result.errors == [
        "unknown kind Gizmo in nowhere.example.com/v1 (is its CustomResourceDefinition installed?)"
    ]
    assert app.live("a") is None


def test_prune_guard_refuses_an_empty_render(app: App) -> None:
    app.repo.commit("one", {"app/a.yaml": cm("a"), "app/b.yaml": cm("b")})
    assert app.sync().ok
    app.repo.git("rm", "-q", "app/a.yaml", "app/b.yaml")
    app.repo.write({"app/README.md": "empty"})
    app.repo.commit("empty")
    out = app.sync()
    assert out.result.errors == [
        "refusing to prune all 2 objects: the render is empty "
        "(set pruneOptions.allowEmpty to allow)"
    ]
    assert app.live("a") is not None and app.live("b") is not None


def test_drift_is_reported_per_field_and_other_managers_are_not_drift(
    app: App, kube: Client
) -> None:
    app.repo.commit("one", {"app/a.yaml": cm("a")})
    assert app.sync().ok
    # another manager adds a label: not drift; an edit of our field: drift
    kube.patch(
        ConfigMap,
        "a",
        {"metadata": {"labels": {"team": "x"}}},
        namespace=app.namespace,
        field_manager="someone-else",
    )
    assert app.sync(dry_run=True).result.drift == {}
    kube.patch(
        ConfigMap,
        "a",
        {"data": {"a": "edited"}},
        namespace=app.namespace,
        field_manager="kubectl-edit",
    )
    out = app.sync(dry_run=True)
    (diffs,) = out.result.drift.values()
    assert [(d.path, d.desired, d.live) for d in diffs] == [("data.a", "1", "edited")]
    out = app.sync()
    assert [k.name for k in out.result.configured] == ["a"]
    live = app.live("a")
    assert live["data"] == {"a": "1"} and live["metadata"]["labels"]["team"] == "x"


@pytest.fixture
def crd_group() -> Iterator[str]:
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    yield group


def test_crd_and_its_custom_resources_apply_in_order(
    app: App, kube: Client, crd_group: str
) -> None:
    crd = f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.{crd_group}}}
spec:
  group: {crd_group}
  names: {{kind: Widget, plural: widgets, singular: widget}}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"""
    widget = (
        f"apiVersion: {crd_group}/v1\nkind: Widget\nmetadata: {{name: w1}}\nspec: {{size: 3}}\n"
    )
    app.repo.commit("crd", {"app/crd.yaml": crd, "app/widget.yaml": widget})
    try:
        out = app.sync()
        assert out.ok, out.result.errors
        waves = [[a.key.kind for a in wave] for wave in out.result.plan.waves]
        assert waves == [["CustomResourceDefinition"], ["Widget"]]
        live = app.cluster.get(f"{crd_group}/v1", Key(crd_group, "Widget", app.namespace, "w1"))
        assert live is not None and live["spec"] == {"size": 3}
    finally:
        kube.delete(CustomResourceDefinition, f"widgets.{crd_group}")


def test_deployment_that_never_becomes_ready_is_degraded_with_the_reason(app: App) -> None:
    app.repo.commit("one", {"app/d.yaml": DEPLOY.format(name="stuck", deadline=2, nowhere="true")})
    out = app.sync()
    assert out.ok, out.result.errors
    h = out.result.health[Key("apps", "Deployment", app.namespace, "stuck")]
    assert h.status == "Degraded"
    assert "has timed out progressing" in h.message


def test_sync_without_git_applies_rendered_objects_directly(app: App) -> None:
    objs = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "direct"},
            "data": {"k": "v"},
        }
    ]
    result = sync(app.cluster, objs, [], app.owner, SyncOptions(namespace=app.namespace))
    assert result.ok and [k.name for k in result.created] == ["direct"]


def test_immutable_field_conflict_is_reported_or_recreated_when_opted_in(app: App) -> None:
    frozen = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: frozen}}\nimmutable: true\n"
    app.repo.commit("one", {"app/f.yaml": frozen.format() + "data: {a: '1'}\n"})
    assert app.sync().ok
    app.repo.commit("two", {"app/f.yaml": frozen.format() + "data: {a: '2'}\n"})
    out = app.sync()
    assert len(out.result.errors) == 1
    assert "immutable" in out.result.errors[0]
    assert out.result.errors[0].endswith("(set recreateOnImmutable to replace it)")
    assert app.live("frozen")["data"] == {"a": "1"}
    out = app.sync(recreate_on_immutable=True)
    assert out.ok, out.result.errors
    assert [k.name for k in out.result.recreated] == ["frozen"]
    assert app.live("frozen")["data"] == {"a": "2"}
