"""Every Pod Security Standards check, one function per rule and version.

Written from the Pod Security Standards and Kubernetes' pod-security-admission
behaviour: each function judges a pod's metadata and spec (plain dicts, as in a
manifest) and returns None when allowed or (reason, detail) when forbidden, with
the wording Kubernetes uses, so our messages read like the API server's. Containers
are visited in Kubernetes' order: initContainers, containers, ephemeralContainers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Obj = dict[str, Any]
Finding = tuple[str, str] | None
CheckFn = Callable[[Obj, Obj], Finding]


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def containers(spec: Obj) -> Iterator[Obj]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from (c for c in _list(spec.get(field)) if isinstance(c, dict))


def _name(container: Obj) -> str:
    return str(container.get("name", ""))


def _quote(items: list[str]) -> str:
    return ", ".join(f'"{i}"' for i in items)


def _plural(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def _go_quote(text: str) -> str:
    """Go's %q for the plain strings found in annotations."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _named(what: str, names: list[str]) -> str:
    return f"{_plural(what, what + 's', len(names))} {_quote(names)}"


def _windows(spec: Obj) -> bool:
    return bool(_get(spec, "os", "name") == "windows")


def _user_namespace(spec: Obj) -> bool:
    return spec.get("hostUsers") is False


# --- baseline ------------------------------------------------------------------------

def app_armor(meta: Obj, spec: Obj) -> Finding:
    allowed = ("RuntimeDefault", "Localhost")
    setters: list[str] = []
    values: set[str] = set()
    pod_profile = _get(spec, "securityContext", "appArmorProfile")
    if isinstance(pod_profile, dict) and pod_profile.get("type") not in allowed:
        setters.append("pod")
        values.add(str(pod_profile.get("type") or ""))
    bad = []
    for c in containers(spec):
        profile = _get(c, "securityContext", "appArmorProfile")
        if isinstance(profile, dict) and profile.get("type") not in allowed:
            bad.append(_name(c))
            values.add(str(profile.get("type") or ""))
    if bad:
        setters.append(_named("container", bad))
    listed = sorted(values)
    annotations = sorted(
        f"{k}={_go_quote(str(v))}" for k, v in (meta.get("annotations") or {}).items()
        if k.startswith("container.apparmor.security.beta.kubernetes.io/")
        and not (not v or v == "runtime/default" or str(v).startswith("localhost/")))
    if annotations:
        listed += annotations
        setters.append(_plural("annotation", "annotations", len(annotations)))
    if not setters:
        return None
    return (_plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(listed)),
            f"{' and '.join(setters)} must not set AppArmor profile type to {_quote(listed)}")


BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})


def capabilities_baseline(meta: Obj, spec: Obj) -> Finding:
    bad, extra = [], set()
    for c in containers(spec):
        caps = _get(c, "securityContext", "capabilities")
        added = [str(a) for a in _list(_get(caps, "add")) if str(a) not in BASELINE_CAPABILITIES]
        if added:
            bad.append(_name(c))
            extra.update(added)
    if not bad:
        return None
    return ("non-default capabilities", f"{_named('container', bad)} must not include "
            f"{_quote(sorted(extra))} in securityContext.capabilities.add")


def host_namespaces(meta: Obj, spec: Obj) -> Finding:
    shared = [f"{f}=true" for f in ("hostNetwork", "hostPID", "hostIPC") if spec.get(f) is True]
    return ("host namespaces", ", ".join(shared)) if shared else None


def host_path_volumes(meta: Obj, spec: Obj) -> Finding:
    bad = [str(v.get("name", "")) for v in _list(spec.get("volumes"))
           if isinstance(v, dict) and v.get("hostPath") is not None]
    return ("hostPath volumes", _named("volume", bad)) if bad else None


def host_ports(meta: Obj, spec: Obj) -> Finding:
    bad: list[str] = []
    ports: set[str] = set()
    for c in containers(spec):
        used = [p.get("hostPort") for p in _list(c.get("ports"))
                if isinstance(p, dict) and p.get("hostPort") not in (None, 0)]
        if used:
            bad.append(_name(c))
            ports.update(str(p) for p in used)
    if not bad:
        return None
    return ("hostPort", f"{_named('container', bad)} {_plural('uses', 'use', len(bad))} "
            f"{_plural('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}")


def _handler_hosts(handler: Any) -> list[str]:
    return [str(h) for kind in ("httpGet", "tcpSocket")
            if (h := _get(handler, kind, "host"))]


def host_probes_and_lifecycle(meta: Obj, spec: Obj) -> Finding:
    bad, hosts = set(), set()
    for c in containers(spec):
        handlers = [c.get(p) for p in ("livenessProbe", "readinessProbe", "startupProbe")]
        handlers += [_get(c, "lifecycle", h) for h in ("postStart", "preStop")]
        for handler in handlers:
            if found := _handler_hosts(handler):
                bad.add(_name(c))
                hosts.update(found)
    if not bad:
        return None
    return ("probe or lifecycle host",
            f"{_named('container', sorted(bad))} {_plural('uses', 'use', len(bad))} "
            f"{_plural('probe or lifecycle host', 'probe or lifecycle hosts', len(hosts))} "
            f"{_quote(sorted(hosts))}")


def privileged(meta: Obj, spec: Obj) -> Finding:
    bad = [_name(c) for c in containers(spec)
           if _get(c, "securityContext", "privileged") is True]
    if not bad:
        return None
    return ("privileged",
            f"{_named('container', bad)} must not set securityContext.privileged=true")


def proc_mount(meta: Obj, spec: Obj) -> Finding:
    bad, kinds = [], set()
    for c in containers(spec):
        mount = _get(c, "securityContext", "procMount")
        if mount is not None and mount != "Default":
            bad.append(_name(c))
            kinds.add(str(mount))
    if not bad:
        return None
    return ("procMount", f"{_named('container', bad)} must not set securityContext.procMount "
            f"to {_quote(sorted(kinds))}")


def proc_mount_user_namespaces(meta: Obj, spec: Obj) -> Finding:
    """v1.35+ baseline: any procMount in a user namespace (hostUsers: false)."""
    return None if _user_namespace(spec) else proc_mount(meta, spec)


SELINUX_TYPES_1_0 = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
SELINUX_TYPES_1_31 = SELINUX_TYPES_1_0 | {"container_engine_t"}


def _selinux(allowed: frozenset[str]) -> CheckFn:
    def check(meta: Obj, spec: Obj) -> Finding:
        types: set[str] = set()
        state = {"user": False, "role": False}

        def valid(options: Any) -> bool:
            ok = True
            kind = str(_get(options, "type") or "")
            if kind not in allowed:
                ok = False
                types.add(kind)
            for key in ("user", "role"):
                if _get(options, key):
                    ok, state[key] = False, True
            return ok

        setters = []
        pod_options = _get(spec, "securityContext", "seLinuxOptions")
        if isinstance(pod_options, dict) and not valid(pod_options):
            setters.append("pod")
        bad = [_name(c) for c in containers(spec)
               if isinstance(o := _get(c, "securityContext", "seLinuxOptions"), dict)
               and not valid(o)]
        if bad:
            setters.append(_named("container", bad))
        if not setters:
            return None
        data = [f"{_plural('type', 'types', len(types))} {_quote(sorted(types))}"] if types else []
        data += [f"{key} may not be set" for key in ("user", "role") if state[key]]
        return ("seLinuxOptions", f"{' and '.join(setters)} set forbidden "
                f"securityContext.seLinuxOptions: {'; '.join(data)}")
    return check


def _seccomp_annotation_ok(value: str) -> bool:
    return value in ("runtime/default", "docker/default") or value.startswith("localhost/")


def seccomp_annotations(meta: Obj, spec: Obj) -> Finding:
    """v1.0-v1.18: the alpha annotations."""
    annotations = meta.get("annotations") or {}
    keys = ["seccomp.security.alpha.kubernetes.io/pod"] + [
        "container.seccomp.security.alpha.kubernetes.io/" + _name(c) for c in containers(spec)]
    bad = sorted({f"{k}={_go_quote(str(annotations[k]))}" for k in keys
                  if k in annotations and not _seccomp_annotation_ok(str(annotations[k]))})
    if not bad:
        return None
    return ("seccompProfile",
            f"forbidden {_plural('annotation', 'annotations', len(bad))} {', '.join(bad)}")


_SECCOMP_OK = ("RuntimeDefault", "Localhost")


def seccomp_baseline(meta: Obj, spec: Obj) -> Finding:
    """v1.19+: the seccompProfile fields, when set, are RuntimeDefault or Localhost."""
    setters, values = [], set()
    pod_profile = _get(spec, "securityContext", "seccompProfile")
    if isinstance(pod_profile, dict) and pod_profile.get("type") not in _SECCOMP_OK:
        setters.append("pod")
        values.add(str(pod_profile.get("type") or ""))
    bad = []
    for c in containers(spec):
        profile = _get(c, "securityContext", "seccompProfile")
        if isinstance(profile, dict) and profile.get("type") not in _SECCOMP_OK:
            bad.append(_name(c))
            values.add(str(profile.get("type") or ""))
    if bad:
        setters.append(_named("container", bad))
    if not setters:
        return None
    return ("seccompProfile", f"{' and '.join(setters)} must not set "
            f"securityContext.seccompProfile.type to {_quote(sorted(values))}")


SYSCTLS_1_0 = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"})
SYSCTLS_1_27 = SYSCTLS_1_0 | {"net.ipv4.ip_local_reserved_ports"}
SYSCTLS_1_29 = SYSCTLS_1_27 | {
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
SYSCTLS_1_32 = SYSCTLS_1_29 | {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
SYSCTLS_1_37 = SYSCTLS_1_32 | {"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"}


def _sysctls(allowed: frozenset[str]) -> CheckFn:
    def check(meta: Obj, spec: Obj) -> Finding:
        bad = [str(s.get("name", "")) for s in _list(_get(spec, "securityContext", "sysctls"))
               if isinstance(s, dict) and s.get("name") not in allowed]
        return ("forbidden sysctls", ", ".join(bad)) if bad else None
    return check


def windows_host_process(meta: Obj, spec: Obj) -> Finding:
    setters = ["pod"] if _get(spec, "securityContext", "windowsOptions", "hostProcess") is True \
        else []
    bad = [_name(c) for c in containers(spec)
           if _get(c, "securityContext", "windowsOptions", "hostProcess") is True]
    if bad:
        setters.append(_named("container", bad))
    if not setters:
        return None
    return ("hostProcess", f"{' and '.join(setters)} must not set "
            "securityContext.windowsOptions.hostProcess=true")


# --- restricted ----------------------------------------------------------------------

def _not_windows(check: CheckFn) -> CheckFn:
    """v1.25+: Windows pods (spec.os.name: windows) are exempt from this check."""
    def exempting(meta: Obj, spec: Obj) -> Finding:
        return None if _windows(spec) else check(meta, spec)
    return exempting


def _not_user_namespace(check: CheckFn) -> CheckFn:
    """v1.35+: pods in a user namespace (hostUsers: false) are exempt from this check."""
    def exempting(meta: Obj, spec: Obj) -> Finding:
        return None if _user_namespace(spec) else check(meta, spec)
    return exempting


def allow_privilege_escalation(meta: Obj, spec: Obj) -> Finding:
    bad = [_name(c) for c in containers(spec)
           if _get(c, "securityContext", "allowPrivilegeEscalation") is not False]
    if not bad:
        return None
    return ("allowPrivilegeEscalation != false",
            f"{_named('container', bad)} must set securityContext.allowPrivilegeEscalation=false")


def capabilities_restricted(meta: Obj, spec: Obj) -> Finding:
    no_drop, adding, extra = [], [], set()
    for c in containers(spec):
        caps = _get(c, "securityContext", "capabilities")
        if not isinstance(caps, dict):
            no_drop.append(_name(c))
            continue
        if "ALL" not in _list(caps.get("drop")):
            no_drop.append(_name(c))
        added = [str(a) for a in _list(caps.get("add")) if a != "NET_BIND_SERVICE"]
        if added:
            adding.append(_name(c))
            extra.update(added)
    details = []
    if no_drop:
        details.append(f'{_named("container", no_drop)} must set '
                       'securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(f"{_named('container', adding)} must not include "
                       f"{_quote(sorted(extra))} in securityContext.capabilities.add")
    return ("unrestricted capabilities", "; ".join(details)) if details else None


_ALLOWED_VOLUMES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
                    "persistentVolumeClaim", "projected", "secret")
_NAMED_VOLUMES = (
    "hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi",
    "glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile",
    "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "portworxVolume",
    "scaleIO", "storageos")


def restricted_volumes(meta: Obj, spec: Obj) -> Finding:
    bad, kinds = [], set()
    for volume in _list(spec.get("volumes")):
        if not isinstance(volume, dict):
            continue
        if any(volume.get(k) is not None for k in _ALLOWED_VOLUMES):
            continue
        bad.append(str(volume.get("name", "")))
        kinds.add(next((k for k in _NAMED_VOLUMES if volume.get(k) is not None), "unknown"))
    if not bad:
        return None
    return ("restricted volume types",
            f"{_named('volume', bad)} {_plural('uses', 'use', len(bad))} "
            f"{_plural('restricted volume type', 'restricted volume types', len(kinds))} "
            f"{_quote(sorted(kinds))}")


def run_as_non_root(meta: Obj, spec: Obj) -> Finding:
    setters = []
    pod_value = _get(spec, "securityContext", "runAsNonRoot")
    if pod_value is False:
        setters.append("pod")
    explicit, implicit = [], []
    for c in containers(spec):
        value = _get(c, "securityContext", "runAsNonRoot")
        if value is False:
            explicit.append(_name(c))
        elif value is None and pod_value is not True:
            implicit.append(_name(c))
    if explicit:
        setters.append(_named("container", explicit))
    if setters:
        return ("runAsNonRoot != true",
                f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false")
    if implicit:
        return ("runAsNonRoot != true",
                f"pod or {_named('container', implicit)} must set "
                "securityContext.runAsNonRoot=true")
    return None


def run_as_user(meta: Obj, spec: Obj) -> Finding:
    setters = ["pod"] if _get(spec, "securityContext", "runAsUser") == 0 else []
    bad = [_name(c) for c in containers(spec) if _get(c, "securityContext", "runAsUser") == 0]
    if bad:
        setters.append(_named("container", bad))
    if not setters:
        return None
    return ("runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0")


def seccomp_restricted(meta: Obj, spec: Obj) -> Finding:
    setters, values = [], set()
    pod_profile = _get(spec, "securityContext", "seccompProfile")
    pod_set = False
    if isinstance(pod_profile, dict):
        if pod_profile.get("type") in _SECCOMP_OK:
            pod_set = True
        else:
            setters.append("pod")
            values.add(str(pod_profile.get("type") or ""))
    explicit, implicit = [], []
    for c in containers(spec):
        profile = _get(c, "securityContext", "seccompProfile")
        if isinstance(profile, dict):
            if profile.get("type") not in _SECCOMP_OK:
                explicit.append(_name(c))
                values.add(str(profile.get("type") or ""))
        elif not pod_set:
            implicit.append(_name(c))
    if explicit:
        setters.append(_named("container", explicit))
    if setters:
        return ("seccompProfile", f"{' and '.join(setters)} must not set "
                f"securityContext.seccompProfile.type to {_quote(sorted(values))}")
    if implicit:
        return ("seccompProfile", f"pod or {_named('container', implicit)} must set "
                'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"')
    return None
