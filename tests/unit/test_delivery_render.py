"""Rendering plain directories and kustomizations (real kubectl kustomize), and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck.delivery.manifests import Key, ManifestError, parse_documents
from quarterdeck.delivery.render import Limits, Options, RenderError, render

CM = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
data:
  a: "1"
"""
DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx
        envFrom: [{configMapRef: {name: settings}}]
"""


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_directory_is_read_recursively_with_multiple_documents(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "app/a.yaml": CM.format(name="a") + "---\n" + CM.format(name="b") + "---\n",
            "app/sub/c.yml": CM.format(name="c"),
            "app/sub/notes.txt": "ignored",
            "app/.hidden/d.yaml": "not: [valid",
        },
    )
    keys = [m.key for m in render(tmp_path, "app")]
    assert keys == [Key("", "ConfigMap", "", n) for n in "abc"]


def test_list_objects_are_expanded() -> None:
    text = "apiVersion: v1\nkind: List\nitems:\n- " + CM.format(name="x").replace("\n", "\n  ")
    assert [m.key.name for m in parse_documents(text, "l.yaml")] == ["x"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb: [1, 2\nc: 3\n", r"bad.yaml:3:\d+: invalid YAML"),
        ("- 1\n- 2\n", "bad.yaml:1: a document must be a mapping, not a list"),
        ("kind: ConfigMap\nmetadata: {name: x}\n", "bad.yaml:1: object has no apiVersion"),
        (CM.format(name="a") + "---\napiVersion: v1\nkind: Secret\n", "bad.yaml:8: Secret has no"),
    ],
)
def test_bad_documents_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_documents(text, "bad.yaml")


def test_duplicate_objects_are_refused_with_both_places(tmp_path: Path) -> None:
    _tree(tmp_path, {"a.yaml": CM.format(name="x"), "b.yaml": CM.format(name="x")})
    with pytest.raises(RenderError, match=r"b.yaml:1: duplicate ConfigMap x, first .* a.yaml:1"):
        render(tmp_path)


@pytest.mark.parametrize("path", ["..", "app/../../x", "/etc"])
def test_paths_leaving_the_repository_are_refused(tmp_path: Path, path: str) -> None:
    _tree(tmp_path / "repo", {"app/a.yaml": CM.format(name="a")})
    with pytest.raises(RenderError, match=r"leaves the repository|is absolute"):
        render(tmp_path / "repo", path)


def test_symlink_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    repo = _tree(tmp_path / "repo", {"app/a.yaml": CM.format(name="a")})
    (tmp_path / "secret.yaml").write_text(CM.format(name="stolen"))
    (repo / "app" / "b.yaml").symlink_to(tmp_path / "secret.yaml")
    with pytest.raises(RenderError, match=r"app/b.yaml: symlink to .* leaves the repository"):
        render(repo, "app")


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    _tree(tmp_path, {"big.yaml": CM.format(name="a") + "#" * 2000})
    with pytest.raises(RenderError, match=r"big.yaml: file is .* over the limit of 1000"):
        render(tmp_path, options=Options(limits=Limits(max_file_bytes=1000)))


def test_kustomize_builds_with_the_real_binary(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "base/kustomization.yaml": "resources: [deploy.yaml]\n"
            "configMapGenerator:\n- name: settings\n  literals: [a=1]\n",
            "base/deploy.yaml": DEPLOY,
            "prod/kustomization.yaml": "resources: [../base]\nnamespace: prod\nnamePrefix: p-\n",
        },
    )
    objs = {m.key.kind: m.obj for m in render(tmp_path, "prod")}
    assert objs["Deployment"]["metadata"] == {"name": "p-web", "namespace": "prod"}
    cm_name = objs["ConfigMap"]["metadata"]["name"]
    assert cm_name.startswith("p-settings-")
    env_from = objs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert env_from == [{"configMapRef": {"name": cm_name}}]


def test_target_namespace_and_prefix_apply_to_plain_directories(tmp_path: Path) -> None:
    _tree(tmp_path, {"app/cm.yaml": CM.format(name="settings"), "app/deploy.yaml": DEPLOY})
    opts = Options(target_namespace="team-a", name_prefix="x-")
    objs = {m.key.kind: m.obj for m in render(tmp_path, "app", opts)}
    assert objs["ConfigMap"]["metadata"] == {"name": "x-settings", "namespace": "team-a"}
    env_from = objs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert env_from == [{"configMapRef": {"name": "x-settings"}}]


@pytest.mark.parametrize(
    ("kustomization", "message"),
    [
        ("resources:\n- https://github.com/x/y//base?ref=v1\n", "remote base .* is not allowed"),
        ("resources: [../../outside]\n", "'../../outside' leaves the repository"),
        ("helmCharts: [{name: x}]\n", "helm charts in kustomizations are not enabled"),
    ],
)
def test_unsafe_kustomizations_are_refused(
    tmp_path: Path, kustomization: str, message: str
) -> None:
    _tree(tmp_path / "outside", {"kustomization.yaml": "resources: []\n"})
    repo = _tree(tmp_path / "repo", {"app/kustomization.yaml": kustomization})
    with pytest.raises(RenderError, match=message):
        render(repo, "app")


def test_kustomize_exec_plugins_are_off(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "app/kustomization.yaml": "generators: [gen.yaml]\n",
            "app/gen.yaml": "apiVersion: example.com/v1\nkind: Run\nmetadata:\n  name: g\n"
            "  annotations:\n    config.kubernetes.io/function: |\n      exec:\n"
            "        path: /bin/sh\n",
        },
    )
    with pytest.raises(RenderError, match=r"app: kustomize failed: .*external plugins disabled"):
        render(tmp_path, "app")


def test_kustomize_errors_are_reported_with_the_path(tmp_path: Path) -> None:
    _tree(tmp_path, {"app/kustomization.yaml": "resources: [missing.yaml]\n"})
    with pytest.raises(RenderError, match=r"app: kustomize failed: .*missing.yaml"):
        render(tmp_path, "app")
