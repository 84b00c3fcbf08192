"""The built-in Guardrails (`qd policy list`), enabled by name or by category.

Every built-in uses only CEL that a stock API server has (standard macros, strings
extension, has(), `matches`), so the exported ValidatingAdmissionPolicy gives the
same answer in the cluster as `evaluate` gives here. Pod-spec checks see Pods and the
pod templates inside Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs and
CronJobs through the `podSpec` / `containers` variables.
"""

from __future__ import annotations

from typing import Any

from quarterdeck.api.policy import API_VERSION, KIND, Guardrail, guardrail_from_dict

CATEGORY_LABEL = "policy.quarterdeck.dev/category"
SCOPE_ANNOTATION = "policy.quarterdeck.dev/scope"
DESCRIPTION_ANNOTATION = "policy.quarterdeck.dev/description"

_WORKLOADS = [
    {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]},
    {"apiGroups": ["apps"], "apiVersions": ["v1"],
     "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"]},
    {"apiGroups": ["batch"], "apiVersions": ["v1"], "resources": ["jobs", "cronjobs"]},
]
_POD_VARIABLES = [
    {"name": "podSpec", "expression": (
        "object.kind == 'Pod' ? object.spec : object.kind == 'CronJob' ? "
        "object.spec.jobTemplate.spec.template.spec : object.spec.template.spec")},
    {"name": "containers", "expression": (
        "variables.podSpec.containers"
        " + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : [])"
        " + (has(variables.podSpec.ephemeralContainers)"
        " ? variables.podSpec.ephemeralContainers : [])")},
]
_BASELINE_CAPS = [
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
]
_SAFE_SYSCTLS = [
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
]
_RESTRICTED_VOLUMES = [
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
]
SIDECAR_IMAGES = (
    "(^|/)(istio/proxyv2|envoyproxy/envoy|linkerd/proxy|fluent/fluent-bit|"
    "cloudsql-docker/gce-proxy|cloud-sql-connectors/cloud-sql-proxy|"
    "oauth2-proxy/oauth2-proxy|hashicorp/vault)([:@]|$)"
)
QUEUE_LABELS = ["queueing.quarterdeck.dev/queue-name", "kueue.x-k8s.io/queue-name"]


def _cel_list(items: list[str]) -> str:
    return "[" + ", ".join(f"'{i}'" for i in items) + "]"


def _sc(field: str) -> str:
    """CEL: container `c` sets securityContext.<field>."""
    return f"has(c.securityContext) && has(c.securityContext.{field})"


def _pod_sc(field: str) -> str:
    return (f"has(variables.podSpec.securityContext) && "
            f"has(variables.podSpec.securityContext.{field})")


def _doc(name: str, category: str, description: str, expression: str, message: str, *,
         rules: list[dict[str, Any]] | None = None, variables: list[dict[str, str]] | None = None,
         message_expression: str = "", scope: str = "everywhere") -> dict[str, Any]:
    validation = {"expression": expression, "message": message}
    if message_expression:
        validation["messageExpression"] = message_expression
    return {
        "apiVersion": API_VERSION, "kind": KIND,
        "metadata": {
            "name": name, "labels": {CATEGORY_LABEL: category},
            "annotations": {DESCRIPTION_ANNOTATION: description, SCOPE_ANNOTATION: scope},
        },
        "spec": {
            "failurePolicy": "Fail",
            "validationActions": ["Deny"],
            "matchConstraints": {"resourceRules": [
                {**r, "operations": ["CREATE", "UPDATE"]} for r in (rules or _WORKLOADS)]},
            "variables": _POD_VARIABLES if variables is None else variables,
            "validations": [validation],
        },
    }


def _documents() -> list[dict[str, Any]]:
    spec = "variables.podSpec"
    return [
        _doc("pss-baseline-host-namespaces", "pss-baseline",
             "Pods must not share the host's network, PID or IPC namespace.",
             " && ".join(f"!(has({spec}.{f}) && {spec}.{f} == true)"
                         for f in ("hostNetwork", "hostPID", "hostIPC")),
             "hostNetwork, hostPID and hostIPC must be unset or false"),
        _doc("pss-baseline-privileged", "pss-baseline",
             "Privileged containers disable most security mechanisms.",
             f"variables.containers.all(c, !({_sc('privileged')}) || "
             "c.securityContext.privileged == false)",
             "containers must not set securityContext.privileged to true"),
        _doc("pss-baseline-capabilities", "pss-baseline",
             "Only the default capabilities may be added.",
             f"variables.containers.all(c, !({_sc('capabilities')}) || "
             "!has(c.securityContext.capabilities.add) || "
             f"c.securityContext.capabilities.add.all(cap, cap in {_cel_list(_BASELINE_CAPS)}))",
             "containers may add only the baseline capabilities"),
        _doc("pss-baseline-host-path", "pss-baseline",
             "hostPath volumes give access to the node's filesystem.",
             f"!has({spec}.volumes) || {spec}.volumes.all(v, !has(v.hostPath))",
             "hostPath volumes are not allowed"),
        _doc("pss-baseline-host-ports", "pss-baseline",
             "Host ports bypass network policy and pin pods to nodes.",
             "variables.containers.all(c, !has(c.ports) || "
             "c.ports.all(p, !has(p.hostPort) || p.hostPort == 0))",
             "containers must not use hostPort"),
        _doc("pss-baseline-seccomp", "pss-baseline",
             "The Unconfined seccomp profile must not be set.",
             f"!({_pod_sc('seccompProfile')} && "
             f"{spec}.securityContext.seccompProfile.type == 'Unconfined') && "
             f"variables.containers.all(c, !({_sc('seccompProfile')}) || "
             "c.securityContext.seccompProfile.type != 'Unconfined')",
             "seccompProfile.type must not be Unconfined"),
        _doc("pss-baseline-sysctls", "pss-baseline",
             "Only namespaced, safe sysctls may be set.",
             f"!({_pod_sc('sysctls')}) || {spec}.securityContext.sysctls.all(s, "
             f"s.name in {_cel_list(_SAFE_SYSCTLS)})",
             "only safe sysctls are allowed"),
        _doc("pss-baseline-proc-mount", "pss-baseline",
             "The default /proc mask must be kept.",
             f"variables.containers.all(c, !({_sc('procMount')}) || "
             "c.securityContext.procMount == 'Default')",
             "securityContext.procMount must be unset or Default"),
        _doc("pss-restricted-volume-types", "pss-restricted",
             "Only volume types that do not reach the node are allowed.",
             f"!has({spec}.volumes) || {spec}.volumes.all(v, "
             + " || ".join(f"has(v.{t})" for t in _RESTRICTED_VOLUMES) + ")",
             "volumes must be one of: " + ", ".join(_RESTRICTED_VOLUMES)),
        _doc("pss-restricted-privilege-escalation", "pss-restricted",
             "Containers must not gain more privileges than their parent process.",
             f"variables.containers.all(c, {_sc('allowPrivilegeEscalation')} && "
             "c.securityContext.allowPrivilegeEscalation == false)",
             "containers must set securityContext.allowPrivilegeEscalation to false"),
        _doc("pss-restricted-run-as-non-root", "pss-restricted",
             "Containers must run as a non-root user.",
             f"variables.containers.all(c, ({_sc('runAsNonRoot')}) ? "
             "c.securityContext.runAsNonRoot == true : "
             f"({_pod_sc('runAsNonRoot')} && {spec}.securityContext.runAsNonRoot == true))",
             "runAsNonRoot must be true for the pod or every container"),
        _doc("pss-restricted-run-as-user", "pss-restricted",
             "Containers must not run as UID 0.",
             f"!({_pod_sc('runAsUser')} && {spec}.securityContext.runAsUser == 0) && "
             f"variables.containers.all(c, !({_sc('runAsUser')}) || "
             "c.securityContext.runAsUser != 0)",
             "runAsUser must not be 0"),
        _doc("pss-restricted-seccomp", "pss-restricted",
             "A RuntimeDefault or Localhost seccomp profile must be set.",
             f"variables.containers.all(c, ({_sc('seccompProfile')}) ? "
             "c.securityContext.seccompProfile.type in ['RuntimeDefault', 'Localhost'] : "
             f"({_pod_sc('seccompProfile')} && {spec}.securityContext.seccompProfile.type "
             "in ['RuntimeDefault', 'Localhost']))",
             "seccompProfile.type must be RuntimeDefault or Localhost"),
        _doc("pss-restricted-capabilities", "pss-restricted",
             "Containers must drop ALL capabilities and add at most NET_BIND_SERVICE.",
             f"variables.containers.all(c, {_sc('capabilities')} && "
             "has(c.securityContext.capabilities.drop) && "
             "'ALL' in c.securityContext.capabilities.drop && "
             "(!has(c.securityContext.capabilities.add) || "
             "c.securityContext.capabilities.add.all(cap, cap == 'NET_BIND_SERVICE')))",
             "containers must drop ALL capabilities and may add only NET_BIND_SERVICE"),
        _doc("disallow-latest-tag", "best-practice",
             "Images must be pinned to a tag other than latest, or to a digest.",
             "variables.containers.all(c, c.image.contains('@') || "
             "(c.image.substring(c.image.lastIndexOf('/') + 1).contains(':') && "
             "!c.image.endsWith(':latest')))",
             "images must name a tag other than :latest, or a digest",
             message_expression=(
                 "'images must be pinned (not :latest or untagged): ' + "
                 "variables.containers.filter(c, !(c.image.contains('@') || "
                 "(c.image.substring(c.image.lastIndexOf('/') + 1).contains(':') && "
                 "!c.image.endsWith(':latest')))).map(c, c.image).join(', ')")),
        _doc("require-requests-limits", "best-practice",
             "Every container states CPU and memory requests and limits.",
             f"{spec}.containers.all(c, has(c.resources) && has(c.resources.requests) && "
             "has(c.resources.limits) && ['cpu', 'memory'].all(r, "
             "r in c.resources.requests && r in c.resources.limits))",
             "every container needs cpu and memory requests and limits",
             message_expression=(
                 "'containers without cpu/memory requests and limits: ' + "
                 f"{spec}.containers.filter(c, !(has(c.resources) && "
                 "has(c.resources.requests) && has(c.resources.limits) && "
                 "['cpu', 'memory'].all(r, r in c.resources.requests && "
                 "r in c.resources.limits))).map(c, c.name).join(', ')")),
        _doc("require-team-label", "best-practice",
             "Every workload names its owning team (label `team`) for showback.",
             "has(object.metadata.labels) && 'team' in object.metadata.labels && "
             "object.metadata.labels['team'] != ''",
             "metadata.labels.team is required", variables=[]),
        _doc("gpu-requires-queue", "best-practice",
             "A workload asking for GPUs must go through a queue.",
             "!variables.containers.exists(c, has(c.resources) && "
             "((has(c.resources.limits) && c.resources.limits.exists(k, k.endsWith('/gpu'))) || "
             "(has(c.resources.requests) && c.resources.requests.exists(k, k.endsWith('/gpu')))))"
             f" || {_cel_list(QUEUE_LABELS)}.exists(q, "
             "(has(object.metadata.labels) && q in object.metadata.labels) || "
             "q in variables.templateLabels)",
             "GPU workloads must carry the label queueing.quarterdeck.dev/queue-name "
             "or kueue.x-k8s.io/queue-name",
             variables=[*_POD_VARIABLES, {"name": "templateLabels", "expression": (
                 "object.kind == 'Pod' ? {} : object.kind == 'CronJob' ? "
                 "(has(object.spec.jobTemplate.spec.template.metadata) && "
                 "has(object.spec.jobTemplate.spec.template.metadata.labels) ? "
                 "object.spec.jobTemplate.spec.template.metadata.labels : {}) : "
                 "(has(object.spec.template.metadata) && "
                 "has(object.spec.template.metadata.labels) ? "
                 "object.spec.template.metadata.labels : {})")}]),
        _doc("native-sidecars", "best-practice",
             "Known sidecars (mesh proxies, log shippers, auth proxies) must be native "
             "sidecars: initContainers with restartPolicy Always, so Jobs can complete.",
             f"{spec}.containers.size() == 1 || "
             f"{spec}.containers.all(c, !c.image.matches('{SIDECAR_IMAGES}'))",
             "known sidecar images must run as initContainers with restartPolicy: Always"),
        _doc("no-plaintext-secrets", "best-practice",
             "Secrets must not be committed in plain text (base64 is not encryption); "
             "use SOPS or sealed secrets. Checked before sync, not in the cluster.",
             "has(object.sops) || ((!has(object.data) || object.data.size() == 0) && "
             "(!has(object.stringData) || object.stringData.size() == 0))",
             "Secret carries plain-text data; encrypt it (SOPS) or use a SealedSecret",
             rules=[{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["secrets"]}],
             variables=[], scope="shift-left"),
    ]


_LIBRARY: dict[str, Guardrail] | None = None


def builtins() -> dict[str, Guardrail]:
    """All built-in Guardrails by name (decoded once)."""
    global _LIBRARY
    if _LIBRARY is None:
        _LIBRARY = {d["metadata"]["name"]: guardrail_from_dict(d) for d in _documents()}
    return _LIBRARY


def category(guardrail: Guardrail) -> str:
    return guardrail.metadata.labels.get(CATEGORY_LABEL, "custom")


def select(names: list[str]) -> list[Guardrail]:
    """Built-ins by policy name or category; `pss-restricted` includes `pss-baseline`,
    `all` is everything. Unknown names raise KeyError naming them."""
    lib = builtins()
    wanted: dict[str, Guardrail] = {}
    for name in names:
        cats = {"pss-restricted": ("pss-baseline", "pss-restricted")}.get(name, (name,))
        hits = [g for g in lib.values() if name == "all" or category(g) in cats or g.name == name]
        if not hits:
            raise KeyError(f"unknown built-in policy or category {name!r}; see `qd policy list`")
        wanted.update((g.name, g) for g in hits)
    return list(wanted.values())
