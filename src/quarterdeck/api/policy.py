"""`policy.quarterdeck.dev/v1alpha1`: the Guardrail kind.

A Guardrail is a ValidatingAdmissionPolicy and its binding folded into one
cluster-scoped object, with the same field names, so that a policy author's
habits carry over and `qd policy export` can split it back into the two native
objects losslessly. Native ValidatingAdmissionPolicy + Binding pairs found in a
repository are read into the same type (`from_native`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import msgspec

from quarterdeck.api.meta import ObjectMeta

GROUP = "policy.quarterdeck.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Guardrail"
NATIVE_API_VERSION = "admissionregistration.k8s.io/v1"

ValidationAction = Literal["Deny", "Warn", "Audit"]
FailurePolicy = Literal["Fail", "Ignore"]


class Spec(msgspec.Struct, rename="camel", forbid_unknown_fields=True, omit_defaults=True):
    """Base for every nested type: camelCase keys, unknown fields rejected."""


class LabelSelectorRequirement(Spec):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = msgspec.field(default_factory=list)


class LabelSelector(Spec):
    match_labels: dict[str, str] = msgspec.field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = msgspec.field(default_factory=list)


class ResourceRule(Spec):
    """A NamedRuleWithOperations: which API resources a policy looks at."""

    api_groups: list[str] = msgspec.field(default_factory=lambda: ["*"])
    api_versions: list[str] = msgspec.field(default_factory=lambda: ["*"])
    resources: list[str] = msgspec.field(default_factory=lambda: ["*"])
    operations: list[str] = msgspec.field(default_factory=lambda: ["*"])
    resource_names: list[str] = msgspec.field(default_factory=list)
    scope: Literal["Cluster", "Namespaced", "*"] = "*"


class MatchResources(Spec):
    resource_rules: list[ResourceRule] = msgspec.field(default_factory=list)
    exclude_resource_rules: list[ResourceRule] = msgspec.field(default_factory=list)
    namespace_selector: LabelSelector | None = None
    object_selector: LabelSelector | None = None
    match_policy: Literal["Exact", "Equivalent"] = "Equivalent"


class MatchCondition(Spec):
    name: str
    expression: str


class Variable(Spec):
    name: str
    expression: str


class Validation(Spec):
    expression: str
    message: str = ""
    message_expression: str = ""
    reason: str = ""


class AuditAnnotation(Spec):
    key: str
    value_expression: str


class ParamKind(Spec):
    api_version: str
    kind: str


class ParamRef(Spec):
    name: str = ""
    namespace: str = ""
    selector: LabelSelector | None = None
    parameter_not_found_action: Literal["Allow", "Deny"] = "Deny"


class PodSecurity(Spec):
    """Judge pods by a Pod Security Standards level, as Kubernetes' own admission does
    (evaluated in Python, not CEL: see docs/policy.md); `version` is `latest` or `v1.N`."""

    level: Literal["baseline", "restricted"]
    version: str = "latest"


class GuardrailSpec(Spec):
    validations: list[Validation] = msgspec.field(default_factory=list)
    match_constraints: MatchResources = msgspec.field(default_factory=MatchResources)
    match_conditions: list[MatchCondition] = msgspec.field(default_factory=list)
    variables: list[Variable] = msgspec.field(default_factory=list)
    audit_annotations: list[AuditAnnotation] = msgspec.field(default_factory=list)
    failure_policy: FailurePolicy = "Fail"
    validation_actions: list[ValidationAction] = msgspec.field(default_factory=lambda: ["Deny"])
    param_kind: ParamKind | None = None
    param_ref: ParamRef | None = None
    # Binding-level narrowing (ValidatingAdmissionPolicyBinding.spec.matchResources).
    match_resources: MatchResources | None = None
    # A Pod Security level instead of (or besides) CEL validations; never exported as VAP.
    pod_security: PodSecurity | None = None


class Guardrail(msgspec.Struct, rename="camel"):
    metadata: ObjectMeta
    spec: GuardrailSpec
    api_version: str = API_VERSION
    kind: str = KIND

    @property
    def name(self) -> str:
        return self.metadata.name


#: What Kubernetes' Pod Security admission looks at: pods and the kinds with a pod template.
POD_SECURITY_RULES: list[dict[str, Any]] = [
    {"api_groups": [""], "api_versions": ["v1"],
     "resources": ["pods", "podtemplates", "replicationcontrollers"]},
    {"api_groups": ["apps"], "api_versions": ["v1"],
     "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"]},
    {"api_groups": ["batch"], "api_versions": ["v1"], "resources": ["jobs", "cronjobs"]},
]
for _rule in POD_SECURITY_RULES:
    _rule["operations"] = ["CREATE", "UPDATE"]


class PolicyLoadError(ValueError):
    """A policy document that cannot be understood; the message names it and the field."""


def _convert(doc: Mapping[str, Any], where: str) -> Guardrail:
    try:
        guardrail = msgspec.convert(doc, Guardrail)
    except msgspec.ValidationError as err:
        raise PolicyLoadError(f"{where}: {err}") from None
    actions = guardrail.spec.validation_actions
    if not actions or len(set(actions)) != len(actions) or {"Deny", "Warn"} <= set(actions):
        # The API server rejects these bindings too; say so before export, not after.
        raise PolicyLoadError(
            f"{where}: validationActions {actions} must be non-empty, without repeats, "
            "and not contain both Deny and Warn - at `$.spec.validationActions`"
        )
    if guardrail.spec.pod_security is not None:
        from quarterdeck.policy.pss.versions import VersionError, parse_known_version

        try:
            parse_known_version(guardrail.spec.pod_security.version)
        except VersionError as err:
            raise PolicyLoadError(f"{where}: {err} - at `$.spec.podSecurity.version`") from None
        if not guardrail.spec.match_constraints.resource_rules:
            guardrail = msgspec.structs.replace(guardrail, spec=msgspec.structs.replace(
                guardrail.spec, match_constraints=MatchResources(resource_rules=[
                    ResourceRule(**r) for r in POD_SECURITY_RULES])))
    return guardrail


def guardrail_from_dict(doc: Mapping[str, Any]) -> Guardrail:
    """Decode one Guardrail document; unknown or mistyped fields raise PolicyLoadError."""
    name = (doc.get("metadata") or {}).get("name", "<unnamed>")
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != KIND:
        raise PolicyLoadError(f"Guardrail {name}: expected {API_VERSION} {KIND}")
    guardrail = _convert(doc, f"Guardrail {name}")
    if not guardrail.metadata.name:
        raise PolicyLoadError("Guardrail without metadata.name")
    return guardrail


def from_native(policy: Mapping[str, Any], binding: Mapping[str, Any]) -> Guardrail:
    """Fold a native ValidatingAdmissionPolicy and one of its bindings into a Guardrail."""
    pname = (policy.get("metadata") or {}).get("name", "<unnamed>")
    bname = (binding.get("metadata") or {}).get("name", pname)
    pspec = dict(policy.get("spec") or {})
    bspec = dict(binding.get("spec") or {})
    spec: dict[str, Any] = {k: v for k, v in pspec.items() if k != "paramKind" or v}
    if pspec.get("paramKind"):
        spec["paramKind"] = pspec["paramKind"]
    spec["validationActions"] = bspec.get("validationActions", ["Deny"])
    if bspec.get("paramRef"):
        spec["paramRef"] = bspec["paramRef"]
    if bspec.get("matchResources"):
        spec["matchResources"] = bspec["matchResources"]
    spec.setdefault("validations", [])
    doc = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": bname,
            "labels": (policy.get("metadata") or {}).get("labels") or {},
            "annotations": (policy.get("metadata") or {}).get("annotations") or {},
        },
        "spec": spec,
    }
    return _convert(doc, f"ValidatingAdmissionPolicy {pname} (binding {bname})")


def is_policy_document(doc: Mapping[str, Any]) -> bool:
    """True for Guardrails and native admission policy objects (not workload objects)."""
    api, kind = doc.get("apiVersion"), doc.get("kind")
    if api == API_VERSION and kind == KIND:
        return True
    return str(api).startswith("admissionregistration.k8s.io/") and kind in (
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    )


def load_policies(docs: Iterable[Mapping[str, Any]]) -> tuple[list[Guardrail], list[str]]:
    """All policies in a set of documents, plus notes about policies that do nothing.

    A native policy takes effect once per binding that names it; a policy without a
    binding is reported (the API server would ignore it too).
    """
    guardrails: list[Guardrail] = []
    natives: dict[str, Mapping[str, Any]] = {}
    bindings: list[Mapping[str, Any]] = []
    for doc in docs:
        kind = doc.get("kind")
        if kind == KIND:
            guardrails.append(guardrail_from_dict(doc))
        elif kind == "ValidatingAdmissionPolicy" and is_policy_document(doc):
            natives[(doc.get("metadata") or {}).get("name", "")] = doc
        elif kind == "ValidatingAdmissionPolicyBinding" and is_policy_document(doc):
            bindings.append(doc)
    notes: list[str] = []
    bound: set[str] = set()
    for binding in bindings:
        target = (binding.get("spec") or {}).get("policyName", "")
        bname = (binding.get("metadata") or {}).get("name", "")
        if target not in natives:
            notes.append(f"ValidatingAdmissionPolicyBinding {bname}: policy {target!r} not found")
            continue
        bound.add(target)
        guardrails.append(from_native(natives[target], binding))
    notes.extend(
        f"ValidatingAdmissionPolicy {name}: no binding, so it is never enforced"
        for name in natives
        if name not in bound
    )
    return guardrails, notes


def to_dict(guardrail: Guardrail) -> dict[str, Any]:
    """Plain-data form (camelCase, defaults omitted) for YAML/JSON output."""
    out: dict[str, Any] = msgspec.to_builtins(guardrail)
    return out
