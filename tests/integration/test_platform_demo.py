"""`qd demo --no-serve` (what `make demo` plays, without staying up) on the test dev
cluster with the test run's real Prometheus: every step of the story is reported done
(GPU time measured, Budgets evaluated), the cluster is left in the story's end state, the
operator it started has stopped, and `qd demo --clean` removes it all."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, Client
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Namespace
from prometheus_fixture import prometheus  # noqa: F401  (the fixture)

from quarterdeck.dashboard.cache import ClusterQueueRes, WorkloadRes
from quarterdeck.dashboard.story_checks import admitted, borrowed, job_of
from quarterdeck.delivery.resources import ApplicationRes
from quarterdeck.devcluster.prometheus import PrometheusState
from quarterdeck.kube.wait import wait_for
from quarterdeck.showback.resources import BudgetResource

pytestmark = pytest.mark.integration
QD = str(Path(sys.executable).parent / "qd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def qd_demo(kubeconfig: Path, workdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QD, "demo", "--kubeconfig", str(kubeconfig), "--workdir", str(workdir), *extra],
        capture_output=True, text=True, timeout=900, check=False,
    )


def gone(kube: Client, ns: str) -> bool:
    try:
        kube.get(Namespace, ns)
    except ApiError as err:
        return err.status.code == 404
    return False


def test_demo_plays_every_step_and_leaves_the_story_end_state(
    dev_cluster: Any, kube: Client, tmp_path: Path, prometheus: PrometheusState  # noqa: F811
) -> None:
    port = free_port()
    try:
        done = qd_demo(dev_cluster.kubeconfig, tmp_path, "--no-serve", "--dashboard-port",
                       str(port), "--timeout", "180", "--prometheus-url", prometheus.url)
        log = tmp_path / "operator.log"
        assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:],
                                      log.read_text()[-3000:] if log.exists() else "")
        out = done.stdout
        assert "Every step is done (11)" in out
        for line in ("✓ team-a's app synced from Git", "✓ a commit breaking the guardrail",
                     "✓ the out-of-band edit is taken back", "✓ team-b's Job reclaims",
                     "✓ each team's GPU time is recorded, measured (Prometheus) and priced",
                     "✓ each team's Budget is evaluated: team-a "):
            assert line in out, out
        assert "platform-pinned-images: images must be pinned" in out
        assert f"http://127.0.0.1:{port}" in out and "team-a's viewer" in out

        # the end state, read from the cluster after the operator has stopped
        with socket.socket() as probe:  # the dashboard went with the operator
            assert probe.connect_ex(("127.0.0.1", port)) != 0
        repo_head = subprocess.run(["git", "-C", str(tmp_path / "repo"), "rev-parse", "HEAD"],
                                   capture_output=True, text=True, check=True).stdout.strip()
        web = dict(kube.get(ApplicationRes, "web", namespace="team-a"))
        assert web["status"]["lastAppliedRevision"] == repo_head  # the fixed commit
        image = kube.get(Deployment, "web", namespace="team-a").spec.template.spec  # type: ignore[union-attr]
        assert image.containers[0].image.endswith("web:1.4.3")  # type: ignore[union-attr]
        assert kube.get(ConfigMap, "web-config", namespace="team-a").data == {"log-level": "info"}
        a_wls = [dict(w) for w in kube.list(WorkloadRes, namespace="team-a")]
        b_wls = [dict(w) for w in kube.list(WorkloadRes, namespace="team-b")]
        assert len(admitted(a_wls)) == 1 and [job_of(w) for w in b_wls] == ["finetune"]
        assert len(admitted(b_wls)) == 1
        assert borrowed(dict(kube.get(ClusterQueueRes, "team-a"))) == 0
        budget = dict(kube.get(BudgetResource, "team-a"))["status"]
        assert budget["gpuHours"] > 0 and {c["type"]: c["status"] for c in budget[
            "conditions"]}["MetricsAvailable"] == "True"
    finally:
        cleaned = qd_demo(dev_cluster.kubeconfig, tmp_path, "--clean")
        assert cleaned.returncode == 0, cleaned.stderr
    for ns in ("team-a", "team-b", "platform"):
        wait_for(lambda ns=ns: gone(kube, ns), f"namespace {ns} to be deleted", 120)
    with pytest.raises(ApiError):
        kube.get(ClusterQueueRes, "team-a")
