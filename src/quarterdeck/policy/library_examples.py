"""Objects each built-in Guardrail admits and denies.

One set of examples serves three purposes: unit tests of the library, the
differential test against a real API server (every example is a valid object the
server would otherwise accept, e.g. Job templates use restartPolicy Never), and the
benchmark's object mix. Examples change one thing against a compliant baseline.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True)
class Example:
    policy: str
    name: str
    allowed: bool
    obj: Obj


def compliant_pod_spec() -> Obj:
    """A pod spec that passes every built-in (restricted PSS included)."""
    return {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "app",
            "image": "registry.example/app:1.0",
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                          "limits": {"cpu": "100m", "memory": "64Mi"}},
            "securityContext": {"allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]}},
        }],
    }


def wrap(kind: str, name: str, spec: Obj, labels: dict[str, str] | None = None) -> Obj:
    """A Pod or a workload whose pod template is `spec` (valid for the API server)."""
    labels = {"team": "ml", **(labels or {})}
    spec = dict(spec)
    annotations = spec.pop("_annotations", None)  # pod annotations, set by a change
    meta: Obj = {"name": name, "labels": labels}
    selector = {"matchLabels": {"app": name}}
    template: Obj = {"metadata": {"labels": {"app": name}}, "spec": spec}
    if annotations:
        template["metadata"]["annotations"] = annotations
        if kind == "Pod":
            meta["annotations"] = annotations
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
                "spec": {"selector": selector, "template": template}}
    job_template = {"metadata": template["metadata"],
                    "spec": {**spec, "restartPolicy": "Never"}}
    if kind == "Job":
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
                "spec": {"template": job_template}}
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta,
            "spec": {"schedule": "*/5 * * * *",
                     "jobTemplate": {"spec": {"template": job_template}}}}


def _edit(change: Callable[[Obj], None]) -> Obj:
    spec = compliant_pod_spec()
    change(spec)
    return spec


def _container(spec: Obj) -> Obj:
    container: Obj = spec["containers"][0]
    return container


def _csc(**fields: Any) -> Callable[[Obj], None]:
    return lambda s: _container(s).setdefault("securityContext", {}).update(fields)


def _psc(**fields: Any) -> Callable[[Obj], None]:
    return lambda s: s.setdefault("securityContext", {}).update(fields)


def _set(**fields: Any) -> Callable[[Obj], None]:
    return lambda s: s.update(fields)


def _sidecar(s: Obj) -> None:
    proxy = copy.deepcopy(_container(s))
    proxy.update(name="istio-proxy", image="docker.io/istio/proxyv2:1.22.0")
    s["containers"].append(proxy)


def _native_sidecar(s: Obj) -> None:
    proxy = copy.deepcopy(_container(s))
    proxy.update(name="istio-proxy", image="docker.io/istio/proxyv2:1.22.0",
                 restartPolicy="Always")
    s["initContainers"] = [proxy]


def _gpu(s: Obj) -> None:
    resources = _container(s).setdefault("resources", {})
    resources.setdefault("limits", {})["nvidia.com/gpu"] = "1"
    resources.setdefault("requests", {})["nvidia.com/gpu"] = "1"


def _non_root_container(s: Obj) -> None:
    s.setdefault("securityContext", {}).pop("runAsNonRoot", None)
    _container(s).setdefault("securityContext", {})["runAsNonRoot"] = True


def _localhost_seccomp(s: Obj) -> None:
    s.setdefault("securityContext", {}).pop("seccompProfile", None)
    _container(s).setdefault("securityContext", {})["seccompProfile"] = {
        "type": "Localhost", "localhostProfile": "profiles/app.json"}


def _unmasked_proc(s: Obj) -> None:
    s["hostUsers"] = False  # the API server allows Unmasked only in a user namespace
    _container(s).setdefault("securityContext", {})["procMount"] = "Unmasked"


def _no_limits(s: Obj) -> None:
    _container(s).get("resources", {}).pop("limits", None)


# The API server rejects privileged or CAP_SYS_ADMIN with allowPrivilegeEscalation false.
_PRIVILEGED = _csc(privileged=True, allowPrivilegeEscalation=True)
_HOST_PATH = {"name": "host", "hostPath": {"path": "/var/log"}}
_EMPTY_DIR = {"name": "scratch", "emptyDir": {}}
_QUEUE = {"kueue.x-k8s.io/queue-name": "team-ml"}
_CRITICAL = {"quarterdeck.dev/latency-critical": "true"}

def _probe_host(s: Obj) -> None:
    _container(s)["readinessProbe"] = {"httpGet": {"port": 8080, "host": "10.0.0.1"}}


def _lifecycle_host(s: Obj) -> None:
    _container(s)["lifecycle"] = {"preStop": {"tcpSocket": {"port": 80, "host": "node"}}}


def _windows(s: Obj) -> None:
    """A Windows pod: Linux-only fields are not allowed on it, and restricted's
    allowPrivilegeEscalation / capabilities / seccomp rules exempt it."""
    s["os"] = {"name": "windows"}
    s["securityContext"] = {"runAsNonRoot": True}
    _container(s)["securityContext"] = {}


def _user_namespace_root(s: Obj) -> None:
    s["hostUsers"] = False
    s["securityContext"] = {"runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}}


def _image_volume(s: Obj) -> None:
    s["volumes"] = [{"name": "model", "image": {"reference": "registry.example/model:1"}}]


def _memory_limit(value: str) -> Callable[[Obj], None]:
    return lambda s: _container(s).setdefault("resources", {}).setdefault(
        "limits", {}).update(memory=value)


def _app_armor_annotation(value: str) -> Callable[[Obj], None]:
    return lambda s: s.setdefault("_annotations", {}).update(
        {"container.apparmor.security.beta.kubernetes.io/app": value})


# Pod Security cases beyond the single-field ones above: what the standard names and
# the per-version rules (the API server decides these as `pss-*` does).
_POD_SECURITY_CASES: list[tuple[str, str, bool, str, Callable[[Obj], None], dict[str, str]]] = [
    ("pss-baseline", "apparmor-unconfined-field", False, "Pod",
     _csc(appArmorProfile={"type": "Unconfined"}), {}),
    ("pss-baseline", "apparmor-unconfined-pod-field", False, "Deployment",
     _psc(appArmorProfile={"type": "Unconfined"}), {}),
    ("pss-baseline", "apparmor-runtime-default", True, "Pod",
     _csc(appArmorProfile={"type": "RuntimeDefault"}), {}),
    ("pss-baseline", "apparmor-localhost", True, "Pod",
     _csc(appArmorProfile={"type": "Localhost", "localhostProfile": "k8s-app"}), {}),
    ("pss-baseline", "apparmor-unconfined-annotation", False, "Pod",
     _app_armor_annotation("unconfined"), {}),
    ("pss-baseline", "apparmor-localhost-annotation", True, "Pod",
     _app_armor_annotation("localhost/k8s-app"), {}),
    ("pss-baseline", "selinux-spc-type", False, "Pod",
     _csc(seLinuxOptions={"type": "spc_t"}), {}),
    ("pss-baseline", "selinux-user-and-role", False, "Pod",
     _psc(seLinuxOptions={"user": "system_u", "role": "system_r"}), {}),
    ("pss-baseline", "selinux-container-t", True, "Pod",
     _csc(seLinuxOptions={"type": "container_t", "level": "s0:c123,c456"}), {}),
    ("pss-baseline", "selinux-container-engine-t", True, "Pod",
     _csc(seLinuxOptions={"type": "container_engine_t"}), {}),
    ("pss-baseline", "probe-host", False, "Pod", _probe_host, {}),
    ("pss-baseline", "lifecycle-host", False, "StatefulSet", _lifecycle_host, {}),
    ("pss-baseline", "sysctl-tcp-rmem", True, "Pod",
     _psc(sysctls=[{"name": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456"}]), {}),
    ("pss-baseline", "sysctl-reserved-ports", True, "Pod",
     _psc(sysctls=[{"name": "net.ipv4.ip_local_reserved_ports", "value": "30000"}]), {}),
    ("pss-baseline", "proc-mount-unmasked-user-namespace", True, "Pod", _unmasked_proc, {}),
    ("pss-restricted", "proc-mount-unmasked-user-namespace", False, "Pod", _unmasked_proc, {}),
    ("pss-restricted", "windows-pod", True, "Pod", _windows, {}),
    ("pss-restricted", "root-in-user-namespace", True, "Pod", _user_namespace_root, {}),
    ("pss-restricted", "image-volume", True, "Pod", _image_volume, {}),
    ("pss-restricted", "seccomp-unconfined-container", False, "CronJob",
     _csc(seccompProfile={"type": "Unconfined"}), {}),
]

# (policy, case name, allowed, kind, pod spec change, extra labels)
_CASES: list[tuple[str, str, bool, str, Callable[[Obj], None], dict[str, str]]] = [
    ("pss-baseline", "host-namespaces-host-network", False, "Pod", _set(hostNetwork=True), {}),
    ("pss-baseline", "host-namespaces-host-pid-in-deployment", False, "Deployment",
     _set(hostPID=True), {}),
    ("pss-baseline", "host-namespaces-host-ipc-false", True, "Pod", _set(hostIPC=False), {}),
    ("pss-baseline", "privileged-privileged", False, "Pod", _PRIVILEGED, {}),
    ("pss-baseline", "privileged-privileged-in-cronjob", False, "CronJob", _PRIVILEGED, {}),
    ("pss-baseline", "privileged-privileged-false", True, "StatefulSet",
     _csc(privileged=False), {}),
    ("pss-baseline", "capabilities-sys-admin", False, "Pod",
     _csc(capabilities={"add": ["SYS_ADMIN"], "drop": ["ALL"]}, allowPrivilegeEscalation=True),
     {}),
    ("pss-baseline", "capabilities-chown", True, "Pod",
     _csc(capabilities={"add": ["CHOWN"], "drop": ["ALL"]}), {}),
    ("pss-baseline", "host-path-host-path", False, "DaemonSet", _set(volumes=[_HOST_PATH]), {}),
    ("pss-baseline", "host-path-empty-dir", True, "Pod", _set(volumes=[_EMPTY_DIR]), {}),
    ("pss-baseline", "host-ports-host-port", False, "Pod",
     lambda s: _container(s).update(ports=[{"containerPort": 8080, "hostPort": 8080}]), {}),
    ("pss-baseline", "host-ports-container-port", True, "Pod",
     lambda s: _container(s).update(ports=[{"containerPort": 8080}]), {}),
    ("pss-baseline", "seccomp-unconfined-pod", False, "Pod",
     _psc(seccompProfile={"type": "Unconfined"}), {}),
    ("pss-baseline", "seccomp-unconfined-container", False, "Job",
     _csc(seccompProfile={"type": "Unconfined"}), {}),
    ("pss-baseline", "sysctls-unsafe-sysctl", False, "Pod",
     _psc(sysctls=[{"name": "kernel.msgmax", "value": "65536"}]), {}),
    ("pss-baseline", "sysctls-safe-sysctl", True, "Pod",
     _psc(sysctls=[{"name": "net.ipv4.tcp_syncookies", "value": "1"}]), {}),
    ("pss-baseline", "proc-mount-default", True, "Pod", _csc(procMount="Default"), {}),
    ("pss-restricted", "volume-types-host-path", False, "Pod", _set(volumes=[_HOST_PATH]), {}),
    ("pss-restricted", "volume-types-nfs", False, "Deployment",
     _set(volumes=[{"name": "n", "nfs": {"server": "nfs.example", "path": "/x"}}]), {}),
    ("pss-restricted", "volume-types-empty-dir", True, "Pod", _set(volumes=[_EMPTY_DIR]), {}),
    ("pss-restricted", "privilege-escalation-unset", False, "Pod",
     lambda s: _container(s).get("securityContext", {}).pop("allowPrivilegeEscalation", None),
     {}),
    ("pss-restricted", "privilege-escalation-true", False, "Job",
     _csc(allowPrivilegeEscalation=True), {}),
    ("pss-restricted", "run-as-non-root-unset", False, "Pod",
     lambda s: s.get("securityContext", {}).pop("runAsNonRoot", None), {}),
    ("pss-restricted", "run-as-non-root-container-false", False, "Pod",
     _csc(runAsNonRoot=False), {}),
    ("pss-restricted", "run-as-non-root-container-true", True, "Pod", _non_root_container, {}),
    ("pss-restricted", "run-as-user-root-pod", False, "Pod", _psc(runAsUser=0), {}),
    ("pss-restricted", "run-as-user-root-container", False, "Pod", _csc(runAsUser=0), {}),
    ("pss-restricted", "run-as-user-uid-1000", True, "Pod", _psc(runAsUser=1000), {}),
    ("pss-restricted", "seccomp-unset", False, "Pod",
     lambda s: s.get("securityContext", {}).pop("seccompProfile", None), {}),
    ("pss-restricted", "seccomp-container-localhost", True, "Pod", _localhost_seccomp, {}),
    ("pss-restricted", "capabilities-no-drop", False, "Pod",
     lambda s: _container(s).get("securityContext", {}).pop("capabilities", None), {}),
    ("pss-restricted", "capabilities-add-chown", False, "Pod",
     _csc(capabilities={"add": ["CHOWN"], "drop": ["ALL"]}), {}),
    ("pss-restricted", "capabilities-net-bind", True, "Pod",
     _csc(capabilities={"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}), {}),
    *_POD_SECURITY_CASES,
    ("disallow-latest-tag", "latest", False, "Pod",
     lambda s: _container(s).update(image="nginx:latest"), {}),
    ("disallow-latest-tag", "untagged-with-port-registry", False, "Deployment",
     lambda s: _container(s).update(image="registry.example:5000/team/app"), {}),
    ("disallow-latest-tag", "digest", True, "Pod",
     lambda s: _container(s).update(image="nginx@sha256:" + "a" * 64), {}),
    ("require-requests-limits", "no-limits", False, "Pod", _no_limits, {}),
    ("require-requests-limits", "no-resources", False, "CronJob",
     lambda s: _container(s).pop("resources", None), {}),
    ("require-team-label", "no-team", False, "Pod", lambda s: None, {"team": ""}),
    ("gpu-requires-queue", "gpu-no-queue", False, "Job", _gpu, {}),
    ("gpu-requires-queue", "gpu-with-queue", True, "Job", _gpu, _QUEUE),
    ("gpu-requires-queue", "gpu-pod-quarterdeck-queue", True, "Pod", _gpu,
     {"queueing.quarterdeck.dev/queue-name": "team-ml"}),
    ("apparmor-profile-field", "annotation", False, "Deployment",
     _app_armor_annotation("runtime/default"), {}),
    ("apparmor-profile-field", "field", True, "Pod",
     _csc(appArmorProfile={"type": "RuntimeDefault"}), {}),
    ("latency-critical-no-swap", "burstable-memory", False, "Deployment",
     _memory_limit("128Mi"), _CRITICAL),
    ("latency-critical-no-swap", "guaranteed-memory", True, "Deployment",
     _memory_limit("0.0625Gi"), _CRITICAL),
    ("latency-critical-no-swap", "burstable-not-critical", True, "Deployment",
     _memory_limit("128Mi"), {}),
    ("native-sidecars", "plain-sidecar", False, "Deployment", _sidecar, {}),
    ("native-sidecars", "native-sidecar", True, "Deployment", _native_sidecar, {}),
]


def pod_spec_changes() -> list[tuple[str, Callable[[Obj], None]]]:
    """Every single-field change the examples make, by name; combined at random they
    give the differential test objects nobody wrote by hand."""
    return [(f"{policy}:{case}", change) for policy, case, _, _, change, _ in _CASES]


def _secret(name: str, data: dict[str, str] | None) -> Obj:
    obj: Obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}}
    if data is not None:
        obj["data"] = data
    return obj


def _service(distribution: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"web-{distribution.lower()}", "labels": {"team": "ml"}},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}],
                     "trafficDistribution": distribution}}


def examples() -> list[Example]:
    """Every example, with the compliant baseline as an `allowed` case per policy."""
    from quarterdeck.policy.library import builtins

    out: list[Example] = []
    for policy, case, allowed, kind, change, labels in _CASES:
        name = f"{policy}-{case}"[:63].rstrip("-")
        obj = wrap(kind, name, _edit(change), labels)
        if labels.get("team") == "":
            del obj["metadata"]["labels"]["team"]
        out.append(Example(policy, case, allowed, obj))
    for policy in builtins():
        if policy in ("no-plaintext-secrets", "service-traffic-distribution"):
            continue
        out.append(Example(policy, "compliant", True,
                           wrap("Pod", f"{policy}-compliant"[:63], compliant_pod_spec())))
    for distribution, allowed in (("PreferClose", False), ("PreferSameZone", True),
                                  ("PreferSameNode", True)):
        out.append(Example("service-traffic-distribution", distribution.lower(), allowed,
                           _service(distribution)))
    out.append(Example("no-plaintext-secrets", "data", False,
                       _secret("plain", {"password": "aHVudGVyMg=="})))
    out.append(Example("no-plaintext-secrets", "empty", True, _secret("empty", None)))
    return out
