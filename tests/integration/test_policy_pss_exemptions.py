"""Differential test: PodSecurity defaults and exemptions, as the API server applies them.

A dev cluster of its own is started with an AdmissionConfiguration whose PodSecurity
plugin defaults unlabelled namespaces to baseline:v1.30 and exempts one user name,
one RuntimeClass and one namespace. Every built-in example's pod goes through the API
server (dryRun=All), as the admin and impersonating the exempt user, with and without
an exempt `runtimeClassName`, in namespaces that take the defaults in whole or in part;
`predict`, given the same configuration file the API server read, must say the same
word for word. A workload is judged by the Pod its controller would create from its
template (here as the admin, the controller-manager's user): PSA only warns on the
workload itself, at the warn level, and the gate's question is whether its pods run.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from delivery_setup import application, exists, install_crds, source
from lightkube import Client
from lightkube.generic_resource import create_global_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Pod
from lightkube.resources.rbac_authorization_v1 import ClusterRoleBinding

from gitrepo import Repo
from operator_process import OperatorProcess
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.controller import ApplicationRes
from quarterdeck.devcluster import cluster
from quarterdeck.devcluster.session import temporary_cluster
from quarterdeck.kube.client import load_client
from quarterdeck.kube.wait import wait_for
from quarterdeck.policy.library_examples import examples
from quarterdeck.policy.pss import exemptions
from quarterdeck.policy.pss.admission import (
    ENFORCE,
    ENFORCE_VERSION,
    POD_SECURITY_KINDS,
    message,
    pod_of,
    predict,
)

pytestmark = pytest.mark.integration

EXEMPT_USER = "psa-exempt-user"
EXEMPT_CLASS = "psa-exempt"
OTHER_CLASS = "psa-checked"
EXEMPT_NAMESPACE = "psa-exempt-ns"
ADMISSION = {
    "apiVersion": "apiserver.config.k8s.io/v1",
    "kind": "AdmissionConfiguration",
    "plugins": [{
        "name": "PodSecurity",
        "configuration": {
            "apiVersion": "pod-security.admission.config.k8s.io/v1",
            "kind": "PodSecurityConfiguration",
            "defaults": {"enforce": "baseline", "enforce-version": "v1.30"},
            "exemptions": {"usernames": [EXEMPT_USER], "runtimeClasses": [EXEMPT_CLASS],
                           "namespaces": [EXEMPT_NAMESPACE]},
        },
    }],
}
#: namespace -> labels: exempt (though restricted), all defaults, level only, version only
NAMESPACES = {
    EXEMPT_NAMESPACE: {ENFORCE: "restricted"},
    "psa-defaults": {},
    "psa-restricted-default-version": {ENFORCE: "restricted"},
    "psa-default-level-latest": {ENFORCE_VERSION: "latest"},
    "psa-restricted-latest": {ENFORCE: "restricted", ENFORCE_VERSION: "latest"},
}
RuntimeClass = create_global_resource("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses")
_PATHS = {"Pod": "api/v1", "Deployment": "apis/apps/v1", "StatefulSet": "apis/apps/v1",
          "DaemonSet": "apis/apps/v1", "ReplicaSet": "apis/apps/v1", "Job": "apis/batch/v1",
          "CronJob": "apis/batch/v1"}
_WARNING = re.compile(r'^\d{3} \S+ "(.*)"$')


@pytest.fixture(scope="module")
def configured() -> Iterator[tuple[Client, int]]:
    """The cluster (as its admin) with the exempt user bound to cluster-admin, the two
    RuntimeClasses and the namespaces; and the API server's minor version."""
    name = f"psa-ex-{os.getpid()}"
    with temporary_cluster(name, (), admission_config=ADMISSION) as running:
        kube = load_client(running.kubeconfig, field_manager="quarterdeck-tests")
        kube.create(ClusterRoleBinding.from_dict({
            "metadata": {"name": "psa-exempt-user"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                          "name": EXEMPT_USER}]}))
        for runtime_class in (EXEMPT_CLASS, OTHER_CLASS):
            kube.create(RuntimeClass.from_dict({"metadata": {"name": runtime_class},
                                                "handler": "runc"}))
        for namespace, labels in NAMESPACES.items():
            kube.create(Namespace(metadata=ObjectMeta(name=namespace, labels=labels)))
        # RBAC and the RuntimeClass admission read informer caches: wait until both
        # know what was just created, so no request below meets a stale cache.
        probe = next(e.obj for e in examples() if e.obj["kind"] == "Pod")
        for runtime_class in (EXEMPT_CLASS, OTHER_CLASS):
            ready = variant(probe, "psa-restricted-latest", runtime_class)

            def seen(pod: dict[str, Any] = ready) -> tuple[str, str]:
                return server_says(kube, pod, EXEMPT_USER)

            wait_for(lambda: seen()[0] != "invalid", "the exempt user may create pods with "
                     f"RuntimeClass {runtime_class}", state=seen)
        minor = kube._client._client.get("/version").json()["minor"]
        yield kube, int(re.sub(r"\D.*", "", minor))


def server_says(kube: Client, obj: dict[str, Any], user: str | None) -> tuple[str, str]:
    """('refused', message), ('warned', warning), ('allowed', '') or ('invalid', why),
    for a dry-run create as the admin or impersonating `user`."""
    ns, kind = obj["metadata"]["namespace"], obj["kind"]
    headers = {"Impersonate-User": user} if user else {}
    resp = kube._client._client.post(f"/{_PATHS[kind]}/namespaces/{ns}/{kind.lower()}s",
                                     params={"dryRun": "All"}, json=obj, headers=headers)
    if resp.status_code == 403 and "PodSecurity" in resp.json().get("message", ""):
        return "refused", resp.json()["message"]
    if resp.status_code >= 300:
        return "invalid", resp.json().get("message", resp.text)
    warnings = [m.group(1).replace('\\"', '"') for w in resp.headers.get_list("warning")
                if (m := _WARNING.match(w)) and "PodSecurity" in m.group(1)]
    return ("warned", warnings[0]) if warnings else ("allowed", "")


def pod_of_template(obj: dict[str, Any]) -> dict[str, Any]:
    """The Pod a workload's controller creates (as the dev cluster's admin, the
    controller-manager's user): what PSA's enforce level is applied to."""
    if obj["kind"] == "Pod":
        return obj
    meta, spec = pod_of(obj) or ({}, {})
    return {"apiVersion": "v1", "kind": "Pod", "spec": spec,
            "metadata": {**meta, "name": obj["metadata"]["name"],
                         "namespace": obj["metadata"]["namespace"]}}


def we_say(obj: dict[str, Any], config: exemptions.PodSecurityConfig, user: str | None,
           minor: int) -> tuple[str, str]:
    """Our verdict on `obj`'s pods, in the words the API server gives a refused Pod."""
    refusals = predict([obj], NAMESPACES, server_minor=minor, config=config, username=user)
    if not refusals:
        return "allowed", ""
    return "refused", message(pod_of_template(obj), refusals[0].decision)


def variant(obj: dict[str, Any], namespace: str, runtime_class: str | None) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"]["namespace"] = namespace
    if runtime_class:
        node = out["spec"]
        if out["kind"] == "CronJob":
            node = node["jobTemplate"]["spec"]
        node = node if out["kind"] == "Pod" else node["template"]["spec"]
        node["runtimeClassName"] = runtime_class
    return out


def test_exemptions_and_defaults_decided_as_the_api_server_decides(
    configured: tuple[Client, int]
) -> None:
    kube, minor = configured
    written = cluster.layout_for(f"psa-ex-{os.getpid()}").root / "admission.yaml"
    config = exemptions.load(written)
    cases = [e for e in examples() if e.obj["kind"] in POD_SECURITY_KINDS]
    differ: list[str] = []
    outcomes: dict[str, int] = {}
    for example in cases:
        for namespace in NAMESPACES:
            # Every namespace as the admin; the exemptions where they change something.
            variants: list[tuple[str | None, str | None]] = [(None, None)]
            if namespace == "psa-restricted-latest" or namespace == "psa-defaults":
                variants += [(EXEMPT_USER, None), (None, EXEMPT_CLASS), (None, OTHER_CLASS)]
            for user, runtime_class in variants:
                obj = variant(example.obj, namespace, runtime_class)
                # A workload's pods are created by its controller, not by `user`.
                theirs = server_says(kube, pod_of_template(obj),
                                     user if obj["kind"] == "Pod" else None)
                assert theirs[0] != "invalid", f"{example.policy}/{example.name}: {theirs[1]}"
                ours = we_say(obj, config, user, minor)
                kind = "pod" if obj["kind"] == "Pod" else "workload"
                key = f"{namespace} {kind} user={user} class={runtime_class}: {theirs[0]}"
                outcomes[key] = outcomes.get(key, 0) + 1
                if ours != theirs:
                    differ.append(f"{example.policy}/{example.name} in {namespace} as "
                                  f"{user or 'admin'}, runtimeClass {runtime_class}:\n"
                                  f"  ours:   {ours}\n  server: {theirs}")
    assert differ == [], "\n".join(differ)
    # Each exemption let through what the same namespace otherwise refuses (the user's
    # only for the Pods it creates itself), and the defaults refused pods in namespaces
    # without the labels.
    for refused in ("psa-restricted-latest pod user=None class=None",
                    "psa-restricted-latest pod user=None class=psa-checked",
                    "psa-restricted-latest workload user=psa-exempt-user class=None",
                    "psa-defaults pod user=None class=None",
                    "psa-restricted-default-version pod user=None class=None",
                    "psa-default-level-latest workload user=None class=None"):
        assert outcomes.get(f"{refused}: refused", 0) > 3, (refused, outcomes)
    for exempt in (f"{EXEMPT_NAMESPACE} pod user=None class=None",
                   f"{EXEMPT_NAMESPACE} workload user=None class=None",
                   "psa-restricted-latest pod user=psa-exempt-user class=None",
                   "psa-restricted-latest pod user=None class=psa-exempt",
                   "psa-restricted-latest workload user=None class=psa-exempt"):
        assert outcomes.get(f"{exempt}: refused", 0) == 0, (exempt, outcomes)
        assert outcomes.get(f"{exempt}: allowed", 0) > 3, (exempt, outcomes)


def privileged_pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0",
                                     "securityContext": {"privileged": True}}]}}


def blocked_message(kube: Client, namespace: str, name: str) -> str:
    """The Application's Ready message while a sync of it is refused, else ""."""
    status = dict(kube.get(ApplicationRes, name, namespace=namespace)).get("status") or {}
    ready = [c for c in status.get("conditions") or [] if c["type"] == "Ready"]
    return str(ready[0]["message"]) if ready and "blocked" in ready[0]["message"] else ""


def test_the_operator_gate_decides_with_the_admission_config_file(
    configured: tuple[Client, int], tmp_path: Path
) -> None:
    """`qd operator --admission-config`: the sync gate refuses a privileged Pod in an
    unlabelled namespace (the file's default, baseline:v1.30, where labels alone say
    privileged) with the API server's own words, and applies one in the exempt
    namespace (labelled restricted, where labels alone would refuse it)."""
    kube, _ = configured
    layout = cluster.layout_for(f"psa-ex-{os.getpid()}")
    install_crds(kube)
    repo = Repo(tmp_path / "repo")
    repo.commit("pods", {"defaults/pod.yaml": yaml.safe_dump(privileged_pod("refused")),
                         "exempt/pod.yaml": yaml.safe_dump(privileged_pod("exempt"))})
    apps = Cluster(kube)
    for namespace, path in (("psa-defaults", "defaults"), (EXEMPT_NAMESPACE, "exempt")):
        apps.apply(source(namespace, repo.url))
        apps.apply(application(namespace, "pods", path))
    operator = OperatorProcess(layout.kubeconfig, tmp_path, "", "psa-gate",
                               extra=("--admission-config", str(layout.root / "admission.yaml")))
    operator.start()
    try:
        wait_for(lambda: exists(kube, Pod, EXEMPT_NAMESPACE, "exempt"),
                 "the exempt namespace's privileged Pod to be applied", 90)
        wait_for(lambda: blocked_message(kube, "psa-defaults", "pods"),
                 "the sync into the unlabelled namespace to be refused", 90)
    finally:
        operator.stop()
    refused = {**privileged_pod("refused"), "metadata": {"name": "refused",
                                                         "namespace": "psa-defaults"}}
    verdict, words = server_says(kube, refused, None)
    assert verdict == "refused"
    assert blocked_message(kube, "psa-defaults", "pods").endswith(
        f"Pod/psa-defaults/refused: pod-security: {words}")
    assert not exists(kube, Pod, "psa-defaults", "refused")
