"""Helm as pure decisions: values files stay in the repository, the chart index picks
the highest fitting version, post-renders are inline, and Flux/Argo Helm imports."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from quarterdeck.delivery.helm import (
    HelmError,
    chart_from_index,
    helm_reason,
    post_render_kustomization,
    values_file,
)
from quarterdeck.delivery.imports import convert
from quarterdeck.delivery.imports_helm import MIRROR_PATH, MIRROR_URL

EXAMPLE = Path(__file__).parents[2] / "examples" / "delivery" / "flux-helmrelease" / "flux.yaml"


def test_values_files_must_stay_inside_the_repository(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    chart = root / "chart"
    chart.mkdir(parents=True)
    (chart / "values.yaml").write_text("a: 1\n")
    (tmp_path / "other.yaml").write_text("a: 2\n")
    (chart / "out.yaml").symlink_to(tmp_path / "other.yaml")
    assert values_file(root, chart, "values.yaml") == (chart / "values.yaml").resolve()
    with pytest.raises(HelmError, match=r"leaves the repository.*CVE-2022-24348"):
        values_file(root, chart, "../../other.yaml")
    with pytest.raises(HelmError, match="leaves the repository"):
        values_file(root, chart, "out.yaml")
    with pytest.raises(HelmError, match="absolute"):
        values_file(root, chart, str(tmp_path / "other.yaml"))
    with pytest.raises(HelmError, match="URLs are not allowed"):
        values_file(root, chart, "https://evil.example/values.yaml")


def test_chart_index_picks_the_highest_fitting_version_stored_beside_it(tmp_path: Path) -> None:
    repo = tmp_path / "charts"
    repo.mkdir()
    for v in ("1.0.0", "1.2.0", "2.0.0"):
        (repo / f"web-{v}.tgz").write_bytes(b"x")
    entries = [{"version": v, "urls": [f"web-{v}.tgz"]} for v in ("1.0.0", "1.2.0", "2.0.0")]
    entries.append({"version": "1.5.0", "urls": ["https://charts.example/web-1.5.0.tgz"]})
    (repo / "index.yaml").write_text(yaml.safe_dump({"entries": {"web": entries}}))
    assert chart_from_index(tmp_path, repo, "web", ">=1.0.0 <1.5.0").name == "web-1.2.0.tgz"
    assert chart_from_index(tmp_path, repo, "web", "").name == "web-2.0.0.tgz"
    with pytest.raises(HelmError, match="only charts stored beside the index"):
        chart_from_index(tmp_path, repo, "web", "1.5.0")
    with pytest.raises(HelmError, match="no chart named 'api'"):
        chart_from_index(tmp_path, repo, "api", "")


def test_post_render_takes_inline_fields_only_and_errors_lose_the_checkout_path() -> None:
    made = post_render_kustomization({"images": [{"name": "a", "newTag": "2"}]})
    assert made["resources"] == ["helm-output.yaml"]
    with pytest.raises(HelmError, match="resources not allowed"):
        post_render_kustomization({"resources": ["../../etc"]})
    with pytest.raises(HelmError, match="inline"):
        post_render_kustomization({"patches": [{"path": "p.yaml"}]})
    stderr = b"Error: parse error at (chart/templates/x.yaml:3): bad\nUse --debug flag\n"
    assert helm_reason(stderr, "/tmp/co") == "parse error at (chart/templates/x.yaml:3): bad"


def test_flux_helmrelease_from_a_git_path_maps_every_field() -> None:
    out = convert(yaml.safe_load_all(EXAMPLE.read_text()))
    assert out.unsupported == [] and out.skipped == []
    (app,) = [o for o in out.objects if o["kind"] == "Application"]
    spec = app["spec"]
    assert spec["sourceRef"] == {"name": "apps"} and spec["path"] == "helm-guestbook"
    helm = spec["render"]["helm"]
    assert helm["releaseName"] == "guestbook"
    assert helm["valuesFiles"] == ["values.yaml", "values-production.yaml"]
    assert helm["values"] == {"image": {"tag": "1.1"}}
    assert helm["valuesFrom"] == [
        {"kind": "ConfigMap", "name": "guestbook-values", "valuesKey": "values.yaml"}
    ]
    assert helm["postRender"]["kustomize"]["patches"][0]["target"] == {"kind": "Deployment"}


def test_helm_repository_needs_its_git_mirror_and_argo_helm_sources_map() -> None:
    repo = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": "charts", "namespace": "team"},
        "spec": {"url": "https://charts.example", "interval": "10m"},
    }
    release = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "web", "namespace": "team"},
        "spec": {
            "targetNamespace": "prod",
            "chart": {
                "spec": {
                    "chart": "web",
                    "version": "1.x",
                    "sourceRef": {"kind": "HelmRepository", "name": "charts"},
                }
            },
        },
    }
    plain = convert([repo, release])
    assert "chart server" in plain.skipped[0] and MIRROR_URL in plain.skipped[0]
    assert "was not imported" in plain.unsupported[0]
    repo["metadata"]["annotations"] = {
        MIRROR_URL: "https://git.example/charts",
        MIRROR_PATH: "stable",
    }  # type: ignore[index]
    mirrored = convert([repo, release])
    source, app = mirrored.objects
    assert source["spec"] == {"url": "https://git.example/charts", "interval": "10m"}
    assert app["spec"]["path"] == "stable"
    assert app["spec"]["render"] == {
        "type": "helm",
        "targetNamespace": "prod",
        "helm": {"chart": "web", "version": "1.x", "releaseName": "prod-web"},
    }
    argo = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "gb", "namespace": "argocd"},
        "spec": {
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "apps"},
            "source": {
                "repoURL": "https://git.example/apps",
                "path": "helm-guestbook",
                "helm": {
                    "valueFiles": ["values-production.yaml"],
                    "values": "greeting: hi\n",
                    "parameters": [{"name": "image.tag", "value": "2"}],
                },
            },
        },
    }
    (_, argo_app) = convert([argo]).objects
    assert argo_app["spec"]["render"]["helm"] == {
        "releaseName": "gb",
        "values": {"greeting": "hi", "image": {"tag": "2"}},
        "valuesFiles": ["values-production.yaml"],
    }
    argo["spec"]["source"] = {"repoURL": "https://charts.example", "chart": "web"}  # type: ignore[index]
    assert "chart server" in convert([argo]).skipped[0]
