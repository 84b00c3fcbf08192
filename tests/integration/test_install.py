"""`qd install` / `qd uninstall` on the dev cluster, and the operator on the install's RBAC.

The dev cluster's pods run no containers (kwok), so the operator is run here as a
process holding nothing but a token of the install's ServiceAccount (a TokenRequest),
with the arguments of the installed Deployment: what it can do is exactly what deploy/
grants. It syncs an Application from a local git repository and admits a labelled Job,
and is refused Secrets outside its namespace.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import ApiError, Client, codecs
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.admissionregistration_v1 import MutatingAdmissionPolicy
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ConfigMap, Namespace, Pod, Secret, ServiceAccount
from lightkube.resources.rbac_authorization_v1 import ClusterRole
from queueing_setup import conditions, gpu_job, gpu_queue, workload

from gitrepo import Repo
from quarterdeck.api import delivery as delivery_api
from quarterdeck.api.crd import crd
from quarterdeck.api.policy_crd import guardrail_crd
from quarterdeck.api.queueing import all_crds
from quarterdeck.delivery.controller import ApplicationRes, Controller, SourceRes
from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES
from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.install.base import render
from quarterdeck.install.plan import ref
from quarterdeck.kube.config import ClientSettings, load_client
from quarterdeck.kube.crds import install_crds
from quarterdeck.kube.wait import wait_for
from quarterdeck.queueing import admission

pytestmark = pytest.mark.integration
SA = "quarterdeck-operator"
QD = str(Path(sys.executable).parent / "qd")


def _qd(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QD, *args, "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _versions(kube: Client, objects: list[dict[str, Any]]) -> dict[Any, str]:
    out = {}
    for obj in objects:
        res = codecs.resource_registry.load(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        live = kube.get(res, meta["name"], namespace=meta.get("namespace"))
        out[ref(obj)] = live.metadata.resourceVersion
    return out


@pytest.fixture(scope="module")
def installed(kube: Client, dev_cluster: RunningCluster) -> Iterator[str]:
    """The install in a namespace of its own; the CRDs are put back afterwards, since
    the uninstall test removes them and later tests of the session expect them."""
    namespace = f"qd-install-{uuid.uuid4().hex[:6]}"
    policy_before = _admission_policy_present(kube)
    done = _qd(dev_cluster.kubeconfig, "install", "--namespace", namespace)
    assert done.returncode == 0, done.stderr
    try:
        yield namespace
    finally:
        _qd(dev_cluster.kubeconfig, "uninstall", "--force", "--namespace", namespace)
        everything = [*(crd(k) for k in delivery_api.KINDS), guardrail_crd(), *all_crds()]
        install_crds(kube, everything, timeout=60)
        if policy_before:  # as the session had it: an operator test installed it
            admission.install(kube)


def _admission_policy_present(kube: Client) -> bool:
    try:
        kube.get(MutatingAdmissionPolicy, admission.NAME)
    except ApiError as err:
        if err.status.code == 404:
            return False
        raise
    return True


def test_install_applies_the_base_and_a_second_install_changes_nothing(
    kube: Client, dev_cluster: RunningCluster, installed: str
) -> None:
    objects = render(installed)
    before = _versions(kube, objects)
    again = _qd(dev_cluster.kubeconfig, "install", "--namespace", installed)
    assert again.returncode == 0, again.stderr
    assert "(0 changed)" in again.stdout
    assert _versions(kube, objects) == before  # not one object was written
    deployment = kube.get(Deployment, "quarterdeck-operator", namespace=installed)
    assert deployment.spec.replicas == 2
    assert "--leader-elect" in deployment.spec.template.spec.containers[0].args
    # kwok plays the kubelet: both replicas exist and run the service account
    pods = wait_for(
        lambda: [p for p in kube.list(Pod, namespace=installed)] or None,
        "the operator's pods",
        60,
    )
    assert {p.spec.serviceAccountName for p in pods} == {SA}
    assert _admission_policy_present(kube)  # queued Jobs are held from install on


def _token_kubeconfig(
    kube: Client, dev_cluster: RunningCluster, namespace: str, path: Path
) -> Path:
    """A kubeconfig with only a token of the install's ServiceAccount (no client cert) and
    the install's namespace as its own, as a pod's in-cluster config has."""
    request = ServiceAccount.Token(
        metadata=ObjectMeta(name=SA, namespace=namespace),
        spec=TokenRequestSpec(audiences=[], expirationSeconds=3600),
    )
    token = kube.create(request, SA, namespace=namespace).status.token
    admin = yaml.safe_load(dev_cluster.kubeconfig.read_text())
    cluster = admin["clusters"][0]["cluster"]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "dev", "cluster": cluster}],
                "users": [{"name": SA, "user": {"token": token}}],
                "contexts": [
                    {
                        "name": "sa",
                        "context": {"cluster": "dev", "user": SA, "namespace": namespace},
                    }
                ],
                "current-context": "sa",
            }
        )
    )
    return path


def _operator_args(kube: Client, namespace: str, cache: Path, port: int) -> list[str]:
    """The installed Deployment's container arguments, with a local cache directory and
    health port on loopback (the pod's 0.0.0.0:8080 may be taken on this machine)."""
    deployment = kube.get(Deployment, "quarterdeck-operator", namespace=namespace)
    local = {
        "--cache-dir": f"--cache-dir={cache}",
        "--health-port": f"--health-port={port}",
        "--bind-address": "--bind-address=127.0.0.1",
    }
    args = deployment.spec.template.spec.containers[0].args
    # the test's repository is local: file:// sources are off unless enabled
    return [*(local.get(a.split("=", 1)[0], a) for a in args), "--allow-file-sources"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '1'\n"


def _delivery(namespace: str, url: str) -> list[dict[str, Any]]:
    api = f"{delivery_api.GROUP}/{delivery_api.VERSION}"
    return [
        {
            "apiVersion": api,
            "kind": "Source",
            "metadata": {"name": "repo", "namespace": namespace},
            "spec": {"url": url, "ref": {"branch": "main"}, "interval": "1m"},
        },
        {
            "apiVersion": api,
            "kind": "Application",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {"sourceRef": {"name": "repo"}, "path": "web", "timeout": "30s"},
        },
    ]


def _ready(kube: Client, namespace: str) -> str | None:
    status = dict(kube.get(ApplicationRes, "web", namespace=namespace)).get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)
    return ready["message"] if ready and ready["status"] == "True" else None


@pytest.fixture
def operator_on_token(
    kube: Client, dev_cluster: RunningCluster, installed: str, tmp_path: Path
) -> Iterator[tuple[Path, Path]]:
    """`qd operator` with the Deployment's arguments and the ServiceAccount's token."""
    kubeconfig = _token_kubeconfig(kube, dev_cluster, installed, tmp_path / "sa.kubeconfig")
    log, port = tmp_path / "operator.log", _free_port()
    args = [QD, *_operator_args(kube, installed, tmp_path / "cache", port)]
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env |= {"PYTHONUNBUFFERED": "1", "KUBECONFIG": str(kubeconfig)}
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=out, env=env)
    ready = f"http://127.0.0.1:{port}/readyz"
    wait_for(lambda: _answers(ready) or proc.poll() is not None, "the operator's /readyz", 90)
    assert proc.poll() is None, log.read_text()[-3000:]
    try:
        yield kubeconfig, log
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_operator_on_the_service_account_token_syncs_and_admits_and_is_denied_the_rest(
    kube: Client,
    namespace: str,
    installed: str,
    tmp_path: Path,
    operator_on_token: tuple[Path, Path],
) -> None:
    kubeconfig, log = operator_on_token
    as_operator = load_client(ClientSettings(kubeconfig=kubeconfig))
    kube.create(Secret(metadata=ObjectMeta(name="not-yours", namespace=namespace)))
    with pytest.raises(ApiError) as denied:
        as_operator.get(Secret, "not-yours", namespace=namespace)
    assert denied.value.status.code == 403  # Forbidden: Secrets only in its own namespace

    repo = Repo(tmp_path / "repo")
    first = repo.commit("web", {"web/a.yaml": _cm("a"), "web/b.yaml": _cm("b")})
    for obj in _delivery(namespace, repo.url):
        kube.create(_generic(obj), namespace=namespace)
    message = wait_for(lambda: _ready(kube, namespace), "the Application to be Ready", 90)
    assert message == f"applied revision {first[:12]}"
    assert {c.metadata.name for c in kube.list(ConfigMap, namespace=namespace)} >= {"a", "b"}

    with gpu_queue(kube, namespace, nominal=8):
        kube.create(codecs.from_dict(gpu_job(namespace, "train", duration="1s")))

        def complete() -> dict[str, Any] | None:
            job = kube.get(Job, "train", namespace=namespace).to_dict()
            return job if conditions(job).get("Complete", {}).get("status") == "True" else None

        wait_for(complete, "the queued Job to be admitted and complete", 90)
        admission = (workload(kube, namespace, "job-train").get("status") or {}).get("admission")
        assert admission and admission["clusterQueue"] == f"cq-{namespace}"
    text = log.read_text()
    assert "forbidden" not in text.lower(), text[-2000:]
    assert f"{installed}/quarterdeck-operator" in text  # led on the Lease in its namespace


def _generic(obj: dict[str, Any]) -> Any:
    res = SourceRes if obj["kind"] == "Source" else ApplicationRes
    return res.from_dict(obj)


def test_uninstall_refuses_while_applications_exist_and_force_keeps_their_objects(
    kube: Client, dev_cluster: RunningCluster, installed: str, namespace: str, tmp_path: Path
) -> None:
    repo = Repo(tmp_path / "repo")
    repo.commit("web", {"web/a.yaml": _cm("a")})
    for obj in _delivery(namespace, repo.url):
        kube.create(_generic(obj), namespace=namespace)
    Controller(
        kube, tmp_path / "cache", namespace=namespace, policy=LOCAL_REPOSITORIES
    ).reconcile_all()
    managed = kube.get(ConfigMap, "a", namespace=namespace)

    refused = _qd(dev_cluster.kubeconfig, "uninstall", "--namespace", installed)
    assert refused.returncode == 2
    assert "Application(s) still exist" in refused.stderr and "--force" in refused.stderr
    assert kube.get(Deployment, "quarterdeck-operator", namespace=installed)  # nothing removed

    forced = _qd(dev_cluster.kubeconfig, "uninstall", "--force", "--namespace", installed)
    assert forced.returncode == 0, forced.stderr
    # other tests' Applications may still be on their way out: at least ours goes
    warned = re.search(
        r"deleting CRD applications\.delivery\.quarterdeck\.dev deletes its (\d+)", forced.stderr
    )
    assert warned and int(warned[1]) >= 1, forced.stderr
    after = kube.get(ConfigMap, "a", namespace=namespace)
    assert after.metadata.uid == managed.metadata.uid  # the Application's object is untouched
    assert after.metadata.resourceVersion == managed.metadata.resourceVersion
    with pytest.raises(ApiError):
        kube.get(ClusterRole, "quarterdeck-operator")
    assert not _admission_policy_present(kube)  # nothing left that would hold Jobs
    wait_for(
        lambda: _gone(kube, installed),
        "the install's namespace to be deleted",
        60,
    )


def _gone(kube: Client, name: str) -> bool:
    try:
        kube.get(Namespace, name)
    except ApiError as err:
        return err.status.code == 404
    return False
