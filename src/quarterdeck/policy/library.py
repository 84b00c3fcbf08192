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
SIDECAR_IMAGES = (
    "(^|/)(istio/proxyv2|envoyproxy/envoy|linkerd/proxy|fluent/fluent-bit|"
    "cloudsql-docker/gce-proxy|cloud-sql-connectors/cloud-sql-proxy|"
    "oauth2-proxy/oauth2-proxy|hashicorp/vault)([:@]|$)"
)
LATENCY_CRITICAL = "quarterdeck.dev/latency-critical"
QUEUE_LABELS = ["queueing.quarterdeck.dev/queue-name", "kueue.x-k8s.io/queue-name"]


def _cel_list(items: list[str]) -> str:
    return "[" + ", ".join(f"'{i}'" for i in items) + "]"


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


def _pod_security(level: str, version: str = "latest") -> dict[str, Any]:
    """A Pod Security Standards level as a Guardrail, decided by policy.pss (Python)."""
    name = f"pss-{level}" + ("" if version == "latest" else f"-{version}")
    what = {"baseline": "known privilege escalations are prevented (hostPath, host "
                        "namespaces, privileged, capabilities, AppArmor, SELinux, sysctls, ...)",
            "restricted": "baseline plus hardening: non-root, no privilege escalation, "
                          "drop ALL, seccomp, restricted volume types"}[level]
    return {
        "apiVersion": API_VERSION, "kind": KIND,
        "metadata": {
            "name": name, "labels": {CATEGORY_LABEL: "pod-security"},
            "annotations": {
                DESCRIPTION_ANNOTATION: f"Pod Security Standards {level}:{version}: {what}; "
                                        "decided as the API server's Pod Security admission.",
                SCOPE_ANNOTATION: "everywhere"},
        },
        "spec": {"failurePolicy": "Fail", "validationActions": ["Deny"],
                 "podSecurity": {"level": level, "version": version}},
    }


def _documents() -> list[dict[str, Any]]:
    spec = "variables.podSpec"
    return [
        _pod_security("baseline"),
        _pod_security("restricted"),
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
        _doc("apparmor-profile-field", "pod-features",
             "AppArmor is set with securityContext.appArmorProfile (GA since Kubernetes "
             "1.30), not the deprecated container.apparmor.security.beta annotations.",
             "variables.annotations.all(k, "
             "!k.startsWith('container.apparmor.security.beta.kubernetes.io/'))",
             "use securityContext.appArmorProfile instead of the deprecated "
             "container.apparmor.security.beta.kubernetes.io annotations",
             variables=[*_POD_VARIABLES, {"name": "annotations", "expression": (
                 "object.kind == 'Pod' ? (has(object.metadata.annotations) ? "
                 "object.metadata.annotations : {}) : object.kind == 'CronJob' ? "
                 "(has(object.spec.jobTemplate.spec.template.metadata) && "
                 "has(object.spec.jobTemplate.spec.template.metadata.annotations) ? "
                 "object.spec.jobTemplate.spec.template.metadata.annotations : {}) : "
                 "(has(object.spec.template.metadata) && "
                 "has(object.spec.template.metadata.annotations) ? "
                 "object.spec.template.metadata.annotations : {})")}]),
        _doc("latency-critical-no-swap", "pod-features",
             "Under the nodes' LimitedSwap behaviour only Burstable pods swap; a workload "
             f"labelled {LATENCY_CRITICAL}=true must set memory requests equal to limits "
             "in every container, so it never swaps.",
             f"!(has(object.metadata.labels) && object.metadata.labels.exists(k, "
             f"k == '{LATENCY_CRITICAL}' && object.metadata.labels[k] == 'true')) || "
             f"variables.containers.all(c, has(c.resources) && has(c.resources.limits) && "
             "has(c.resources.requests) && 'memory' in c.resources.limits && "
             "'memory' in c.resources.requests && "
             "quantity(c.resources.requests['memory']) == quantity(c.resources.limits['memory']))",
             "latency-critical workloads must set memory requests equal to limits "
             "(LimitedSwap swaps only Burstable memory)"),
        _doc("service-traffic-distribution", "pod-features",
             "Services' trafficDistribution names PreferSameZone or PreferSameNode; "
             "PreferClose is the older name of PreferSameZone (Kubernetes 1.34).",
             "!has(object.spec.trafficDistribution) || "
             "object.spec.trafficDistribution in ['PreferSameZone', 'PreferSameNode']",
             "spec.trafficDistribution: use PreferSameZone (PreferClose is its old name) "
             "or PreferSameNode",
             rules=[{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["services"]}],
             variables=[]),
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
    """Built-ins by policy name or category, `all` is everything; `pss-LEVEL@VERSION`
    is a Pod Security level at a pinned policy version (`pss-restricted@v1.30`).
    Unknown names raise KeyError naming them; an unknown version names the versions."""
    lib = builtins()
    wanted: dict[str, Guardrail] = {}
    for name in names:
        if name.startswith("pss-") and "@" in name:
            pinned = pinned_pod_security(name)
            wanted[pinned.name] = pinned
            continue
        hits = [g for g in lib.values() if name == "all" or category(g) == name or g.name == name]
        if not hits:
            raise KeyError(f"unknown built-in policy or category {name!r}; see `qd policy list`")
        wanted.update((g.name, g) for g in hits)
    return list(wanted.values())


def pinned_pod_security(name: str) -> Guardrail:
    """`pss-baseline@v1.30` -> that level at that policy version; KeyError if unknown."""
    from quarterdeck.policy.pss.versions import VersionError, parse_known_version

    level, _, version = name.removeprefix("pss-").partition("@")
    if level not in ("baseline", "restricted"):
        raise KeyError(f"unknown Pod Security level {level!r} in {name!r}: "
                       "the levels are baseline and restricted")
    try:
        parse_known_version(version)
    except VersionError as err:
        raise KeyError(str(err)) from None
    return guardrail_from_dict(_pod_security(level, version))
