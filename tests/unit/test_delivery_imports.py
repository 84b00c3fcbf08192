"""qd import: Flux and Argo CD objects turned into Sources and Applications."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from quarterdeck.api import delivery as api
from quarterdeck.cli.main import app as qd
from quarterdeck.delivery.imports import convert

FLUX = """apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: platform, namespace: flux-system}
spec:
  url: https://git.example.com/platform.git
  interval: 1m
  ref: {semver: ">=1.0.0 <2.0.0"}
  secretRef: {name: git-auth}
  ignore: "docs/"
  verify: {mode: head, secretRef: {name: pgp}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  sourceRef: {kind: GitRepository, name: platform}
  path: ./apps/prod
  interval: 10m
  retryInterval: 1m
  prune: true
  wait: true
  force: true
  targetNamespace: prod
  dependsOn: [{name: infra}]
  postBuild: {substitute: {cluster: prod}}
  healthCheckExprs:
  - apiVersion: example.com/v1
    kind: Widget
    current: status.phase == "Ready"
"""

ARGO = """apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: guestbook, namespace: argocd}
spec:
  project: default
  source:
    repoURL: https://git.example.com/apps.git
    targetRevision: v1.4.0
    path: guestbook
    kustomize: {namePrefix: gb-, images: ["nginx=nginx:1.27"]}
  destination: {server: "https://kubernetes.default.svc", namespace: guestbook}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [CreateNamespace=true]
"""


def test_flux_objects_become_a_source_and_an_application() -> None:
    result = convert(yaml.safe_load_all(FLUX))
    source, app = result.objects
    assert api.decode_source(source).spec.ref.semver == ">=1.0.0 <2.0.0"
    decoded = api.decode_application(app)
    assert decoded.spec.path == "apps/prod"
    assert decoded.spec.render.target_namespace == "prod"
    assert decoded.spec.retry.interval == "1m" and decoded.spec.recreate_on_immutable
    assert decoded.spec.depends_on[0].name == "infra"
    assert decoded.spec.health_expressions[0].kind == "Widget"
    assert result.unsupported == [
        "GitRepository flux-system/platform: spec.verify is not supported",
        "Kustomization flux-system/apps: spec.postBuild is not supported",
        "Kustomization flux-system/apps: spec.healthCheckExprs copied as healthExpressions; "
        "Flux evaluates them over the object's fields, ours over `object` "
        "(write object.status...)",
    ]


def test_argo_application_becomes_both_with_notes() -> None:
    result = convert(yaml.safe_load_all(ARGO))
    source, app = result.objects
    assert source["metadata"] == {"name": "guestbook", "namespace": "guestbook"}
    assert api.decode_source(source).spec.ref.tag == "v1.4.0"
    decoded = api.decode_application(app)
    assert decoded.spec.prune and decoded.spec.self_heal and not decoded.spec.suspend
    assert decoded.spec.render.name_prefix == "gb-"
    assert result.unsupported == [
        "Application argocd/guestbook: spec.source.kustomize.images is not supported",
        "Application argocd/guestbook: spec.syncPolicy.syncOptions are not supported",
        "Application argocd/guestbook: targetRevision 'v1.4.0' taken as a tag",
    ]


def test_other_objects_are_skipped_and_remote_clusters_refused() -> None:
    argo = yaml.safe_load(ARGO)
    argo["spec"]["destination"]["server"] = "https://prod.example.com"
    result = convert([argo, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}])
    assert result.objects == []  # never imported: it would deploy to the local cluster
    assert "refused: destination cluster 'https://prod.example.com' is not served" in (
        result.skipped[0]
    )
    assert result.skipped[1:] == [
        "ConfigMap default/x (v1) is not a Flux GitRepository, HelmRepository, "
        "Kustomization, HelmRelease or Argo CD Application"
    ]


def test_cli_prints_objects_and_warnings(tmp_path: Path) -> None:
    path = tmp_path / "flux.yaml"
    path.write_text(FLUX)
    result = CliRunner().invoke(qd, ["import", str(path)])
    assert result.exit_code == 0, result.output
    assert [d["kind"] for d in yaml.safe_load_all(result.stdout)] == ["Source", "Application"]
    assert "warning: Kustomization flux-system/apps: spec.postBuild" in result.stderr
