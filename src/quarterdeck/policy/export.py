"""Guardrail -> native ValidatingAdmissionPolicy + ValidatingAdmissionPolicyBinding.

The split is the inverse of `api.policy.from_native`: policy-level fields go to the
policy, validationActions / paramRef / matchResources to the binding, so the API
server enforces exactly what `evaluate` checks.
"""

from __future__ import annotations

from typing import Any

import msgspec

from quarterdeck.api.policy import NATIVE_API_VERSION, Guardrail

_BINDING_FIELDS = ("validationActions", "paramRef", "matchResources")
MANAGED_BY = {"app.kubernetes.io/managed-by": "quarterdeck"}


def to_native(guardrail: Guardrail) -> list[dict[str, Any]]:
    """The two native objects for one Guardrail (same name for both)."""
    spec: dict[str, Any] = msgspec.to_builtins(guardrail.spec)
    name = guardrail.name
    policy_spec = {k: v for k, v in spec.items() if k not in _BINDING_FIELDS}
    policy_spec["failurePolicy"] = guardrail.spec.failure_policy
    policy_spec.setdefault("matchConstraints", {})
    binding_spec: dict[str, Any] = {
        "policyName": name,
        "validationActions": list(guardrail.spec.validation_actions),
    }
    for key in ("paramRef", "matchResources"):
        if key in spec:
            binding_spec[key] = spec[key]
    if "paramRef" in binding_spec:
        binding_spec["paramRef"].setdefault("parameterNotFoundAction", "Deny")
    labels = {**guardrail.metadata.labels, **MANAGED_BY}
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if guardrail.metadata.annotations:
        meta["annotations"] = dict(guardrail.metadata.annotations)
    return [
        {
            "apiVersion": NATIVE_API_VERSION,
            "kind": "ValidatingAdmissionPolicy",
            "metadata": meta,
            "spec": policy_spec,
        },
        {
            "apiVersion": NATIVE_API_VERSION,
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name, "labels": labels},
            "spec": binding_spec,
        },
    ]


def export_all(guardrails: list[Guardrail]) -> list[dict[str, Any]]:
    """Native objects for the CEL Guardrails; Pod Security ones have none (see below)."""
    return [doc for g in guardrails if g.spec.pod_security is None for doc in to_native(g)]


def pod_security_hint(guardrail: Guardrail) -> str:
    """Why a `podSecurity` Guardrail is not exported: the API server already has Pod
    Security admission, enforced by namespace labels (which decide exactly as we do)."""
    pss = guardrail.spec.pod_security
    assert pss is not None
    version = "" if pss.version == "latest" else \
        f" pod-security.kubernetes.io/enforce-version={pss.version}"
    return (f"{guardrail.name} is the API server's own Pod Security admission; enforce it with "
            f"`kubectl label namespace NAME pod-security.kubernetes.io/enforce={pss.level}"
            f"{version}`")
