"""Helm charts on a real control plane, rendered by the real Helm built into the cache:
the helm-guestbook example with values files Ready, a Flux HelmRelease import Ready,
a chart from a local chart repository, and the refusals (a values file outside the
repository, a template that does not render)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from delivery_setup import EXAMPLES, application, example_files, install_crds, ready, source
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap

from gitrepo import Repo
from quarterdeck.delivery.controller import Controller
from quarterdeck.delivery.helm import HELM
from quarterdeck.delivery.imports import convert
from quarterdeck.delivery.manifests import Key
from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES
from quarterdeck.devcluster.gocommand import cached_command

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(cached_command(HELM) is None, reason="helm not built: run qd dev build"),
]
DEPLOYMENT = "guestbook-helm-guestbook"


@pytest.fixture
def setup(tmp_path: Path, kube: Client, namespace: str) -> tuple[Repo, Controller]:
    install_crds(kube)
    repo = Repo(tmp_path / "repo")
    ctl = Controller(kube, tmp_path / "cache", namespace=namespace, policy=LOCAL_REPOSITORIES)
    ctl.cluster.apply(source(namespace, repo.url))
    return repo, ctl


def helm(**fields: Any) -> dict[str, Any]:
    return {"type": "helm", "helm": {"releaseName": "guestbook", **fields}}


def live(ctl: Controller, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
    api = "apps/v1" if kind == "Deployment" else "v1"
    return ctl.cluster.get(api, Key(api.rpartition("/")[0], kind, namespace, name))


def test_chart_with_values_files_is_ready(setup: tuple[Repo, Controller], namespace: str) -> None:
    repo, ctl = setup
    repo.commit("chart", example_files("helm-guestbook"))
    files = ["values.yaml", "values-production.yaml"]
    ctl.cluster.apply(
        application(namespace, "gb", "helm-guestbook", render=helm(valuesFiles=files))
    )
    apps = ctl.reconcile_all()
    assert ready(apps, "gb")[0] == "True", ready(apps, "gb")
    deployment = live(ctl, namespace, "Deployment", DEPLOYMENT)
    config = live(ctl, namespace, "ConfigMap", DEPLOYMENT)
    assert deployment is not None and deployment["spec"]["replicas"] == 3
    assert config is not None and config["data"] == {"GREETING": "hello from production"}


def test_values_file_outside_the_repository_is_refused(
    setup: tuple[Repo, Controller], namespace: str, tmp_path: Path
) -> None:
    repo, ctl = setup
    outside = tmp_path / "secret-values.yaml"
    outside.write_text("replicaCount: 9\n")
    repo.commit("chart", example_files("helm-guestbook"))  # symlinks out: test_delivery_helm unit
    for i, path in enumerate(["../../secret-values.yaml", str(outside)]):
        name = f"out{i}"
        ctl.cluster.apply(
            application(namespace, name, "helm-guestbook", render=helm(valuesFiles=[path]))
        )
    apps = ctl.reconcile_all()
    messages = [ready(apps, f"out{i}") for i in range(2)]
    assert all(status == "False" for status, _ in messages), messages
    assert "leaves the repository" in messages[0][1] and "CVE-2022-24348" in messages[0][1]
    assert "is absolute" in messages[1][1]
    assert live(ctl, namespace, "Deployment", DEPLOYMENT) is None


def test_chart_that_fails_to_render_reports_helms_message_with_the_file(
    setup: tuple[Repo, Controller], namespace: str
) -> None:
    repo, ctl = setup
    files = example_files("helm-guestbook")
    files["helm-guestbook/templates/broken.yaml"] = "kind: ConfigMap\n{{ .Values.nope | oops }}\n"
    repo.commit("broken", files)
    ctl.cluster.apply(application(namespace, "gb", "helm-guestbook", render=helm()))
    status, message = ready(ctl.reconcile_all(), "gb")
    assert status == "False"
    assert "helm template failed" in message and "templates/broken.yaml" in message, message
    assert "oops" in message


def _chart_repository() -> dict[str, bytes | str]:
    """A local chart repository: the example packaged as helm-guestbook-0.1.0.tgz (and an
    older 0.0.9 that the range must not pick) with its index.yaml."""
    out: dict[str, bytes | str] = {}
    for version in ("0.0.9", "0.1.0"):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            base = EXAMPLES / "helm-guestbook"
            for path in sorted(base.rglob("*")):
                text = path.read_bytes() if path.is_file() else b""
                if path.name == "Chart.yaml":
                    text = text.replace(b"version: 0.1.0", f"version: {version}".encode())
                if version == "0.0.9" and path.name == "values.yaml":
                    text = text.replace(b"replicaCount: 1", b"replicaCount: 7")
                info = tarfile.TarInfo(f"helm-guestbook/{path.relative_to(base).as_posix()}")
                if path.is_dir():
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                else:
                    info.size = len(text)
                    tar.addfile(info, io.BytesIO(text))
        out[f"charts/helm-guestbook-{version}.tgz"] = buf.getvalue()
    entries = [
        {"name": "helm-guestbook", "version": v, "urls": [f"helm-guestbook-{v}.tgz"]}
        for v in ("0.0.9", "0.1.0")
    ]
    out["charts/index.yaml"] = yaml.safe_dump(
        {"apiVersion": "v1", "entries": {"helm-guestbook": entries}}
    )
    return out


def test_chart_from_a_local_chart_repository_index(
    setup: tuple[Repo, Controller], namespace: str
) -> None:
    repo, ctl = setup
    for name, content in _chart_repository().items():
        target = repo.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    repo.commit("chart repository")
    render = helm(chart="helm-guestbook", version=">=0.1.0 <1.0.0", values={"replicaCount": 2})
    ctl.cluster.apply(application(namespace, "gb", "charts", render=render))
    apps = ctl.reconcile_all()
    assert ready(apps, "gb")[0] == "True", ready(apps, "gb")
    deployment = live(ctl, namespace, "Deployment", DEPLOYMENT)
    assert deployment is not None and deployment["spec"]["replicas"] == 2


def test_flux_helmrelease_import_is_ready(
    setup: tuple[Repo, Controller], kube: Client, namespace: str
) -> None:
    repo, ctl = setup
    repo.commit("chart", example_files("helm-guestbook"))
    flux = (EXAMPLES / "flux-helmrelease" / "flux.yaml").read_text()
    flux = flux.replace("https://git.example/apps.git", repo.url)
    flux = flux.replace("namespace: flux-system", f"namespace: {namespace}")
    imported = convert(yaml.safe_load_all(flux))
    assert imported.unsupported == [] and imported.skipped == []
    kube.create(
        ConfigMap(
            metadata=ObjectMeta(name="guestbook-values", namespace=namespace),
            data={"values.yaml": "greeting: hello from a ConfigMap\n"},
        )
    )
    for obj in imported.objects:
        ctl.cluster.apply(obj)
    apps = ctl.reconcile_all()
    assert ready(apps, "guestbook")[0] == "True", ready(apps, "guestbook")
    deployment = live(ctl, namespace, "Deployment", DEPLOYMENT)
    config = live(ctl, namespace, "ConfigMap", DEPLOYMENT)
    assert deployment is not None and config is not None
    assert deployment["spec"]["replicas"] == 3  # values-production.yaml
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.local/guestbook:1.1"  # inline values win over files
    assert config["data"]["GREETING"] == "hello from a ConfigMap"  # valuesFrom over files
    assert deployment["metadata"]["annotations"]["post-rendered"] == "true"
