"""Two `qd operator --leader-elect` processes against one cluster: one leads and
reconciles, the other waits (ready, idle); kill -9 of the leader hands the Lease over
after its duration and the new leader reconciles; SIGTERM releases it at once and exits 0;
a taken health port is one line and exit 2."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from delivery_setup import exists, install_crds
from lightkube import Client
from lightkube.resources.core_v1 import ConfigMap

from gitrepo import Repo
from operator_process import OperatorProcess, lease_holder
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.kube.wait import wait_for

pytestmark = pytest.mark.integration
CRDS = Path(__file__).parents[2] / "deploy" / "crds"


def _cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '1'\n"


@pytest.fixture
def app_repo(tmp_path: Path, kube: Client, namespace: str) -> Repo:
    """A Source and an Application of one directory, in the test's namespace."""
    cluster = Cluster(kube)
    install_crds(kube)  # applied, Established and listable
    repo = Repo(tmp_path / "repo")
    repo.commit("one", {"web/a.yaml": _cm("a")})
    group = "delivery.quarterdeck.dev/v1alpha1"
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": group,
            "kind": "Source",
            "metadata": {"name": "repo", "namespace": namespace},
            "spec": {"url": repo.url, "ref": {"branch": "main"}, "interval": "1m"},
        },
        {
            "apiVersion": group,
            "kind": "Application",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "sourceRef": {"name": "repo"},
                "path": "web",
                "timeout": "30s",
                "interval": "1m",
            },
        },
    ]
    for obj in objects:
        cluster.apply(obj)
    return repo


@pytest.fixture
def operators(
    dev_cluster: RunningCluster, tmp_path: Path, namespace: str
) -> Iterator[dict[str, OperatorProcess]]:
    made = {
        name: OperatorProcess(dev_cluster.kubeconfig, tmp_path, namespace, name)
        for name in ("a", "b")
    }
    yield made
    for op in made.values():
        op.stop()


def test_one_leads_the_standby_waits_and_takes_over_after_kill_9(
    kube: Client, namespace: str, app_repo: Repo, operators: dict[str, OperatorProcess]
) -> None:
    a, b = operators["a"].start(), operators["b"]
    wait_for(lambda: a.readyz() == "leader", "a to lead", 60)
    wait_for(lambda: exists(kube, ConfigMap, namespace, "a"), "a to reconcile", 60)
    b.start()
    wait_for(lambda: b.readyz() == "standby", "b to be ready as a standby", 60)
    assert lease_holder(kube, namespace) == "a"

    a.signal(signal.SIGKILL)
    assert a.wait() == -signal.SIGKILL
    assert lease_holder(kube, namespace) == "a"  # nobody released it: b must wait it out
    app_repo.commit("two", {"web/a.yaml": _cm("a"), "web/b.yaml": _cm("b")})
    wait_for(lambda: b.readyz() == "leader", "b to lead", 60)
    assert lease_holder(kube, namespace) == "b"
    wait_for(lambda: exists(kube, ConfigMap, namespace, "b"), "the new leader to reconcile", 60)


def test_sigterm_releases_the_lease_at_once_and_exits_0(
    kube: Client, namespace: str, app_repo: Repo, operators: dict[str, OperatorProcess]
) -> None:
    a = operators["a"].start()
    wait_for(lambda: a.readyz() == "leader", "a to lead", 60)
    wait_for(lambda: exists(kube, ConfigMap, namespace, "a"), "a to reconcile", 60)
    a.signal(signal.SIGTERM)
    assert a.wait() == 0
    assert lease_holder(kube, namespace) == ""  # released on the way out, not left to expire
    log = a.log.read_text()
    assert '"lease released"' in log and '"controller stopped"' in log


def test_sigint_behaves_as_sigterm(
    kube: Client, namespace: str, operators: dict[str, OperatorProcess]
) -> None:
    a = operators["a"].start()
    wait_for(lambda: a.readyz() == "leader", "a to lead", 60)
    a.signal(signal.SIGINT)
    assert a.wait() == 0
    assert lease_holder(kube, namespace) == ""
    assert "Traceback" not in a.log.read_text()


def test_a_taken_health_port_is_one_line_and_exit_2(
    dev_cluster: RunningCluster,
    tmp_path: Path,
    namespace: str,
    operators: dict[str, OperatorProcess],
) -> None:
    a = operators["a"].start()
    wait_for(lambda: a.readyz() == "leader", "a to lead", 60)
    second = OperatorProcess(dev_cluster.kubeconfig, tmp_path, namespace, "c")
    args = [*second.args]
    args[args.index("--health-port") + 1] = str(a.port)
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: cannot serve health and metrics on 127.0.0.1:{a.port}: Address already in use"
    ]
