"""The fleet on real dev clusters: one management cluster (the session's) and two workload
clusters started once for this module.

Cluster API's own CRDs (from its pinned release module) are installed on the management
cluster; no Cluster API controller runs, so the test writes a Cluster's status the way
its controllers would. The operator runs in-process with its default controllers
(delivery and fleet), scoped to the test's namespace.

Set QD_FLEET_WORKLOADS=name-a,name-b to use two running `qd dev up --name` clusters.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ConfigMap, Namespace, Pod, Secret
from lightkube.types import PatchType
from prometheus_client import CollectorRegistry
from queueing_setup import ClusterQueue as QueueingClusterQueue
from queueing_setup import conditions, gpu_job, gpu_queue, workload
from queueing_setup import install_crds as install_queueing_crds

from gitrepo import Repo
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.controller import ApplicationRes
from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES
from quarterdeck.devcluster import cluster as devcluster
from quarterdeck.devcluster.session import RunningCluster, temporary_cluster
from quarterdeck.devcluster.versions import Component
from quarterdeck.fleet import capi
from quarterdeck.fleet.clusterset import ClusterSetRes
from quarterdeck.fleet.dispatcher import (
    LEFT_ON,
    MANAGED_BY,
    REMOTE_STATUS,
    REQUEUES,
    WORKER,
    CheckRes,
)
from quarterdeck.fleet.registrar import ManagedClusterRes
from quarterdeck.kube.client import load_client
from quarterdeck.kube.crds import install_crds
from quarterdeck.kube.wait import wait_for
from quarterdeck.operator import Operator, OperatorConfig
from quarterdeck.queueing.metrics import QueueMetrics

pytestmark = pytest.mark.integration
CapiCluster = create_namespaced_resource("cluster.x-k8s.io", "v1beta2", "Cluster", "clusters")
POOLS = ("1x cpu-16", "1x gpu-h100-8")


@dataclass(frozen=True)
class Workload:
    name: str  # the dev cluster's name
    kubeconfig: Path
    client: Client


@pytest.fixture(scope="module")
def workloads() -> Iterator[list[Workload]]:
    if names := os.environ.get("QD_FLEET_WORKLOADS"):
        found = [devcluster.layout_for(n).kubeconfig for n in names.split(",")]
        yield [Workload(n, k, load_client(k)) for n, k in zip(names.split(","), found, strict=True)]
        return
    pid = os.getpid()
    with (
        temporary_cluster(f"fw-a-{pid}", POOLS) as a,
        temporary_cluster(f"fw-b-{pid}", POOLS) as b,
    ):
        yield [Workload(c.name, c.kubeconfig, load_client(c.kubeconfig)) for c in (a, b)]


@pytest.fixture(scope="module")
def capi_crds(kube: Client) -> str:
    """Cluster API's CRDs on the management cluster; which ones, for the report."""
    install_crds(kube, capi.crds(), timeout=60)
    return f"{capi.MODULE}@{capi.VERSION}"


@pytest.fixture
def operator(
    request: pytest.FixtureRequest, dev_cluster: RunningCluster, namespace: str, tmp_path: Path
) -> Iterator[Operator]:
    """The operator in-process; with the parameter "queueing" its queueing controller
    runs too (the dispatch test's quota), its metrics on a registry of its own, since
    another operator of this process may have registered them already."""
    queueing = getattr(request, "param", "") == "queueing"
    config = OperatorConfig(
        cache_dir=tmp_path / "cache",
        namespace=namespace,
        queueing=queueing,
        tick=0.5,
        tenancy=LOCAL_REPOSITORIES,  # the test's repositories are local (file://)
    )
    kubeconfig = dev_cluster.kubeconfig
    op = Operator(
        load_client(kubeconfig), config, lambda fm: load_client(kubeconfig, field_manager=fm)
    )
    if queueing:
        op.queue_metrics = QueueMetrics(CollectorRegistry())
    thread = threading.Thread(target=op.run, daemon=True)
    thread.start()
    wait_for(op.started.is_set, "the operator's controllers to start", 90)
    yield op
    op.stop.set()
    thread.join(30)


def _kubeconfig_bytes(w: Workload) -> str:
    return base64.b64encode(w.kubeconfig.read_bytes()).decode()


def register_capi(kube: Client, namespace: str, name: str, w: Workload, **labels: str) -> None:
    """A Cluster API Cluster and its kubeconfig Secret, then the status its controllers
    would write once the cluster is up."""
    secret = Secret(
        metadata=ObjectMeta(
            name=f"{name}-kubeconfig",
            namespace=namespace,
            labels={"cluster.x-k8s.io/cluster-name": name},
        ),
        data={"value": _kubeconfig_bytes(w)},
        type="cluster.x-k8s.io/secret",
    )
    kube.create(secret)
    body = {
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"controlPlaneEndpoint": {"host": "127.0.0.1", "port": 6443}},
    }
    kube.create(CapiCluster.from_dict(body))  # type: ignore[attr-defined]
    status = {
        "status": {
            "phase": "Provisioned",
            "initialization": {"infrastructureProvisioned": True, "controlPlaneInitialized": True},
            "conditions": [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "Available",
                    "message": "",
                    "lastTransitionTime": "2026-12-01T00:00:00Z",
                }
            ],
        }
    }
    kube.patch(CapiCluster.Status, name, status, namespace=namespace, patch_type=PatchType.MERGE)  # type: ignore[attr-defined]


def managed(kube: Client, name: str) -> dict[str, Any] | None:
    try:
        return dict(kube.get(ManagedClusterRes, name))
    except Exception:
        return None


def ready_cond(obj: dict[str, Any] | None) -> dict[str, Any]:
    conds = ((obj or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conds if c.get("type") == "Ready"), {})


def has_namespace(w: Workload, name: str) -> bool:
    try:
        w.client.get(Namespace, name)
        return True
    except Exception:
        return False


def baseline(ns: str, extra: str = "") -> dict[str, str]:
    """The fleet baseline of examples/fleet, cut to one namespace named for the test."""
    return {
        "baseline/namespace.yaml": (
            f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels:\n"
            "    pod-security.kubernetes.io/enforce: restricted\n"
            "    pod-security.kubernetes.io/warn: restricted\n"
        ),
        "baseline/storageclass.yaml": (
            f"apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: {ns}-standard\n"
            "provisioner: kubernetes.io/no-provisioner\nvolumeBindingMode: WaitForFirstConsumer\n"
        ),
        "baseline/state.yaml": (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: state\n  namespace: {ns}\n"
            f"data:\n  state: {extra or 'ok'}\n"
        ),
    }


def source(ns: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
        "kind": "Source",
        "metadata": {"name": "repo", "namespace": ns},
        "spec": {"url": url, "ref": {"branch": "main"}, "interval": "1s"},
    }


HEALTH = [
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "current": "object.data.state == 'ok'",
        "failed": "object.data.state == 'broken'",
    }
]


def cluster_set(ns: str, name: str, selector: dict[str, Any], **rollout: Any) -> dict[str, Any]:
    return {
        "apiVersion": "fleet.quarterdeck.dev/v1alpha1",
        "kind": "ClusterSet",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "clusterSelector": selector,
            "sourceRef": {"name": "repo"},
            "template": {
                "sourceRef": {"name": "repo"},
                "path": "baseline",
                "timeout": "20s",
                "retry": {"interval": "1s", "limit": 100},
                "healthExpressions": HEALTH,
            },
            "rollout": rollout,
        },
    }


def set_status(kube: Client, ns: str, name: str) -> dict[str, Any]:
    return dict(kube.get(ClusterSetRes, name, namespace=ns)).get("status") or {}


def set_ready(status: dict[str, Any]) -> dict[str, Any]:
    return ready_cond({"status": status})


def app_of(kube: Client, ns: str, name: str) -> dict[str, Any]:
    return dict(kube.get(ApplicationRes, name, namespace=ns))


def relabel(kube: Client, ns: str, name: str, **labels: str) -> None:
    kube.patch(
        CapiCluster,
        name,
        {"metadata": {"labels": labels}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )  # type: ignore[arg-type]


@dataclass(frozen=True)
class Scene:
    """One test's fleet: its namespace on the management cluster, the two workload
    clusters registered through Cluster API as ``<prefix>a-``/``<prefix>b-<suffix>``,
    a baseline repository and its Source, and the namespace the baseline creates."""

    kube: Client
    namespace: str
    workloads: list[Workload]
    names: tuple[str, str]
    repo: Repo
    target: str
    first: str


Stage = Callable[..., Scene]


@pytest.fixture
def stage(
    kube: Client,
    namespace: str,
    tmp_path: Path,
    workloads: list[Workload],
    capi_crds: str,
    operator: Operator,
) -> Iterator[Stage]:
    """``stage(prefix, a_labels, b_labels)``: register the workload clusters with those
    labels, commit the baseline and apply its Source; afterwards the baseline's
    namespace is deleted from both clusters."""
    made: list[Scene] = []

    def make(prefix: str, a: dict[str, str], b: dict[str, str]) -> Scene:
        suffix = namespace[-6:]
        names = (f"{prefix}a-{suffix}", f"{prefix}b-{suffix}")
        for name, w, labels in zip(names, workloads, (a, b), strict=True):
            register_capi(kube, namespace, name, w, **labels)
        target = f"{prefix}base-{suffix}"
        repo = Repo(tmp_path / "repo")
        first = repo.commit("baseline", baseline(target))
        Cluster(kube).apply(source(namespace, repo.url))
        made.append(Scene(kube, namespace, workloads, names, repo, target, first))
        return made[-1]

    yield make
    for scene in made:
        for w in workloads:
            if has_namespace(w, scene.target):
                w.client.delete(Namespace, scene.target)


def test_cluster_api_clusters_register_and_a_baseline_reaches_the_selected_ones(
    stage: Stage,
) -> None:
    scene = stage("", {"env": "prod"}, {"env": "staging"})
    kube, namespace, target = scene.kube, scene.namespace, scene.target
    (a, b), (ca, cb) = scene.workloads, scene.names
    for name in (ca, cb):
        mc = wait_for(
            lambda n=name: (m := managed(kube, n)) and ready_cond(m).get("status") == "True" and m,
            f"{name} registered",
            60,
        )
        st = mc["status"]
        assert st["reachable"] and st["serverVersion"].startswith("v1.") and st["nodes"] == 2
        assert st["gpus"] == [{"model": "NVIDIA-H100-80GB-HBM3", "allocatable": 8, "nodes": 1}]
        assert mc["metadata"]["labels"]["fleet.quarterdeck.dev/source"] == "clusterapi"
    # bad input next to the good: each gets its own condition, the others are untouched
    bad, dup = f"bad-{namespace[-6:]}", f"dup-{namespace[-6:]}"
    for name, data in ((bad, b"clusters: [oops"), (dup, a.kubeconfig.read_bytes())):
        labels = {"quarterdeck.dev/cluster": name}
        encoded = {"kubeconfig": base64.b64encode(data).decode()}
        kube.create(
            Secret(metadata=ObjectMeta(name=name, namespace=namespace, labels=labels), data=encoded)
        )
    broken = wait_for(
        lambda: ready_cond(managed(kube, bad)).get("reason"), "the bad Secret's condition", 60
    )
    assert broken == "InvalidKubeconfig" and "\n" not in ready_cond(managed(kube, bad))["message"]
    wait_for(
        lambda: any(
            c["type"] == "DuplicateServer" and ca in c["message"]
            for c in (managed(kube, dup) or {}).get("status", {}).get("conditions", [])
        ),
        "the duplicate server reported",
        60,
    )
    assert ready_cond(managed(kube, ca)).get("status") == "True"
    cl = Cluster(kube)
    cl.apply(cluster_set(namespace, "nothing", {"matchLabels": {"env": "nowhere"}}))
    cl.apply(cluster_set(namespace, "baseline", {"matchLabels": {"env": "prod"}}))
    wait_for(
        lambda: set_status(kube, namespace, "baseline").get("healthy") == 1,
        "the baseline healthy on prod",
        90,
    )
    assert has_namespace(a, target) and not has_namespace(b, target)
    labels = a.client.get(Namespace, target).metadata.labels or {}
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    # self-heal in the worker: someone else's edit there is taken back (interval: 5 min)
    edit = {"data": {"state": "tampered"}}
    a.client.patch(
        ConfigMap, "state", edit, namespace=target, patch_type=PatchType.MERGE, field_manager="ops"
    )
    wait_for(
        lambda: a.client.get(ConfigMap, "state", namespace=target).data == {"state": "ok"},
        "the edit on the worker taken back",
        60,
    )
    nothing = ready_cond(dict(kube.get(ClusterSetRes, "nothing", namespace=namespace)))
    assert (
        nothing["reason"] == "NoClustersSelected"
        and "env=nowhere matches none" in nothing["message"]
    )
    relabel(kube, namespace, cb, env="prod")
    wait_for(lambda: has_namespace(b, target), "the relabelled cluster to get the baseline", 90)
    wait_for(
        lambda: set_status(kube, namespace, "baseline").get("healthy") == 2, "both healthy", 90
    )
    kube.delete(CapiCluster, cb, namespace=namespace)  # gone from Cluster API: unregistered
    wait_for(lambda: managed(kube, cb) is None, f"{cb} unregistered", 60)


def test_a_wave_whose_cluster_turns_unhealthy_stops_before_the_next(stage: Stage) -> None:
    scene = stage("w", {"wave": "1", "tier": "edge"}, {"wave": "2", "tier": "edge"})
    kube, namespace, target, repo = scene.kube, scene.namespace, scene.target, scene.repo
    (_, b), (ca, cb) = scene.workloads, scene.names
    Cluster(kube).apply(
        cluster_set(
            namespace, "waves", {"matchLabels": {"tier": "edge"}}, waveLabel="wave", maxConcurrent=1
        )
    )
    wait_for(
        lambda: set_status(kube, namespace, "waves").get("healthy") == 2,
        "revision one healthy on both",
        120,
    )
    second = repo.commit("broken", baseline(target, extra="broken"))
    stalled = wait_for(
        lambda: (
            (s := set_status(kube, namespace, "waves")).get("revision") == second
            and set_ready(s).get("reason") == "WaveUnhealthy"
            and s
        ),
        "the rollout to stop at wave 1",
        120,
    )
    assert (
        ca in set_ready(stalled)["message"] and "stopped at wave 1" in set_ready(stalled)["message"]
    )
    assert app_of(kube, namespace, f"waves-{ca}")["spec"]["revision"] == second
    assert app_of(kube, namespace, f"waves-{cb}")["spec"]["revision"] == scene.first  # never moved
    assert b.client.get(ConfigMap, "state", namespace=target).data == {"state": "ok"}


def _apiserver_pid(name: str) -> int:
    found = devcluster.status(name)
    assert found is not None
    (pid,) = [c.pid for c in found.components if c.component == Component.APISERVER]
    return pid


@contextlib.contextmanager
def stopped(w: Workload) -> Iterator[None]:
    """The workload cluster's API server stopped (SIGSTOP) until the block ends."""
    pid = _apiserver_pid(w.name)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_a_stopped_cluster_makes_its_applications_unknown_and_no_other_waits(
    stage: Stage,
) -> None:
    """Also: the retries are the defaults' count (``retry.limit`` 5), and an Application
    that failed or waited against the stopped cluster is synced again once it answers."""
    scene = stage("s", {}, {})
    kube, namespace, target, repo = scene.kube, scene.namespace, scene.target, scene.repo
    (a, _), (ca, cb) = scene.workloads, scene.names
    cl = Cluster(kube)
    for app, dest in (("to-a", ca), ("to-b", cb)):
        spec = {"sourceRef": {"name": "repo"}, "path": "baseline", "timeout": "20s"}
        cl.apply(
            {
                "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
                "kind": "Application",
                "metadata": {"name": app, "namespace": namespace},
                "spec": {**spec, "retry": {"interval": "1s"}, "destination": {"cluster": dest}},
            }
        )
    for app in ("to-a", "to-b"):
        wait_for(
            lambda n=app: ready_cond(app_of(kube, namespace, n)).get("status") == "True",
            f"{app} synced",
            90,
        )
    with stopped(a):
        unknown = wait_for(
            lambda: (
                (c := ready_cond(app_of(kube, namespace, "to-a"))).get("status") == "Unknown" and c
            ),
            "to-a Unknown",
            90,
        )
        assert unknown["reason"] == "ClusterUnreachable" and ca in unknown["message"]
        second = repo.commit("two", baseline(target, extra="ok\n  more: lines"))
        wait_for(
            lambda: app_of(kube, namespace, "to-b")["status"].get("lastAppliedRevision") == second,
            "to-b syncing the new commit while a is down",
            90,
        )
        assert managed(kube, ca)["status"]["reachable"] is False  # type: ignore[index]
    wait_for(
        lambda: (
            app_of(kube, namespace, "to-a")["status"].get("lastAppliedRevision") == second
            and ready_cond(app_of(kube, namespace, "to-a")).get("status") == "True"
        ),
        "to-a to converge once its cluster is back",
        120,
    )
    assert a.client.get(ConfigMap, "state", namespace=target).data == {
        "state": "ok",
        "more": "lines",
    }


def job_annotation(kube: Client, ns: str, name: str, key: str) -> str:
    return (kube.get(Job, name, namespace=ns).metadata.annotations or {}).get(key, "")


def _gpu_pod(name: str, ns: str, gpus: int) -> Pod:
    return Pod.from_dict(
        {
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "busybox",
                        "resources": {
                            "requests": {"cpu": "1", "nvidia.com/gpu": str(gpus)},
                            "limits": {"nvidia.com/gpu": str(gpus)},
                        },
                    }
                ],
                "tolerations": [{"operator": "Exists"}],
            },
        }
    )


def dispatched_job(namespace: str, name: str, pods: int, gpus: int) -> Job:
    """A queued GPU Job for the fleet: quota from the management cluster's queue,
    ``spec.managedBy`` the fleet's, so its pods run on a worker only."""
    body = gpu_job(namespace, name, pods=pods, gpus=gpus, duration="10m")
    body["spec"]["managedBy"] = MANAGED_BY
    body["spec"]["template"]["spec"]["tolerations"] = [{"operator": "Exists"}]
    return Job.from_dict(body)


def remote_job_of(w: Workload, namespace: str, name: str) -> Job | None:
    try:
        return w.client.get(Job, name, namespace=namespace)
    except ApiError as err:
        if err.status.code == 404:
            return None
        raise


def workload_of(kube: Client, namespace: str, name: str) -> dict[str, Any]:
    """The Workload, or {} before queueing made it."""
    try:
        return workload(kube, namespace, name)
    except ApiError as err:
        if err.status.code == 404:
            return {}
        raise


@pytest.fixture
def fleet_check(kube: Client, namespace: str) -> Iterator[str]:
    """An AdmissionCheck whose controller is the fleet's dispatcher."""
    install_queueing_crds(kube)
    name = f"fleet-{namespace}"[:63]
    body = {
        "apiVersion": "queueing.quarterdeck.dev/v1alpha1",
        "kind": "AdmissionCheck",
        "metadata": {"name": name},
        "spec": {"controllerName": MANAGED_BY},
    }
    kube.apply(CheckRes.from_dict(body), force=True)  # type: ignore[attr-defined]
    yield name
    kube.delete(CheckRes, name)


@pytest.mark.parametrize("operator", ["queueing"], indirect=True)
def test_a_gang_admitted_by_the_management_queue_runs_where_it_fits_and_is_mirrored(
    stage: Stage, fleet_check: str
) -> None:
    """The ClusterQueue's quota (8 GPUs) is checked on the management cluster: the 2 x 4
    gang is admitted and dispatched, a third 4-GPU Job waits for quota and goes nowhere.
    The gang goes to b (a has 2 GPUs free); b stops: the gang is requeued, waits while
    nothing fits, then goes to a once a is freed; b's stale copy is deleted on return."""
    scene = stage("g", {"gpu": "true"}, {"gpu": "true"})
    namespace = scene.namespace
    a, b = scene.workloads
    busy = f"busy-{namespace[-6:]}"
    a.client.create(Namespace(metadata=ObjectMeta(name=busy)))
    try:
        dispatch_and_requeue(scene, busy, fleet_check)
    finally:
        for w, ns in ((a, busy), (a, namespace), (b, namespace)):
            if has_namespace(w, ns):
                w.client.delete(Namespace, ns)


def dispatch_and_requeue(scene: Scene, busy: str, fleet_check: str) -> None:
    kube, namespace = scene.kube, scene.namespace
    (a, b), (ca, cb) = scene.workloads, scene.names
    a.client.create(_gpu_pod("hog", busy, 6))  # 2 of a's 8 GPUs stay free
    wait_for(lambda: a.client.get(Pod, "hog", namespace=busy).spec.nodeName, "the hog bound", 60)
    for name in (ca, cb):
        wait_for(lambda n=name: ready_cond(managed(kube, n)).get("status") == "True", name, 60)
    with gpu_queue(kube, namespace, nominal=8) as cq:
        checks = {"spec": {"admissionChecks": [fleet_check]}}
        kube.patch(QueueingClusterQueue, cq, checks, patch_type=PatchType.MERGE)
        kube.create(dispatched_job(namespace, "gang", pods=2, gpus=4))
        placed = wait_for(
            lambda: job_annotation(kube, namespace, "gang", WORKER), "the gang dispatched", 90
        )
        assert placed == cb  # a has 2 free GPUs: the 2 x 4 gang fits only on b
        kube.create(dispatched_job(namespace, "over", pods=1, gpus=4))
        over = wait_for(
            lambda: conditions(workload_of(kube, namespace, "job-over")).get("QuotaReserved"),
            "the Job over quota waiting",
            60,
        )
        assert over["status"] == "False"
        remote = wait_for(
            lambda: (
                (j := remote_job_of(b, namespace, "gang"))
                and j.status
                and (j.status.active or 0) == 2
                and j
            ),
            "the gang running on b",
            90,
        )
        assert remote.spec.suspend is False and remote.spec.managedBy is None
        wait_for(
            lambda: (
                len(pods := list(b.client.list(Pod, namespace=namespace))) == 2
                and all(p.spec.nodeName for p in pods)
            ),
            "both pods bound on b",
            60,
        )
        mirrored_job = wait_for(
            lambda: (
                (j := kube.get(Job, "gang", namespace=namespace)).status
                and (j.status.active or 0) == 2
                and j
            ),
            "the remote status mirrored into the management Job's status",
            60,
        )
        assert mirrored_job.spec.suspend is False  # admitted by the management queue
        assert conditions(workload(kube, namespace, "job-gang"))["Admitted"]["status"] == "True"
        assert '"active": 2' in job_annotation(kube, namespace, "gang", REMOTE_STATUS)
        assert list(kube.list(Pod, namespace=namespace)) == []  # nothing ran on the management
        assert job_annotation(kube, namespace, "over", WORKER) == ""  # no quota: not sent
        with stopped(b):  # the worker goes away: after the grace the gang is requeued
            wait_for(
                lambda: job_annotation(kube, namespace, "gang", REQUEUES) == "1",
                "the gang requeued",
                90,
            )
            assert job_annotation(kube, namespace, "gang", WORKER) == ""  # a cannot take it
            assert job_annotation(kube, namespace, "gang", LEFT_ON) == cb
            a.client.delete(Namespace, busy)  # a frees its GPUs: the gang fits there now
            again = wait_for(
                lambda: job_annotation(kube, namespace, "gang", WORKER),
                "the gang placed again",
                90,
            )
            assert again == ca
        wait_for(  # the copy first, then the annotation that listed it
            lambda: (
                remote_job_of(b, namespace, "gang") is None
                and job_annotation(kube, namespace, "gang", LEFT_ON) == ""
            ),
            "the stale copy on b deleted once b answers",
            90,
        )
        assert remote_job_of(a, namespace, "gang") is not None
