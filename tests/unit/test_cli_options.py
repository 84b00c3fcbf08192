"""The shared CLI options on a small typer app: flags parsed, failures end in one line."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from lightkube.resources.core_v1 import ConfigMap
from typer.testing import CliRunner

from quarterdeck.cli.options import (
    AllNamespacesOpt,
    AllowExecOpt,
    ContextOpt,
    KubeconfigOpt,
    NamespaceOpt,
    Output,
    OutputOpt,
    VersionOpt,
    client_from,
    cluster_command,
)

app = typer.Typer()


@app.callback()
def main(version: VersionOpt = False) -> None:
    """Test app."""


@app.command()
@cluster_command
def show(
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
    all_namespaces: AllNamespacesOpt = False,
    output: OutputOpt = Output.table,
    allow_exec_plugins: AllowExecOpt = False,
    call: bool = False,
) -> None:
    """Resolve, print what was resolved, and call the server if asked."""
    client, resolved = client_from(kubeconfig, context, namespace, allow_exec_plugins)
    typer.echo(f"{resolved.context} {resolved.namespace} {all_namespaces} {output.value}")
    if call:
        list(client.list(ConfigMap))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_kubeconfig(path: Path, user: dict[str, Any] | None = None) -> Path:
    doc = {
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{closed_port()}"}}],
        "users": [{"name": "u", "user": user or {"token": "t"}}],
        "contexts": [
            {"name": "dev", "context": {"cluster": "c", "user": "u", "namespace": "team"}},
            {"name": "prod", "context": {"cluster": "c", "user": "u"}},
        ],
        "current-context": "dev",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def kc(tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kc")


def test_flags_resolve_like_kubectl(kc: Path) -> None:
    assert run("show", "--kubeconfig", str(kc)).output == "dev team False table\n"
    got = run("show", "--kubeconfig", str(kc), "--context", "prod", "-A", "-o", "wide")
    assert got.output == "prod default True wide\n"
    assert run("show", "--kubeconfig", str(kc), "-n", "x").output == "dev x False table\n"


def test_unknown_output_is_refused(kc: Path) -> None:
    got = run("show", "--kubeconfig", str(kc), "-o", "bogus")
    assert got.exit_code == 2 and "bogus" in got.output


def test_unreachable_is_one_line_and_exit_3(kc: Path) -> None:
    got = run("show", "--kubeconfig", str(kc), "--call")
    assert got.exit_code == 3, got.output
    lines = got.output.splitlines()
    assert len(lines) == 2 and lines[0] == "dev team False table"
    assert lines[1].startswith("error: cannot reach the cluster at https://127.0.0.1:")
    assert lines[1].endswith("(connection refused): is it running? (context dev)")


def test_unknown_context_lists_contexts(kc: Path) -> None:
    got = run("show", "--kubeconfig", str(kc), "--context", "nope")
    assert got.exit_code == 2
    assert got.output == f'error: context "nope" not found in {kc} (contexts: dev, prod)\n'


def test_exec_plugin_refused_in_one_line(tmp_path: Path) -> None:
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "gcloud"}}
    kc = write_kubeconfig(tmp_path / "kc", user)
    got = run("show", "--kubeconfig", str(kc))
    assert got.exit_code == 2
    assert got.output == (
        "error: kubeconfig user u uses an exec credential plugin (gcloud); "
        "pass --allow-exec-plugins to run it\n"
    )
    assert run("show", "--kubeconfig", str(kc), "--allow-exec-plugins").exit_code == 0


def test_version() -> None:
    from quarterdeck import __version__

    got = run("--version")
    assert (got.exit_code, got.output) == (0, f"{__version__}\n")
