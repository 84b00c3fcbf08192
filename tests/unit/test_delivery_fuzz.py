"""Fuzz: render + plan over generated hostile repositories never raise anything but a
RenderError (which the Application's reconcile turns into Ready=False with the reason)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quarterdeck.delivery.inventory import Owner
from quarterdeck.delivery.plan import plan
from quarterdeck.delivery.render import Limits, Options, RenderError, check_tree, render

SMALL = Limits(timeout=20.0, max_file_bytes=64 << 10, max_total_bytes=256 << 10)
names = st.sampled_from(["a", "b", "c", "sub/d", "sub/e", "..", "../x", "/etc"])
yaml_texts = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=120).map(lambda b: b.decode("latin-1")),
    st.sampled_from(
        [
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, labels: [a]}\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, annotations: {a: 1}}\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x]}\n",
            "apiVersion: v1\nkind: List\nitems: [1, a, {kind: x}]\n",
            "a: &a [x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b, *b]\n",
            "a: " + "[" * 300 + "]" * 300,
            "a: 1\n\x00",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\ndata: {a: yes}\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok, namespace: 5}\n",
            "- 1\n- 2\n",
            "---\n---\n",
        ]
    ),
)
kustomizations = st.sampled_from(
    [
        "resources: [a.yaml]\n",
        "resources: [../outside]\n",
        "generators: [/etc/passwd]\n",
        "generators: ['http://127.0.0.1:9/g.yaml']\n",
        "components: [sub]\n",
        "resources: [1, {a: b}]\n",
        "patches: [{path: ../../p.yaml}]\n",
        "configMapGenerator: [{name: c, files: [k=/etc/hostname]}]\n",
        "resources: [sub]\n",
        "[not, a, mapping]\n",
        "helmCharts: [{name: x}]\n",
    ]
)
links = st.lists(st.tuples(names, st.sampled_from(["a", "sub", "/", "../..", "loop1"])), max_size=3)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    files=st.dictionaries(names, yaml_texts, max_size=5),
    kustomization=st.none() | kustomizations,
    symlinks=links,
)
def test_render_and_plan_never_raise_out_of_a_reconcile(
    files: dict[str, str], kustomization: str | None, symlinks: list[tuple[str, str]]
) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="qd-fuzz-"))
    try:
        root = tmp / "repo"
        (root / "app" / "sub").mkdir(parents=True)
        for name, text in files.items():
            path = (root / "app" / name).resolve()
            if not path.is_relative_to(root.resolve()):
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.with_suffix(".yaml").write_bytes(text.encode("utf-8", "surrogatepass"))
        if kustomization is not None:
            (root / "app" / "kustomization.yaml").write_text(kustomization)
        for name, target in symlinks:
            link = root / "app" / f"{name.replace('/', '_').replace('.', 'dot')}-link"
            if not link.exists() and not link.is_symlink():
                os.symlink(target, link)
        try:
            check_tree(root, SMALL, "app")
            manifests = render(root, "app", Options(limits=SMALL), tree_checked=True)
        except RenderError as err:
            assert str(err) and "Traceback" not in str(err)
            return
        desired = [m.obj for m in manifests]
        result = plan(desired, {}, [], Owner("team-a", "fuzz"))
        assert len(result.applies) + len(result.errors) >= len(desired) or desired == []
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
