"""The delivery operator as long-running software: it never exits on ordinary events,
retries with backoff, and a kill -9 at any moment leaves nothing it cannot prune.

Retry timing is checked with the controller's injected clock, never wall time; the
operator tests run `qd operator` as a child process and wait for conditions.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Event, Namespace
from test_delivery_controller import application, cm, crds, source  # noqa: F401

from gitrepo import Repo
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.controller import ApplicationRes, Controller, SourceRes
from quarterdeck.delivery.inventory import OWNER_NAME_LABEL
from quarterdeck.delivery.runner import Runner
from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES
from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.kube.wait import wait_for

pytestmark = pytest.mark.integration


class Clock:
    """The controller's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def status_of(kube: Client, namespace: str, name: str) -> dict[str, Any]:
    return dict(kube.get(ApplicationRes, name, namespace=namespace)).get("status") or {}


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == type_), {})


def is_ready(kube: Client, namespace: str, name: str) -> bool:
    return condition(status_of(kube, namespace, name), "Ready").get("status") == "True"


def owned(kube: Client, namespace: str, app: str) -> set[str]:
    """Names of the ConfigMaps in ``namespace`` labelled as owned by ``app``."""
    found = kube.list(ConfigMap, namespace=namespace, labels={OWNER_NAME_LABEL: app})
    return {c.metadata.name for c in found if c.metadata and c.metadata.name}


def inventory(status: dict[str, Any]) -> set[str]:
    return {i["name"] for i in status.get("inventory", [])}


@pytest.fixture
def repo(tmp_path: Path, kube: Client, namespace: str, crds: None) -> Repo:  # noqa: F811
    repo = Repo(tmp_path / "repo")
    Cluster(kube).apply(source(namespace, repo.url))
    return repo


def _run(runner: Runner) -> threading.Thread:
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    return thread


def test_operator_survives_a_deleted_application_and_a_deleted_namespace(
    repo: Repo, kube: Client, namespace: str, tmp_path: Path
) -> None:
    repo.commit("one", {"web/a.yaml": cm("a"), "web/b.yaml": cm("b")})
    other = f"{namespace[:50]}-gone"
    kube.create(Namespace(metadata=ObjectMeta(name=other)))
    cluster = Cluster(kube)
    cluster.apply(source(other, repo.url))
    cluster.apply(application(other, "doomed", "web"))
    cluster.apply(application(namespace, "web", "web"))

    def gone() -> bool:
        try:
            kube.get(Namespace, other)
        except ApiError as err:
            return err.status.code == 404
        return False

    runners = [
        Runner(
            Controller(kube, tmp_path / f"cache-{ns}", namespace=ns, policy=LOCAL_REPOSITORIES),
            tick=0.3,
        )
        for ns in (namespace, other)
    ]
    threads = [_run(r) for r in runners]
    try:
        for ns, name in ((namespace, "web"), (other, "doomed")):
            wait_for(
                lambda ns=ns, name=name: (
                    condition(status_of(kube, ns, name), "Ready").get("status") == "True"
                ),
                f"{ns}/{name} Ready",
                60,
            )
        # the Application goes, then one of its objects: self-heal finds no Application
        kube.delete(ApplicationRes, "web", namespace=namespace)
        kube.delete(ConfigMap, "a", namespace=namespace)
        wait_for(lambda: runners[0].heal_attempts, "a self-heal attempt", 30)
        # the namespace holding an Application goes
        kube.delete(Namespace, other)

        wait_for(gone, f"namespace {other} deleted", 90)
        # both operators still work: new Applications (in the namespace made again) sync
        kube.create(Namespace(metadata=ObjectMeta(name=other)))
        cluster.apply(source(other, repo.url))
        cluster.apply(application(other, "reborn", "web"))
        cluster.apply(application(namespace, "web2", "web", render={"namePrefix": "two-"}))
        for ns, name in ((namespace, "web2"), (other, "reborn")):
            wait_for(lambda ns=ns, name=name: is_ready(kube, ns, name), f"{ns}/{name} Ready", 60)
        assert all(t.is_alive() for t in threads)
    finally:
        for runner in runners:
            runner.stop.set()
        for thread in threads:
            thread.join(timeout=10)
        if not gone():
            kube.delete(Namespace, other)


def test_a_failing_sync_is_retried_on_its_backoff_with_one_counted_event(
    repo: Repo, kube: Client, namespace: str, tmp_path: Path
) -> None:
    repo.commit("one", {"a/x.yaml": cm("x"), "b/x.yaml": cm("x")})
    clock = Clock()
    ctl = Controller(
        kube, tmp_path / "cache", clock=clock, namespace=namespace, policy=LOCAL_REPOSITORIES
    )
    ctl.cluster.apply(application(namespace, "first", "a"))
    ctl.reconcile_all()
    retry = {"interval": "2s", "limit": 3}
    ctl.cluster.apply(application(namespace, "second", "b", retry=retry))
    attempts = []
    for _ in range(24):  # 24 ticks of 1 s: retries after 2, 4, 8 s, then Stalled
        ctl.reconcile_all()
        status = status_of(kube, namespace, "second")
        attempts.append(status["history"][0]["attempts"])
        clock.now += 1.0
    # attempts at 0, 2, 6 and 14 s (backoff 2, 4, 8 s), not one per tick; then Stalled
    assert attempts == [1] * 2 + [2] * 4 + [3] * 8 + [4] * 10, attempts
    stalled = condition(status_of(kube, namespace, "second"), "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "RetriesExhausted")
    warnings = [
        e
        for e in kube.list(Event, namespace=namespace)
        if e.involvedObject.name == "second" and e.type == "Warning"
    ]
    assert [(e.reason, e.count) for e in warnings] == [("SyncFailed", 4)]
    assert "owned by application" in (warnings[0].message or "")


def test_a_stalled_application_is_retried_when_its_source_recovers(
    repo: Repo, kube: Client, namespace: str, tmp_path: Path
) -> None:
    first = repo.commit("one", {"web/a.yaml": cm("a", "1")})
    clock = Clock()
    ctl = Controller(
        kube, tmp_path / "cache", clock=clock, namespace=namespace, policy=LOCAL_REPOSITORIES
    )
    ctl.cluster.apply(application(namespace, "web", "web", retry={"interval": "1s", "limit": 1}))
    ctl.reconcile_all()
    assert status_of(kube, namespace, "web")["lastAppliedRevision"] == first
    # git goes away; a restarted operator (empty cache) cannot fetch the revision
    hidden = repo.path.with_name("away")
    repo.path.rename(hidden)
    ctl = Controller(
        kube, tmp_path / "cache-2", clock=clock, namespace=namespace, policy=LOCAL_REPOSITORIES
    )
    for _ in range(4):
        clock.now += 2.0
        ctl.reconcile_all()
    stalled = condition(status_of(kube, namespace, "web"), "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "RetriesExhausted")
    src = dict(kube.get(SourceRes, "repo", namespace=namespace))["status"]
    assert condition(src, "Ready")["status"] == "False"
    # git is back: the Source fetches the same revision again on its interval, and the
    # Application is retried although nothing about it changed
    hidden.rename(repo.path)
    clock.now += 61.0
    ctl.reconcile_all()
    status = status_of(kube, namespace, "web")
    assert condition(status, "Ready")["status"] == "True", status["conditions"]
    assert condition(status, "Stalled")["status"] == "False"
    assert status["lastAppliedRevision"] == first


class Operator:
    """`qd operator` for one namespace as a child process, logging to a file."""

    def __init__(self, kubeconfig: Path, namespace: str, workdir: Path) -> None:
        qd = str(Path(sys.executable).parent / "qd")
        self.args = [qd, "operator", "--kubeconfig", str(kubeconfig), "--namespace", namespace,
                     "--cache-dir", str(workdir / "cache"), "--tick", "0.5",
                     "--no-install-crds", "--no-queueing",
                     "--allow-file-sources"]  # fmt: skip
        self.log = workdir / "operator.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            env = os.environ | {"PYTHONUNBUFFERED": "1"}
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=out, env=env)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: no cleanup of any kind
            self.proc.wait(10)


@pytest.fixture
def operator(dev_cluster: RunningCluster, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    op = Operator(dev_cluster.kubeconfig, namespace, tmp_path)
    yield op
    op.kill()


def test_kill_9_during_the_first_sync_leaves_nothing_a_later_sync_cannot_prune(
    repo: Repo, kube: Client, namespace: str, operator: Operator
) -> None:
    count, dropped = 60, 20
    repo.commit("many", {f"big/cm-{i:03}.yaml": cm(f"cm-{i:03}") for i in range(count)})
    cluster = Cluster(kube)
    rng = random.Random(16)
    moments = sorted(rng.sample(range(1, count), 3))  # objects created when the kill lands
    for n, moment in enumerate(moments):
        name = f"big{n}"
        operator.start()
        cluster.apply(application(namespace, name, "big", render={"namePrefix": f"{name}-"}))

        def started(name: str = name, moment: int = moment) -> bool:
            return len(owned(kube, namespace, name)) >= moment

        wait_for(started, f"{moment} objects of {name}", 60, interval=0.02)
        operator.kill()
        status = status_of(kube, namespace, name)
        if len(owned(kube, namespace, name)) < count:  # killed mid-apply
            ready, reconciling = condition(status, "Ready"), condition(status, "Reconciling")
            assert (ready.get("status"), reconciling.get("status")) == ("Unknown", "True")
            assert owned(kube, namespace, name) <= inventory(status)
    repo.git("rm", "-q", *[f"big/cm-{i:03}.yaml" for i in range(dropped)])
    last = repo.commit("drop some")
    operator.start()
    for n in range(len(moments)):
        name = f"big{n}"
        wait_for(
            lambda name=name: (
                status_of(kube, namespace, name).get("lastAppliedRevision") == last
                and condition(status_of(kube, namespace, name), "Ready").get("status") == "True"
            ),
            f"{name} Ready at the last revision",
            90,
        )
        want = {f"{name}-cm-{i:03}" for i in range(dropped, count)}
        assert owned(kube, namespace, name) == want  # no orphan, nothing missing
        assert inventory(status_of(kube, namespace, name)) == want
    assert operator.alive()


def _apiserver_pid(dev_cluster: RunningCluster) -> int:
    from quarterdeck.devcluster import cache
    from quarterdeck.devcluster.cluster import status
    from quarterdeck.devcluster.versions import Component

    name = dev_cluster.name
    if dev_cluster.kubeconfig.parent.parent == cache.clusters_dir():
        name = dev_cluster.kubeconfig.parent.name
    found = status(name)
    if found is None:
        pytest.skip("the API server is not a dev cluster process this test can pause")
    (pid,) = [c.pid for c in found.components if c.component == Component.APISERVER]
    return pid


def test_api_server_paused_during_a_sync_the_operator_recovers_by_itself(
    repo: Repo, kube: Client, namespace: str, operator: Operator, dev_cluster: RunningCluster
) -> None:
    pid = _apiserver_pid(dev_cluster)
    first = repo.commit("one", {f"web/cm-{i:02}.yaml": cm(f"cm-{i:02}") for i in range(40)})
    operator.start()
    Cluster(kube).apply(application(namespace, "web", "web", retry={"interval": "1s"}))
    wait_for(lambda: owned(kube, namespace, "web"), "the sync to start", 60, interval=0.02)
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(20.0)  # the outage under test, not a wait for a result
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(
        lambda: (
            status_of(kube, namespace, "web").get("lastAppliedRevision") == first
            and condition(status_of(kube, namespace, "web"), "Ready").get("status") == "True"
        ),
        "web Ready after the pause",
        120,
    )
    assert len(owned(kube, namespace, "web")) == 40
    # its watches came back too: a deleted object is restored by self-heal
    kube.delete(ConfigMap, "cm-00", namespace=namespace)
    wait_for(lambda: "cm-00" in owned(kube, namespace, "web"), "cm-00 restored", 60)
    assert operator.alive(), operator.log.read_text()[-2000:]
