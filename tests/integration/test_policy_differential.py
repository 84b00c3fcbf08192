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
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from lightkube import Client, codecs
from lightkube.core.exceptions import ApiError
from lightkube.resources.admissionregistration_v1 import (
    ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding,
)

from quarterdeck.api.policy import Guardrail, LabelSelector, MatchResources
from quarterdeck.policy import evaluate
from quarterdeck.policy.export import to_native
from quarterdeck.policy.library import builtins
from quarterdeck.policy.library_examples import Example, examples

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
    policies = {name: narrowed(g) for name, g in builtins().items()}
    for guardrail in policies.values():
        for doc in to_native(guardrail):
            kube.apply(codecs.from_dict(doc), force=True)
    yield policies
    for guardrail in policies.values():
        kube.delete(ValidatingAdmissionPolicyBinding, guardrail.name)
        kube.delete(ValidatingAdmissionPolicy, guardrail.name)


def wait_until_enforced(kube: Client, probes: list[dict[str, Any]], timeout: float = 60) -> None:
    """The API server loads policies asynchronously: wait until every denied probe is."""
    deadline = time.monotonic() + timeout
    pending = list(probes)
    while pending and time.monotonic() < deadline:
        pending = [p for p in pending if not server_denies(kube, p)]
        if pending:
            time.sleep(0.5)
    assert not pending, f"policies not enforced after {timeout}s: {pending[0]['metadata']}"


def test_engine_and_api_server_agree_on_every_example(
    kube: Client, namespace: str, installed: dict[str, Guardrail]
) -> None:
    cases = [(e, labelled(e, namespace)) for e in examples()]
    first_denied: dict[str, dict[str, Any]] = {}
    for example, obj in cases:
        if not example.allowed:
            first_denied.setdefault(example.policy, obj)
    wait_until_enforced(kube, list(first_denied.values()))

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
