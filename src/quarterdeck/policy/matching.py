"""Which objects a policy looks at: resource rules and label selectors.

Mirrors the API server's matchConstraints / binding matchResources on rendered
manifests, where the only request is the object itself (operation CREATE by
default, UPDATE when a pre-sync patches a live object).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quarterdeck.api.policy import LabelSelector, MatchResources, ResourceRule

# Kinds whose plural is not just lower-case + "s"; unknown kinds fall back to that rule.
_PLURALS = {
    "Endpoints": "endpoints",
    "Ingress": "ingresses",
    "NetworkPolicy": "networkpolicies",
    "PodSecurityPolicy": "podsecuritypolicies",
    "StorageClass": "storageclasses",
    "PriorityClass": "priorityclasses",
    "IngressClass": "ingressclasses",
    "RuntimeClass": "runtimeclasses",
    "ResourceQuota": "resourcequotas",
    "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
}
_CLUSTER_SCOPED = {
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding",
    "CustomResourceDefinition", "StorageClass", "PriorityClass", "IngressClass",
    "RuntimeClass", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "Guardrail", "ClusterQueue", "ResourceFlavor", "APIService",
}


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """How a report names an object: apiVersion, kind, namespace/name."""

    api_version: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{where}{self.name}"


def object_ref(obj: Mapping[str, Any]) -> ObjectRef:
    meta = obj.get("metadata") or {}
    return ObjectRef(
        str(obj.get("apiVersion", "")), str(obj.get("kind", "")),
        str(meta.get("namespace", "")), str(meta.get("name", meta.get("generateName", ""))),
    )


def resource_of(kind: str) -> str:
    """The plural resource name of a kind (Deployment -> deployments)."""
    if kind in _PLURALS:
        return _PLURALS[kind]
    lower = kind.lower()
    if lower.endswith("y") and not lower.endswith(("ay", "ey", "oy", "uy")):
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    return lower + "s"


def group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def is_cluster_scoped(obj: Mapping[str, Any]) -> bool:
    return str(obj.get("kind", "")) in _CLUSTER_SCOPED


def _wild(values: list[str], value: str) -> bool:
    return "*" in values or value in values


@dataclass(frozen=True, slots=True)
class Target:
    """What matching needs from an object, computed once per object, not per policy."""

    group: str
    version: str
    resource: str
    name: str
    scope: str
    kind: str
    labels: Mapping[str, str]


def target_of(obj: Mapping[str, Any]) -> Target:
    group, version = group_version(str(obj.get("apiVersion", "")))
    meta = obj.get("metadata") or {}
    kind = str(obj.get("kind", ""))
    return Target(
        group, version, resource_of(kind), str(meta.get("name", "")),
        "Cluster" if is_cluster_scoped(obj) else "Namespaced", kind, meta.get("labels") or {},
    )


def rule_matches(rule: ResourceRule, target: Target, operation: str) -> bool:
    return (
        _wild(rule.api_groups, target.group)
        and _wild(rule.api_versions, target.version)
        and ("*" in rule.resources or target.resource in rule.resources
             or f"{target.resource}/*" in rule.resources)
        and _wild(rule.operations, operation)
        and (not rule.resource_names or target.name in rule.resource_names)
        and rule.scope in ("*", target.scope)
    )


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics; an absent or empty selector matches all."""
    if selector is None:
        return True
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return False
    for req in selector.match_expressions:
        present = req.key in labels
        if req.operator == "In" and not (present and labels[req.key] in req.values):
            return False
        if req.operator == "NotIn" and present and labels[req.key] in req.values:
            return False
        if req.operator == "Exists" and not present:
            return False
        if req.operator == "DoesNotExist" and present:
            return False
    return True


def resources_match(
    match: MatchResources,
    target: Target,
    namespace_labels: Mapping[str, str] | None,
    operation: str,
) -> bool:
    """True when the object is in scope of `match` (rules, exclusions, both selectors).

    `namespace_labels` are the labels of the object's namespace (None when unknown,
    which an empty namespace selector still matches).
    """
    return rules_match(match, target, operation) and selectors_match(
        match, target, namespace_labels
    )


def rules_match(
    match: MatchResources, target: Target, operation: str, *, binding: bool = False
) -> bool:
    """The resource-rule half of matching (depends on the object's type, not its labels).

    As in the API server, a policy's matchConstraints without resource rules match
    nothing, while a binding's matchResources without them narrow nothing.
    """
    if (match.resource_rules or not binding) and not any(
        rule_matches(r, target, operation) for r in match.resource_rules
    ):
        return False
    return not any(rule_matches(r, target, operation) for r in match.exclude_resource_rules)


def selectors_match(
    match: MatchResources, target: Target, namespace_labels: Mapping[str, str] | None
) -> bool:
    """The label-selector half of matching."""
    if not selector_matches(match.object_selector, target.labels):
        return False
    if target.kind == "Namespace":
        return selector_matches(match.namespace_selector, target.labels)
    if target.scope == "Cluster":
        return True
    return selector_matches(match.namespace_selector, namespace_labels or {})
