"""Pod Security Standards, table-driven from the standard's text: each row is a pod
change, the level:version it is judged at, and whether the standard allows it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from quarterdeck.policy.pss.admission import enforced, predict
from quarterdeck.policy.pss.registry import checks_for, decide
from quarterdeck.policy.pss.versions import (
    LevelVersion,
    Version,
    VersionError,
    parse_known_version,
    parse_version,
)

Obj = dict[str, Any]


def restricted_pod() -> Obj:
    """A pod every level and version allows."""
    return {"securityContext": {"runAsNonRoot": True,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "app", "image": "app:1", "securityContext": {
                "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}


def ctr(**fields: Any) -> Obj:
    spec = restricted_pod()
    spec["containers"][0]["securityContext"].update(fields)
    return spec


def pod(**fields: Any) -> Obj:
    spec = restricted_pod()
    spec["securityContext"].update(fields)
    return spec


def top(**fields: Any) -> Obj:
    spec = restricted_pod()
    spec.update(fields)
    return spec


def windows() -> Obj:
    return {"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": True},
            "containers": [{"name": "app", "image": "app:1"}]}


def sysctl(name: str) -> Obj:
    return pod(sysctls=[{"name": name, "value": "1"}])


def volume(**source: Any) -> Obj:
    return top(volumes=[{"name": "v", **source}])


def probe(**handler: Any) -> Obj:
    spec = restricted_pod()
    spec["containers"][0]["livenessProbe"] = handler
    return spec


# (case, level, version, pod spec, annotations, allowed)
CASES: list[tuple[str, str, str, Obj, dict[str, str], bool]] = [
    ("restricted pod", "restricted", "latest", restricted_pod(), {}, True),
    ("restricted pod at v1.0", "restricted", "v1.0", restricted_pod(), {}, True),
    # Host namespaces, privileged, capabilities, hostPath, hostPort (all versions).
    ("hostNetwork", "baseline", "v1.0", top(hostNetwork=True), {}, False),
    ("hostIPC false", "baseline", "latest", top(hostIPC=False), {}, True),
    ("privileged", "baseline", "latest", ctr(privileged=True), {}, False),
    ("add SYS_ADMIN", "baseline", "latest",
     ctr(capabilities={"add": ["SYS_ADMIN"]}), {}, False),
    ("add NET_RAW", "baseline", "latest", ctr(capabilities={"add": ["NET_RAW"]}), {}, False),
    ("add CHOWN baseline", "baseline", "latest", ctr(capabilities={"add": ["CHOWN"]}), {}, True),
    ("hostPath", "baseline", "latest", volume(hostPath={"path": "/"}), {}, False),
    ("hostPort", "baseline", "latest",
     top(containers=[{"name": "a", "ports": [{"containerPort": 1, "hostPort": 80}]}]), {}, False),
    ("hostPort 0", "baseline", "latest",
     top(containers=[{"name": "a", "ports": [{"containerPort": 1, "hostPort": 0}]}]), {}, True),
    # AppArmor: the field (GA in 1.30) and the older annotations, at every version.
    ("apparmor field unconfined", "baseline", "v1.0", ctr(appArmorProfile={"type": "Unconfined"}),
     {}, False),
    ("apparmor pod field unconfined", "baseline", "latest",
     pod(appArmorProfile={"type": "Unconfined"}), {}, False),
    ("apparmor localhost field", "baseline", "latest",
     ctr(appArmorProfile={"type": "Localhost", "localhostProfile": "p"}), {}, True),
    ("apparmor annotation unconfined", "baseline", "latest", restricted_pod(),
     {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}, False),
    ("apparmor annotation localhost", "baseline", "latest", restricted_pod(),
     {"container.apparmor.security.beta.kubernetes.io/app": "localhost/p"}, True),
    ("apparmor annotation empty", "baseline", "latest", restricted_pod(),
     {"container.apparmor.security.beta.kubernetes.io/app": ""}, True),
    # SELinux: type from a short list (container_engine_t since v1.31), no user or role.
    ("selinux spc_t", "baseline", "latest", ctr(seLinuxOptions={"type": "spc_t"}), {}, False),
    ("selinux container_init_t", "baseline", "latest",
     ctr(seLinuxOptions={"type": "container_init_t"}), {}, True),
    ("selinux engine v1.30", "baseline", "v1.30",
     ctr(seLinuxOptions={"type": "container_engine_t"}), {}, False),
    ("selinux engine v1.31", "baseline", "v1.31",
     ctr(seLinuxOptions={"type": "container_engine_t"}), {}, True),
    ("selinux user", "baseline", "latest", pod(seLinuxOptions={"user": "u"}), {}, False),
    ("selinux level only", "baseline", "latest", pod(seLinuxOptions={"level": "s0"}), {}, True),
    # Host in probes and lifecycle handlers: since v1.34.
    ("probe host v1.33", "baseline", "v1.33", probe(httpGet={"port": 1, "host": "h"}), {}, True),
    ("probe host v1.34", "baseline", "v1.34", probe(httpGet={"port": 1, "host": "h"}), {}, False),
    ("probe tcp host", "baseline", "latest", probe(tcpSocket={"port": 1, "host": "h"}), {}, False),
    ("probe empty host", "baseline", "latest", probe(httpGet={"port": 1, "host": ""}), {}, True),
    # Sysctls: the safe set grew in v1.27, v1.29, v1.32 and v1.37.
    ("sysctl unsafe", "baseline", "latest", sysctl("kernel.msgmax"), {}, False),
    ("sysctl syncookies v1.0", "baseline", "v1.0", sysctl("net.ipv4.tcp_syncookies"), {}, True),
    ("reserved ports v1.26", "baseline", "v1.26",
     sysctl("net.ipv4.ip_local_reserved_ports"), {}, False),
    ("reserved ports v1.27", "baseline", "v1.27",
     sysctl("net.ipv4.ip_local_reserved_ports"), {}, True),
    ("keepalive v1.28", "baseline", "v1.28", sysctl("net.ipv4.tcp_keepalive_time"), {}, False),
    ("keepalive v1.29", "baseline", "v1.29", sysctl("net.ipv4.tcp_keepalive_time"), {}, True),
    ("tcp_rmem v1.31", "baseline", "v1.31", sysctl("net.ipv4.tcp_rmem"), {}, False),
    ("tcp_rmem v1.32", "baseline", "v1.32", sysctl("net.ipv4.tcp_rmem"), {}, True),
    ("notsent_lowat v1.36", "baseline", "v1.36", sysctl("net.ipv4.tcp_notsent_lowat"), {}, False),
    ("notsent_lowat latest", "baseline", "latest", sysctl("net.ipv4.tcp_notsent_lowat"), {}, True),
    # procMount: Default only; in a user namespace any value at baseline since v1.35.
    ("procMount unmasked", "baseline", "latest", ctr(procMount="Unmasked"), {}, False),
    ("procMount userns v1.34", "baseline", "v1.34",
     {**ctr(procMount="Unmasked"), "hostUsers": False}, {}, False),
    ("procMount userns v1.35", "baseline", "v1.35",
     {**ctr(procMount="Unmasked"), "hostUsers": False}, {}, True),
    ("procMount userns restricted", "restricted", "latest",
     {**ctr(procMount="Unmasked"), "hostUsers": False}, {}, False),
    # Seccomp: annotations before v1.19, the fields after; restricted requires a profile.
    ("seccomp annotation v1.18", "baseline", "v1.18", restricted_pod(),
     {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}, False),
    ("seccomp annotation v1.19", "baseline", "v1.19", restricted_pod(),
     {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}, True),
    ("seccomp docker/default v1.18", "baseline", "v1.18", restricted_pod(),
     {"container.seccomp.security.alpha.kubernetes.io/app": "docker/default"}, True),
    ("seccomp unconfined field", "baseline", "latest",
     ctr(seccompProfile={"type": "Unconfined"}), {}, False),
    ("seccomp unset restricted v1.18", "restricted", "v1.18", pod(seccompProfile=None), {}, True),
    ("seccomp unset restricted v1.19", "restricted", "v1.19",
     {**restricted_pod(), "securityContext": {"runAsNonRoot": True}}, {}, False),
    # Windows: hostProcess is baseline; restricted exempts Windows pods since v1.25.
    ("windows hostProcess", "baseline", "latest",
     pod(windowsOptions={"hostProcess": True}), {}, False),
    ("windows pod v1.24", "restricted", "v1.24", windows(), {}, False),
    ("windows pod v1.25", "restricted", "v1.25", windows(), {}, True),
    # Restricted: privilege escalation (v1.8+), drop ALL (v1.22+), root (v1.23+), volumes.
    ("escalation unset v1.7", "restricted", "v1.7",
     {**restricted_pod(), "containers": [{"name": "a", "securityContext": {}}]}, {}, True),
    ("escalation unset v1.8", "restricted", "v1.8",
     {**restricted_pod(), "containers": [{"name": "a", "securityContext": {}}]}, {}, False),
    ("no drop v1.21", "restricted", "v1.21", ctr(capabilities={}), {}, True),
    ("no drop v1.22", "restricted", "v1.22", ctr(capabilities={}), {}, False),
    ("add NET_BIND_SERVICE", "restricted", "latest",
     ctr(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}), {}, True),
    ("add CHOWN restricted", "restricted", "latest",
     ctr(capabilities={"drop": ["ALL"], "add": ["CHOWN"]}), {}, False),
    ("runAsUser 0 v1.22", "restricted", "v1.22", pod(runAsUser=0), {}, True),
    ("runAsUser 0 v1.23", "restricted", "v1.23", pod(runAsUser=0), {}, False),
    ("runAsUser 0 userns v1.35", "restricted", "v1.35",
     {**pod(runAsUser=0), "hostUsers": False}, {}, True),
    ("runAsNonRoot false container", "restricted", "latest", ctr(runAsNonRoot=False), {}, False),
    ("runAsNonRoot unset userns v1.34", "restricted", "v1.34",
     {**pod(runAsNonRoot=None), "hostUsers": False}, {}, False),
    ("runAsNonRoot unset userns v1.35", "restricted", "v1.35",
     {**pod(runAsNonRoot=None), "hostUsers": False}, {}, True),
    ("nfs volume", "restricted", "latest", volume(nfs={"server": "s", "path": "/"}), {}, False),
    ("nfs volume baseline", "baseline", "latest", volume(nfs={"server": "s", "path": "/"}), {},
     True),
    ("image volume", "restricted", "latest", volume(image={"reference": "r"}), {}, True),
    ("csi volume", "restricted", "latest", volume(csi={"driver": "d"}), {}, True),
    ("privileged level", "privileged", "latest", ctr(privileged=True), {}, True),
]


def _clean(spec: Obj) -> Obj:
    """Drop keys set to None (a row's way of removing a field)."""
    spec = copy.deepcopy(spec)
    context = spec.get("securityContext") or {}
    spec["securityContext"] = {k: v for k, v in context.items() if v is not None}
    return spec


@pytest.mark.parametrize(("case", "level", "version", "spec", "annotations", "allowed"), CASES,
                         ids=[c[0] for c in CASES])
def test_standard(case: str, level: str, version: str, spec: Obj,
                  annotations: dict[str, str], allowed: bool) -> None:
    decision = decide(LevelVersion(level, parse_version(version)),  # type: ignore[arg-type]
                      {"annotations": annotations}, _clean(spec))
    assert decision.allowed is allowed, decision.detail()


def test_messages_read_like_the_api_server() -> None:
    spec = {"containers": [{"name": "a"}, {"name": "b", "securityContext": {
        "privileged": True, "capabilities": {"add": ["SYS_ADMIN", "NET_ADMIN"]}}}],
        "hostNetwork": True, "volumes": [{"name": "x", "hostPath": {"path": "/"}}]}
    decision = decide(LevelVersion("baseline"), {}, spec)
    assert decision.detail() == (
        'non-default capabilities (container "b" must not include "NET_ADMIN", "SYS_ADMIN" in '
        "securityContext.capabilities.add), host namespaces (hostNetwork=true), hostPath "
        'volumes (volume "x"), privileged (container "b" must not set '
        "securityContext.privileged=true)")
    restricted = decide(LevelVersion("restricted"), {}, {"containers": [{"name": "a"},
                                                                          {"name": "b"}]})
    assert restricted.reason() == ("allowPrivilegeEscalation != false, unrestricted "
                                   "capabilities, runAsNonRoot != true, seccompProfile")
    assert 'containers "a", "b" must set securityContext.allowPrivilegeEscalation=false' \
        in restricted.detail()


def test_restricted_replaces_the_baseline_checks_it_tightens() -> None:
    latest = [i for i, _ in checks_for("restricted", 37)]
    assert "capabilities_baseline" not in latest and "capabilities_restricted" in latest
    assert "hostPathVolumes" not in latest and "restrictedVolumes" in latest
    assert "procMount" not in latest and "procMount_restricted" in latest
    old = [i for i, _ in checks_for("restricted", 21)]
    assert "capabilities_baseline" in old and "capabilities_restricted" not in old


def test_versions() -> None:
    assert str(parse_version("v1.30")) == "v1.30" and parse_version("latest").latest
    assert Version(99).effective() == 37 and Version(None).effective(cap=36) == 36
    with pytest.raises(VersionError, match=r'must be "latest" or "v1\.x"'):
        parse_version("1.30")
    with pytest.raises(VersionError, match=r"the versions are v1\.0 to v1\.37 and latest"):
        parse_known_version("v1.38")


def test_namespace_labels_fail_closed() -> None:
    assert str(enforced({})[0]) == "privileged:latest"
    assert str(enforced({"pod-security.kubernetes.io/enforce": "baseline",
                         "pod-security.kubernetes.io/enforce-version": "v1.30"})[0]) == \
        "baseline:v1.30"
    policy, problem = enforced({"pod-security.kubernetes.io/enforce": "strict"})
    assert str(policy) == "restricted:latest" and "must be one of" in problem
    policy, problem = enforced({"pod-security.kubernetes.io/enforce": "baseline",
                                "pod-security.kubernetes.io/enforce-version": "1.30"})
    assert str(policy) == "baseline:latest" and "v1.x" in problem


def test_predict_pods_and_templates() -> None:
    bad = {"containers": [{"name": "a", "securityContext": {"privileged": True}}]}
    pod_obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n"},
               "spec": bad}
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "d", "namespace": "n"},
              "spec": {"template": {"spec": bad}}}
    labels = {"n": {"pod-security.kubernetes.io/enforce": "baseline"}}
    refusals = predict([pod_obj, deploy], labels)
    assert [r.message for r in refusals] == [
        'pods "p" is forbidden: violates PodSecurity "baseline:latest": privileged '
        '(container "a" must not set securityContext.privileged=true)',
        'would violate PodSecurity "baseline:latest": privileged (container "a" must not set '
        "securityContext.privileged=true)"]
    assert predict([pod_obj], {}) == []  # an unlabelled namespace is privileged
    # A Namespace in the same set is applied first: its labels count.
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": "n", "labels": labels["n"]}}
    assert len(predict([namespace, pod_obj], {})) == 1


def test_gate_judges_latest_by_the_servers_version() -> None:
    """On a v1.36 server `latest` is v1.36: a sysctl v1.37 allows is refused there."""
    from quarterdeck.policy.presync import presync

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"},
           "spec": {"containers": [{"name": "c", "image": "i"}], "securityContext": {
               "sysctls": [{"name": "net.ipv4.tcp_slow_start_after_idle", "value": "0"}]}}}
    labels = {"a": {"pod-security.kubernetes.io/enforce": "baseline"}}
    assert not presync([], [pod], namespaces=labels).blocked
    assert not presync([], [pod], namespaces=labels, server_minor=37).blocked
    gate = presync([], [pod], namespaces=labels, server_minor=36)
    assert gate.denied[0].message == ('pods "p" is forbidden: violates PodSecurity '
                                      '"baseline:latest": forbidden sysctls '
                                      '(net.ipv4.tcp_slow_start_after_idle)')
