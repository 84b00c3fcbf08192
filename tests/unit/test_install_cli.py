"""`qd install --export` through the real kustomize, and bad input refused in one line."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from quarterdeck.cli.main import app

runner = CliRunner()
RBAC_BINDINGS = ("RoleBinding", "ClusterRoleBinding")


def _export(*args: str) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["install", "--export", *args])
    assert result.exit_code == 0, result.output
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def test_export_prints_the_whole_install_for_another_namespace_and_image() -> None:
    objects = _export("--namespace", "platform", "--image", "registry.test/qd:v2")
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "ServiceAccount", "ClusterRole", "Role", "ClusterRoleBinding"} <= kinds
    assert {"Deployment", "Service", "PodDisruptionBudget", "CustomResourceDefinition"} <= kinds
    (ns,) = [o for o in objects if o["kind"] == "Namespace"]
    assert ns["metadata"]["name"] == "platform"
    namespaced = [
        o for o in objects if o["kind"] not in ("Namespace",) and "namespace" in o["metadata"]
    ]
    assert {o["metadata"]["namespace"] for o in namespaced} == {"platform"}
    subjects = [s for o in objects if o["kind"] in RBAC_BINDINGS for s in o["subjects"]]
    assert {(s["name"], s["namespace"]) for s in subjects} == {("quarterdeck-operator", "platform")}
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.test/qd:v2"
    assert "--leader-elect" in container["args"]
    assert all(
        o["metadata"]["labels"]["app.kubernetes.io/part-of"] == "quarterdeck" for o in objects
    )


def _grants_secrets(rule: dict[str, Any]) -> bool:
    groups, resources = rule.get("apiGroups") or [], rule.get("resources") or []
    return bool({"", "*"} & set(groups)) and bool({"secrets", "*"} & set(resources))


def test_the_operator_may_not_read_secrets_beyond_its_namespace() -> None:
    objects = _export()
    roles = {
        o["metadata"]["name"]
        for o in objects
        if o["kind"] == "ClusterRole" and any(_grants_secrets(r) for r in o.get("rules") or [])
    }
    # only the opt-in role that a Source's namespace binds for its git credentials
    assert roles == {"quarterdeck-source-credentials"}
    bound = {o["roleRef"]["name"] for o in objects if o["kind"] == "ClusterRoleBinding"}
    assert "quarterdeck-source-credentials" not in bound


def test_bad_image_is_one_line_exit_2() -> None:
    result = runner.invoke(app, ["install", "--export", "--image", "Not An Image"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: image 'Not An Image': not a container image reference"
    ]


def test_unreachable_cluster_is_one_line_exit_3(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    for command in (["install"], ["uninstall"]):
        result = runner.invoke(app, [*command, "--kubeconfig", str(kubeconfig)])
        assert result.exit_code == 3, result.output
        (line,) = result.output.strip().splitlines()
        assert line.startswith("error: cannot reach the cluster")


def test_unknown_context_names_the_contexts(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "dev", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "dev",
            }
        )
    )
    result = runner.invoke(app, ["install", "--kubeconfig", str(kubeconfig), "--context", "prod"])
    assert result.exit_code == 2
    assert "dev" in result.output and len(result.output.strip().splitlines()) == 1
