"""The pre-sync gate: Deny blocks with a report naming object and policy; Warn passes."""

from __future__ import annotations

import msgspec

from quarterdeck.policy.library import builtins
from quarterdeck.policy.library_examples import compliant_pod_spec, wrap
from quarterdeck.policy.presync import presync


def _rendered() -> list[dict[str, object]]:
    spec = compliant_pod_spec()
    spec["containers"][0]["image"] = "nginx:latest"
    return [wrap("Deployment", "web", spec), wrap("Deployment", "api", compliant_pod_spec())]


def test_deny_blocks_and_names_object_policy_and_reason() -> None:
    gate = presync([builtins()["disallow-latest-tag"]], _rendered())
    assert gate.blocked
    assert gate.summary().splitlines()[1].startswith("Deployment/web: disallow-latest-tag: ")


def test_warn_passes_and_is_recorded() -> None:
    g = builtins()["disallow-latest-tag"]
    warn = msgspec.structs.replace(
        g, spec=msgspec.structs.replace(g.spec, validation_actions=["Warn"])
    )
    gate = presync([warn], _rendered())
    assert not gate.blocked and [str(v.object) for v in gate.warnings] == ["Deployment/web"]
    assert gate.summary() == "guardrails passed"


def test_namespace_pod_security_labels_are_predicted() -> None:
    """A namespace enforcing restricted refuses a root pod before anything is applied,
    with the API server's words; baseline lets the same pod through."""
    spec = compliant_pod_spec()
    spec["securityContext"]["runAsUser"] = 0
    pod = wrap("Pod", "root", spec)
    pod["metadata"]["namespace"] = "shop"
    restricted = {"shop": {"pod-security.kubernetes.io/enforce": "restricted",
                           "pod-security.kubernetes.io/enforce-version": "v1.30"}}
    gate = presync([], [pod], namespaces=restricted)
    assert gate.blocked
    assert gate.summary().splitlines()[1] == (
        'Pod/shop/root: pod-security: pods "root" is forbidden: violates PodSecurity '
        '"restricted:v1.30": runAsUser=0 (pod must not set runAsUser=0)')
    baseline = {"shop": {"pod-security.kubernetes.io/enforce": "baseline"}}
    assert not presync([], [pod], namespaces=baseline).blocked
    assert not presync([], [pod]).blocked
