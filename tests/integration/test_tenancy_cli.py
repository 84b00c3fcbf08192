"""`qd sync --path` on hostile files, as a process: one line naming the file and the
reason, exit 2, never a crash (the alias bomb once killed it with SIGSEGV) and nothing
applied. See docs/tenancy.md for the threat table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import ConfigMap

from quarterdeck.devcluster.session import RunningCluster

pytestmark = pytest.mark.integration
BOMB = "".join(
    [f"a0: &a0 [{', '.join(['lol'] * 9)}]\n"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)]
)
HOSTILE = {
    "bomb.yaml": (BOMB, "bomb.yaml:6:10: aliases expand to more than 100000 nodes"),
    "deep.yaml": ("a: " + "[" * 2000 + "]" * 2000 + "\n", "deep.yaml:1:1003: nesting is deeper"),
}
INNOCENT = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: innocent\ndata:\n  a: '1'\n"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_qd_sync_path_refuses_hostile_files_in_one_line(
    kube: Client, dev_cluster: RunningCluster, namespace: str, tmp_path: Path, name: str
) -> None:
    text, reason = HOSTILE[name]
    app = tmp_path / "app"
    app.mkdir()
    (app / name).write_text(text)
    (app / "innocent.yaml").write_text(INNOCENT)
    qd = str(Path(sys.executable).parent / "qd")
    args = ["sync", "--path", str(app), "-n", namespace, "--kubeconfig"]
    done = subprocess.run(
        [qd, *args, str(dev_cluster.kubeconfig)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, (done.returncode, done.stderr)  # not killed by a signal
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{app}/{reason}" in lines[0], done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not list(kube.list(ConfigMap, namespace=namespace, fields={"metadata.name": "innocent"}))
