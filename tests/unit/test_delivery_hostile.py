"""Hostile repositories: every refusal names the file and the reason, before kustomize runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from quarterdeck.delivery.render import Limits, Options, RenderError, check_tree, render

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '1'\n"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("kustomization", "message"),
    [
        ("generators: [../../../outside]\n", "generators: '../../../outside' leaves"),
        ("transformers: [/etc/passwd]\n", "transformers: '/etc/passwd' leaves"),
        ("validators: [../../outside/v.yaml]\n", "validators: '../../outside/v.yaml' leaves"),
        ("components: [../../outside]\n", "components: '../../outside' leaves"),
        ("patches: [{path: ../../outside/p.yaml}]\n", "patches: '../../outside/p.yaml' leaves"),
        (
            "configMapGenerator: [{name: c, files: [k=../../outside/secret]}]\n",
            "configMapGenerator: '../../outside/secret' leaves",
        ),
        (
            "secretGenerator: [{name: c, envs: [../../outside/.env]}]\n",
            "secretGenerator: '../../outside/.env' leaves",
        ),
        (
            "generators:\n- |\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n"
            "  metadata: {name: x}\n  files: [../../outside/secret]\n",
            "generators: '../../outside/secret' leaves",
        ),
        (
            'generators: ["http://127.0.0.1:9/gen.yaml"]\n',
            "generators: remote base 'http://127.0.0.1:9/gen.yaml' is not allowed",
        ),
        (
            "resources: [git@example.com:x/y.git]\n",
            "resources: remote base 'git@example.com:x/y.git'",
        ),
        ("resources: [1, {a: b}]\nnamespace: [x]\n", None),  # wrong types: kustomize says why
    ],
)
def test_every_path_field_is_checked_before_kustomize_runs(
    tmp_path: Path, kustomization: str, message: str | None
) -> None:
    _tree(tmp_path / "outside", {"kustomization.yaml": "resources: []\n", "secret": "token"})
    repo = _tree(tmp_path / "repo", {"app/kustomization.yaml": kustomization})
    expected = f"app/kustomization.yaml: {message}" if message else "^app: kustomize failed: ."
    with pytest.raises(RenderError, match=expected):
        render(repo, "app")


def test_remote_generators_stay_refused_even_with_allow_remote_bases(tmp_path: Path) -> None:
    repo = _tree(tmp_path, {"app/kustomization.yaml": "generators: [https://x.test/g.yaml]\n"})
    with pytest.raises(RenderError, match="generators: remote base"):
        render(repo, "app", Options(allow_remote_bases=True))


def test_symlink_loops_and_dangling_links_are_refused_with_their_file(tmp_path: Path) -> None:
    repo = _tree(tmp_path / "repo", {"app/a.yaml": CM.format(name="a")})
    os.symlink("b", repo / "app" / "a-loop")
    os.symlink("a-loop", repo / "app" / "b")
    with pytest.raises(RenderError, match=r"app/(a-loop|b): symlink to '(b|a-loop)' is a loop"):
        check_tree(repo, Limits())
    (repo / "app" / "a-loop").unlink()
    (repo / "app" / "b").unlink()
    os.symlink("nowhere.yaml", repo / "app" / "d.yaml")
    with pytest.raises(RenderError, match=r"app/d.yaml: symlink to 'nowhere.yaml' points at"):
        check_tree(repo, Limits())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: [a]\n", "labels must"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: {a: 1}\n", "labels.a"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  annotations: a\n", "annot"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x]\n", "has no metadata.name"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  finalizers: a\n", "finali"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: 5\n", "namespace"),
        ("a: " + "[" * 2000 + "]" * 2000 + "\n", "nesting is deeper than"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n"
                for i in range(7)
            ),
            "aliases expand to more than",
        ),
    ],
)
def test_wrong_types_and_bombs_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    repo = _tree(tmp_path, {"app/bad.yaml": text})
    with pytest.raises(RenderError, match=f"app/bad.yaml:.*{message}"):
        render(repo, "app")


def test_a_file_over_the_limit_is_refused_without_reading_it(tmp_path: Path) -> None:
    repo = _tree(tmp_path, {"app/a.yaml": CM.format(name="a")})
    with (repo / "app" / "big.yaml").open("wb") as handle:
        handle.truncate(200 << 20)  # sparse
    with pytest.raises(RenderError, match=r"app/big.yaml: file is 209715200 bytes, over"):
        check_tree(repo, Limits())


def test_kustomize_runs_under_a_memory_limit(tmp_path: Path) -> None:
    repo = _tree(
        tmp_path,
        {"app/kustomization.yaml": "resources: [a.yaml]\n", "app/a.yaml": CM.format(name="a")},
    )
    assert [m.key.name for m in render(repo, "app")] == ["a"]  # 2 GiB by default: enough
    starved = Options(limits=Limits(max_memory_bytes=64 << 20))
    with pytest.raises(RenderError, match=r"^app: kustomize failed"):
        render(repo, "app", starved)
