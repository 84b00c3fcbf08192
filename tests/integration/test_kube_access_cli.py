"""`qd` as a user runs it (a real process, real kubeconfig files) against the dev cluster:
how the kubeconfig is found and how a failure to connect ends."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from delivery_setup import install_crds
from lightkube import Client

from quarterdeck.devcluster.session import RunningCluster

pytestmark = pytest.mark.integration
CRDS = Path(__file__).parents[2] / "deploy" / "crds"
QD = str(Path(sys.executable).parent / "qd")


@pytest.fixture(scope="module")
def crds(kube: Client) -> None:
    install_crds(kube)  # applied, Established and listable


def qd(*args: str, kubeconfig_env: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    if kubeconfig_env is not None:
        env["KUBECONFIG"] = kubeconfig_env
    return subprocess.run(
        [QD, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def in_process(*args: str) -> Any:
    """The same command through typer's runner: no process start-up to pay for."""
    from typer.testing import CliRunner

    from quarterdeck.cli.main import app

    return CliRunner().invoke(app, list(args))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dev_doc(dev_cluster: RunningCluster) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(dev_cluster.kubeconfig.read_text())
    return doc


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


def test_closed_port_is_one_line_and_exit_3(dev_cluster: RunningCluster, tmp_path: Path) -> None:
    doc = dev_doc(dev_cluster)
    port = closed_port()
    doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    kc = write(tmp_path / "closed", doc)
    done = qd("get", "apps", "--kubeconfig", str(kc))
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"cannot reach the cluster at https://127.0.0.1:{port} (connection refused)" in (
        done.stderr
    )


def test_exec_plugin_is_refused_in_one_line(dev_cluster: RunningCluster, tmp_path: Path) -> None:
    doc = dev_doc(dev_cluster)
    user = doc["users"][0]
    user["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                             "command": "get-a-token", "args": ["--for", "dev"]}}  # fmt: skip
    kc = write(tmp_path / "exec", doc)
    done = in_process("get", "apps", "--kubeconfig", str(kc))
    assert done.exit_code == 2
    assert done.stderr == (
        f"error: kubeconfig user {user['name']} uses an exec credential plugin (get-a-token); "
        "pass --allow-exec-plugins to run it\n"
    )


def test_unknown_context_names_the_contexts(dev_cluster: RunningCluster) -> None:
    context = dev_doc(dev_cluster)["contexts"][0]["name"]
    done = in_process(
        "queue", "list", "--kubeconfig", str(dev_cluster.kubeconfig), "--context", "nope"
    )
    assert done.exit_code == 2
    assert done.stderr == (
        f'error: context "nope" not found in {dev_cluster.kubeconfig} (contexts: {context})\n'
    )


def test_merged_kubeconfig_list_first_file_wins(
    crds: None, dev_cluster: RunningCluster, namespace: str, tmp_path: Path
) -> None:
    """a holds the cluster and the user; b the context (with a namespace), current-context
    and a stale copy of the cluster at a closed port, which loses because a comes first."""
    doc = dev_doc(dev_cluster)
    cluster, user = doc["clusters"][0], doc["users"][0]
    a = write(tmp_path / "a", {"apiVersion": "v1", "kind": "Config",
                               "clusters": [cluster], "users": [user]})  # fmt: skip
    stale = {"name": cluster["name"],
             "cluster": {"server": f"https://127.0.0.1:{closed_port()}"}}  # fmt: skip
    context = {"name": "merged",
               "context": {"cluster": cluster["name"], "user": user["name"],
                           "namespace": namespace}}  # fmt: skip
    b = write(tmp_path / "b", {"apiVersion": "v1", "kind": "Config", "clusters": [stale],
                               "contexts": [context], "current-context": "merged"})  # fmt: skip

    done = qd("get", "apps", kubeconfig_env=f"{a}{os.pathsep}{b}")
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"No resources found in {namespace} namespace.\n"

    reversed_order = qd("get", "apps", kubeconfig_env=f"{b}{os.pathsep}{a}")
    assert reversed_order.returncode == 3, reversed_order.stderr
    assert "cannot reach the cluster at https://127.0.0.1:" in reversed_order.stderr
