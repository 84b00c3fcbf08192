"""Kyverno ClusterPolicy / Policy -> Guardrails, and what could not be translated.

One Guardrail per validate rule, named `<policy>-<rule>`. What is read:
`validate.pattern`, `anyPattern`, `deny.conditions`, `validate.cel` (expressions,
variables, paramKind/paramRef), `validate.podSecurity` (level and version: our Pod
Security evaluator, which decides as the API server does), `preconditions`
(matchConditions), `match` / `exclude` on kinds, namespaces and selectors, and the
failure action (Enforce -> Deny, Audit -> Audit). A rule on Pods also covers pod
controllers, as Kyverno's autogen does (`pod-policies.kyverno.io/autogen-controllers:
none` turns that off). Everything else - mutate, generate, verifyImages, foreach,
context/API calls, JMESPath beyond the subset in `conditions` - is listed in
`Skipped`, never dropped silently; a rule with any untranslatable part is skipped whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from quarterdeck.api.policy import (
    API_VERSION,
    KIND,
    POD_SECURITY_RULES,
    Guardrail,
    PolicyLoadError,
    guardrail_from_dict,
)
from quarterdeck.policy.kyverno.conditions import conditions
from quarterdeck.policy.kyverno.pattern import Untranslatable, translate

KYVERNO_KINDS = ("ClusterPolicy", "Policy")
SOURCE_ANNOTATION = "policy.quarterdeck.dev/imported-from"
_AUTOGEN = "pod-policies.kyverno.io/autogen-controllers"
_POD_ROOT = [
    {"name": "pod", "expression": (
        "object.kind == 'Pod' ? object : object.kind == 'CronJob' ? "
        "object.spec.jobTemplate.spec.template : object.spec.template")},
]
_RESOURCES = {  # Kyverno kind -> (group, version, resource)
    "Pod": ("", "v1", "pods"), "Service": ("", "v1", "services"),
    "ConfigMap": ("", "v1", "configmaps"), "Secret": ("", "v1", "secrets"),
    "Namespace": ("", "v1", "namespaces"), "Deployment": ("apps", "v1", "deployments"),
    "StatefulSet": ("apps", "v1", "statefulsets"), "DaemonSet": ("apps", "v1", "daemonsets"),
    "ReplicaSet": ("apps", "v1", "replicasets"), "Job": ("batch", "v1", "jobs"),
    "CronJob": ("batch", "v1", "cronjobs"), "Ingress": ("networking.k8s.io", "v1", "ingresses"),
}
_HANDLED = {"name", "match", "exclude", "validate", "preconditions", "skipBackgroundRequests"}
_HANDLED_VALIDATE = {"message", "pattern", "anyPattern", "deny", "cel", "podSecurity",
                     "failureAction", "validationFailureAction", "allowExistingViolations"}


@dataclass(frozen=True)
class Skipped:
    """A rule (or a part of a policy) we could not translate, and why."""

    policy: str
    rule: str
    reason: str

    def __str__(self) -> str:
        return f"{self.policy}/{self.rule}: {self.reason}"


@dataclass
class Imported:
    guardrails: list[Guardrail] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    rules: dict[str, tuple[str, str]] = field(default_factory=dict)  # guardrail -> (policy, rule)


def is_kyverno(doc: dict[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).startswith("kyverno.io/") and \
        doc.get("kind") in KYVERNO_KINDS


def import_policies(docs: list[dict[str, Any]]) -> Imported:
    out = Imported()
    for doc in docs:
        if not is_kyverno(doc):
            continue
        meta = doc.get("metadata") or {}
        name = str(meta.get("name", "unnamed"))
        spec = doc.get("spec") or {}
        autogen = (meta.get("annotations") or {}).get(_AUTOGEN, "") != "none"
        for i, rule in enumerate(spec.get("rules") or []):
            rule_name = str(rule.get("name", f"rule-{i}"))
            if "validate" not in rule:
                kind = next((k for k in ("mutate", "generate", "verifyImages") if k in rule),
                            "no validate")
                out.skipped.append(Skipped(name, rule_name, f"{kind} rules are not guardrails"))
                continue
            try:
                guardrail = _rule(doc, name, spec, rule, rule_name, autogen)
            except (Untranslatable, PolicyLoadError) as err:
                out.skipped.append(Skipped(name, rule_name, str(err)))
                continue
            out.guardrails.append(guardrail)
            out.rules[guardrail.name] = (name, rule_name)
    return out


def _dns(text: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-.")[:253]


def _rule(doc: dict[str, Any], name: str, spec: dict[str, Any], rule: dict[str, Any],
          rule_name: str, autogen: bool) -> Guardrail:
    unknown = set(rule) - _HANDLED
    if unknown:
        raise Untranslatable(f"rule fields {sorted(unknown)}")
    validate = rule["validate"]
    unknown = set(validate) - _HANDLED_VALIDATE
    if unknown:
        raise Untranslatable(f"validate fields {sorted(unknown)}")
    kinds, selectors = _match(rule.get("match") or {}, "match")
    pods = kinds == ["Pod"] and autogen
    action = str(validate.get("failureAction") or spec.get("validationFailureAction")
                 or "Audit").lower()
    actions = ["Deny"] if action == "enforce" else ["Audit"]
    guardrail: dict[str, Any] = {
        "failurePolicy": "Fail" if spec.get("failurePolicy", "Fail") == "Fail" else "Ignore",
        "validationActions": actions,
    }
    constraints: dict[str, Any] = {"resourceRules": _resource_rules(kinds, pods)}
    if selectors:
        constraints.update(selectors)
    if rule.get("exclude"):
        excluded, extra = _match(rule["exclude"], "exclude")
        if extra:
            raise Untranslatable("exclude by namespace or selector")
        constraints["excludeResourceRules"] = _resource_rules(excluded, False)
    if doc.get("kind") == "Policy":
        namespace = (doc.get("metadata") or {}).get("namespace", "default")
        constraints["namespaceSelector"] = {"matchLabels": {
            "kubernetes.io/metadata.name": namespace}}
    guardrail["matchConstraints"] = constraints
    root = "variables.pod" if pods else "object"
    variables = list(_POD_ROOT) if pods else []
    message = str(validate.get("message", "")) or f"validation rule {rule_name} failed"
    if "{{" in message:
        message = re.sub(r"\{\{.*?\}\}", "…", message)
    if rule.get("preconditions"):
        guardrail["matchConditions"] = [{"name": "preconditions", "expression": (
            f"cel.bind(variables, {{'pod': ({_POD_ROOT[0]['expression']})}}, "
            f"{conditions(rule['preconditions'], root, 'preconditions')})"
            if pods else conditions(rule["preconditions"], root, "preconditions"))}]
    validations: list[dict[str, Any]] = []
    if "podSecurity" in validate:
        pss = validate["podSecurity"] or {}
        if pss.get("exclude"):
            raise Untranslatable("podSecurity.exclude (per-control exemptions)")
        guardrail["podSecurity"] = {"level": pss.get("level", "baseline"),
                                    "version": pss.get("version", "latest")}
        constraints["resourceRules"] = _pod_rules() if pods else constraints["resourceRules"]
    elif "pattern" in validate:
        validations.append({"expression": translate(validate["pattern"], root), "message": message})
    elif "anyPattern" in validate:
        alternatives = [translate(p, root, f"anyPattern[{i}]")
                        for i, p in enumerate(validate["anyPattern"])]
        validations.append({"expression": " || ".join(alternatives), "message": message})
    elif "deny" in validate:
        held = conditions((validate["deny"] or {}).get("conditions", {}), root, "deny")
        validations.append({"expression": f"!({held})", "message": message})
    elif "cel" in validate:
        validations.extend(_cel(validate["cel"], guardrail, variables, pods))
    else:
        raise Untranslatable("a validate rule without pattern, anyPattern, deny, cel or "
                             "podSecurity")
    guardrail["validations"] = validations
    if variables:
        guardrail["variables"] = variables
    return guardrail_from_dict({
        "apiVersion": API_VERSION, "kind": KIND,
        "metadata": {"name": _dns(f"{name}-{rule_name}"),
                     "annotations": {SOURCE_ANNOTATION: f"kyverno {doc.get('kind')} "
                                                        f"{name} rule {rule_name}"}},
        "spec": guardrail,
    })


def _cel(cel: dict[str, Any], guardrail: dict[str, Any], variables: list[dict[str, str]],
         pods: bool) -> list[dict[str, Any]]:
    unknown = set(cel) - {"expressions", "variables", "paramKind", "paramRef"}
    if unknown:
        raise Untranslatable(f"validate.cel fields {sorted(unknown)}")
    for key in ("paramKind", "paramRef"):
        if key in cel:
            guardrail[key] = cel[key]

    def rooted(expression: str) -> str:
        # Kyverno's autogen applies a Pod rule to controllers with object.spec rewritten
        # to the template's spec; the `pod` variable is that object.
        if not pods:
            return expression
        return re.sub(r"\bobject\.(spec|metadata)\b", r"variables.pod.\1", expression)
    variables.extend({"name": v["name"], "expression": rooted(v["expression"])}
                     for v in cel.get("variables") or [])
    out = []
    for e in cel.get("expressions") or []:
        item = {"expression": rooted(str(e["expression"]))}
        for key in ("message", "messageExpression", "reason"):
            if e.get(key):
                item[key] = rooted(str(e[key])) if key == "messageExpression" else e[key]
        out.append(item)
    if not out:
        raise Untranslatable("validate.cel without expressions")
    return out


def _match(block: dict[str, Any], where: str) -> tuple[list[str], dict[str, Any]]:
    """Kinds and selectors of a Kyverno match/exclude (any/all of resource filters)."""
    filters = [*(block.get("any") or []), *(block.get("all") or [])]
    if "resources" in block:
        filters.append({"resources": block["resources"]})
    if len(filters) != 1:
        raise Untranslatable(f"{where} with {len(filters)} resource filters")
    entry = filters[0]
    if set(entry) - {"resources"}:
        raise Untranslatable(f"{where} by {sorted(set(entry) - {'resources'})}")
    resources = entry.get("resources") or {}
    unknown = set(resources) - {"kinds", "namespaces", "namespaceSelector", "selector",
                                "operations"}
    if unknown:
        raise Untranslatable(f"{where}.resources {sorted(unknown)}")
    kinds = [str(k).split("/")[-1] for k in resources.get("kinds") or []]
    selectors: dict[str, Any] = {}
    if resources.get("namespaces"):
        selectors["namespaceSelector"] = {"matchExpressions": [{
            "key": "kubernetes.io/metadata.name", "operator": "In",
            "values": list(resources["namespaces"])}]}
    if resources.get("namespaceSelector"):
        selectors["namespaceSelector"] = resources["namespaceSelector"]
    if resources.get("selector"):
        selectors["objectSelector"] = resources["selector"]
    return kinds, selectors


def _pod_rules() -> list[dict[str, Any]]:
    return [{"apiGroups": r["api_groups"], "apiVersions": r["api_versions"],
             "resources": r["resources"], "operations": r["operations"]}
            for r in POD_SECURITY_RULES]


def _resource_rules(kinds: list[str], pods: bool) -> list[dict[str, Any]]:
    if pods:
        return _pod_rules()
    rules = []
    for kind in kinds:
        if kind not in _RESOURCES:
            raise Untranslatable(f"the kind {kind!r}")
        group, version, resource = _RESOURCES[kind]
        rules.append({"apiGroups": [group], "apiVersions": [version], "resources": [resource],
                      "operations": ["CREATE", "UPDATE"]})
    return rules
