"""Differential test: our engine and a real kube-apiserver decide the same.

Every built-in Guardrail is exported as a native ValidatingAdmissionPolicy + Binding
and installed in the dev cluster. Each binding is narrowed to objects carrying the
label `policy.quarterdeck.dev/under-test: <policy>`, so one example object meets
exactly one policy. Every allowed and denied example is then created (server-side
dry run, so admission runs and nothing is stored) and the server's answer compared
with `evaluate` on the same object under the same narrowed policy.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lightkube import Client, codecs
from lightkube.core.exceptions import ApiError
from lightkube.resources.admissionregistration_v1 import (
    ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding,
)

from quarterdeck.api.policy import Guardrail, LabelSelector, MatchResources
from quarterdeck.kube.wait import wait_for
from quarterdeck.policy import evaluate
from quarterdeck.policy.export import to_native
from quarterdeck.policy.library import builtins
from quarterdeck.policy.library_examples import (
    Example,
    compliant_pod_spec,
    examples,
    pod_spec_changes,
    wrap,
)

pytestmark = pytest.mark.integration

UNDER_TEST = "policy.quarterdeck.dev/under-test"
PREFIX = "qd-difftest-"


def narrowed(guardrail: Guardrail) -> Guardrail:
    """The Guardrail bound only to objects labelled for it (name prefixed for the test)."""
    selector = LabelSelector(match_labels={UNDER_TEST: guardrail.name})
    return msgspec.structs.replace(
        guardrail,
        metadata=msgspec.structs.replace(guardrail.metadata, name=PREFIX + guardrail.name),
        spec=msgspec.structs.replace(
            guardrail.spec, match_resources=MatchResources(object_selector=selector)
        ),
    )


def labelled(example: Example, namespace: str) -> dict[str, Any]:
    obj = copy.deepcopy(example.obj)
    obj["metadata"].setdefault("labels", {})[UNDER_TEST] = example.policy
    obj["metadata"]["namespace"] = namespace
    return obj


def server_denies(kube: Client, obj: dict[str, Any]) -> bool:
    """Create with dryRun=All: True if a ValidatingAdmissionPolicy rejected it."""
    try:
        kube.create(codecs.from_dict(obj), dry_run=True)
    except ApiError as err:
        message = err.status.message or ""
        if "ValidatingAdmissionPolicy" in message:
            return True
        raise AssertionError(f"{obj['kind']}/{obj['metadata']['name']}: {message}") from err
    return False


@pytest.fixture(scope="module")
def installed(kube: Client) -> Iterator[dict[str, Guardrail]]:
    """Every built-in installed, and enforced: one denied example per policy is denied."""
    policies = {
        name: narrowed(g) for name, g in builtins().items() if g.spec.pod_security is None
    }  # Pod Security: test_policy_pss_differential
    for guardrail in policies.values():
        for doc in to_native(guardrail):
            kube.apply(codecs.from_dict(doc), force=True)
    probe_ns = "default"
    probes: dict[str, dict[str, Any]] = {}
    for example in examples():
        if not example.allowed and example.policy in policies:
            probes.setdefault(example.policy, labelled(example, probe_ns))
    wait_until_enforced(kube, list(probes.values()))
    yield policies
    for guardrail in policies.values():
        kube.delete(ValidatingAdmissionPolicyBinding, guardrail.name)
        kube.delete(ValidatingAdmissionPolicy, guardrail.name)


def wait_until_enforced(kube: Client, probes: list[dict[str, Any]], timeout: float = 60) -> None:
    """The API server loads policies asynchronously: wait until every denied probe is."""
    pending = list(probes)

    def enforced() -> bool:
        pending[:] = [p for p in pending if not server_denies(kube, p)]
        return not pending

    wait_for(enforced, "policies enforced", timeout, 0.5, lambda: pending[0]["metadata"])


def test_engine_and_api_server_agree_on_every_example(
    kube: Client, namespace: str, installed: dict[str, Guardrail]
) -> None:
    cases = [(e, labelled(e, namespace)) for e in examples() if e.policy in installed]
    disagreements = []
    for example, obj in cases:
        ours = any(v.denied for v in evaluate([installed[example.policy]], [obj]))
        theirs = server_denies(kube, obj)
        if ours != theirs or ours == example.allowed:
            disagreements.append(
                f"{example.policy}/{example.name}: engine denies={ours}, "
                f"api-server denies={theirs}, documented allowed={example.allowed}"
            )
    assert disagreements == [], "\n".join(disagreements)
    assert len(cases) >= 2 * len(installed)


KINDS = ["Pod", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"]
POD_POLICIES = sorted(
    n
    for n, g in builtins().items()
    if g.spec.pod_security is None
    and n not in ("no-plaintext-secrets", "service-traffic-distribution")
)


@st.composite
def random_cases(draw: st.DrawFn) -> tuple[str, dict[str, Any], str]:
    """A pod spec with a random subset of the examples' changes, in a random workload,
    meeting one random policy."""
    changes = draw(st.lists(st.sampled_from(pod_spec_changes()), max_size=4, unique_by=str))
    spec = compliant_pod_spec()
    for _, change in changes:
        change(spec)
    labels = draw(st.sampled_from([{}, {"kueue.x-k8s.io/queue-name": "q"}, {"team": "x"}]))
    name = "rnd-" + "-".join(c.split(":")[1] for c, _ in changes)[:50].rstrip("-")
    obj = wrap(draw(st.sampled_from(KINDS)), name or "rnd", spec, labels)
    return draw(st.sampled_from(POD_POLICIES)), obj, ", ".join(c for c, _ in changes)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=random_cases())
def test_engine_and_api_server_agree_on_random_objects(
    kube: Client,
    namespace: str,
    installed: dict[str, Guardrail],
    case: tuple[str, dict[str, Any], str],
) -> None:
    policy, obj, changes = case
    obj = labelled(Example(policy, "random", True, obj), namespace)
    try:
        theirs = server_denies(kube, obj)
    except AssertionError:
        return  # the API server rejects the object itself (e.g. conflicting fields)
    ours = any(v.denied for v in evaluate([installed[policy]], [obj]))
    assert ours == theirs, f"{policy} on {obj['kind']} with [{changes}]: ours={ours}"
