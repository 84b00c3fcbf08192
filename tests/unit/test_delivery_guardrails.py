"""Guardrail outcomes in an Application's status and events (pure)."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from quarterdeck.api import delivery as api
from quarterdeck.api.meta import find_condition
from quarterdeck.api.policy import Guardrail, guardrail_from_dict
from quarterdeck.delivery.guardrail_findings import (
    MAX_FINDINGS,
    describe,
    findings,
    selects_namespaces,
    unreported,
    warning_event,
)
from quarterdeck.delivery.inventory import Entry
from quarterdeck.delivery.manifests import Key
from quarterdeck.delivery.status import Outcome, application_status
from quarterdeck.policy.library import builtins
from quarterdeck.policy.library_examples import compliant_pod_spec, wrap
from quarterdeck.policy.presync import presync

SHA = "c0ffee" + "0" * 34
KEY = Key("", "ConfigMap", "team", "settings")


def latest(*actions: str) -> Guardrail:
    g = builtins()["disallow-latest-tag"]
    spec = msgspec.structs.replace(g.spec, validation_actions=list(actions))
    return msgspec.structs.replace(g, spec=spec)


def rendered(unpinned: int = 1) -> list[dict[str, Any]]:
    objs = []
    for i in range(unpinned):
        spec = compliant_pod_spec()
        spec["containers"][0]["image"] = "nginx:latest"
        obj = wrap("Deployment", f"web-{i}", spec)
        obj["metadata"]["namespace"] = "team"
        objs.append(obj)
    return [*objs, wrap("Deployment", "api", compliant_pod_spec())]


def app(status: api.ApplicationStatus | None = None) -> api.Application:
    raw = {
        "metadata": {"name": "web", "namespace": "team", "generation": 2},
        "spec": {"sourceRef": {"name": "repo"}, "retry": {"limit": 1}},
    }
    return msgspec.structs.replace(api.decode_application(raw), status=status)


def test_warn_and_audit_on_one_object_is_one_finding_naming_object_policy_and_message() -> None:
    (found,) = findings(presync([latest("Warn", "Audit")], rendered()))
    assert (found.kind, found.namespace, found.name) == ("Deployment", "team", "web-0")
    assert found.policy == "disallow-latest-tag" and found.actions == ["Warn", "Audit"]
    assert describe(found).startswith("Deployment/team/web-0: disallow-latest-tag: images must")
    assert describe(found).endswith("(Warn, Audit)")


def test_findings_are_capped_so_status_stays_small() -> None:
    found = findings(presync([latest("Audit")], rendered(MAX_FINDINGS + 5)))
    assert len(found) == MAX_FINDINGS and all(f.actions == ["Audit"] for f in found)


def test_deny_is_not_a_finding() -> None:
    gate = presync([latest("Deny")], rendered())
    assert gate.blocked and findings(gate) == []


def test_a_denied_sync_keeps_the_last_good_state_and_is_retried_not_stalled() -> None:
    warned = findings(presync([latest("Warn")], rendered()))
    good = application_status(
        app(),
        Outcome(revision="a" * 40, inventory=[Entry(KEY, "v1")], guardrail_warnings=warned),
        "t1",
    )
    denied = Outcome(revision=SHA, errors=["revision c0ffee: blocked by 1 ..."], denied=True)
    status = good
    for attempt in range(4):  # beyond retry.limit: still not Stalled
        status = application_status(app(status), denied, f"t{attempt + 2}")
    ready = find_condition(status.conditions, "Ready")
    stalled = find_condition(status.conditions, "Stalled")
    assert ready is not None and (ready.status, ready.reason) == ("False", "GuardrailDenied")
    assert stalled is not None and stalled.status == "False"
    assert status.last_applied_revision == "a" * 40
    assert status.inventory == good.inventory and status.guardrail_warnings == warned
    assert status.history[0].result == "Failed" and status.history[0].attempts == 4


def test_other_failures_still_stall_after_the_retry_limit() -> None:
    status = None
    for attempt in range(3):
        status = application_status(
            app(status), Outcome(revision=SHA, errors=["boom"]), f"t{attempt}"
        )
    assert status is not None
    stalled = find_condition(status.conditions, "Stalled")
    assert stalled is not None and (stalled.status, stalled.reason) == ("True", "RetriesExhausted")


def test_warnings_are_replaced_by_each_gated_sync_and_kept_by_a_self_heal() -> None:
    warned = findings(presync([latest("Warn")], rendered()))
    first = application_status(app(), Outcome(revision=SHA, guardrail_warnings=warned), "t1")
    assert first.guardrail_warnings == warned
    healed = application_status(app(first), Outcome(revision=SHA), "t2")  # no gate ran
    assert healed.guardrail_warnings == warned
    clean = application_status(app(healed), Outcome(revision=SHA, guardrail_warnings=[]), "t3")
    assert clean.guardrail_warnings == []
    encoded = msgspec.to_builtins(first)
    assert encoded["guardrailWarnings"][0]["policy"] == "disallow-latest-tag"


def test_an_event_only_for_warnings_the_status_did_not_have() -> None:
    one = findings(presync([latest("Warn")], rendered(1)))
    two = findings(presync([latest("Warn")], rendered(2)))
    before = api.ApplicationStatus(guardrail_warnings=one)
    after = api.ApplicationStatus(guardrail_warnings=two)
    message = warning_event(before, after)
    assert message.splitlines()[0] == "1 guardrail warning(s):"
    assert "Deployment/team/web-1" in message and "web-0" not in message
    assert warning_event(after, after) == ""
    assert warning_event(None, before).startswith("1 guardrail warning(s):")


finding = st.builds(
    api.GuardrailWarning,
    policy=st.sampled_from(["a", "b"]),
    actions=st.sampled_from([["Warn"], ["Audit"], ["Warn", "Audit"]]),
    kind=st.sampled_from(["Pod", "Deployment"]),
    name=st.sampled_from(["x", "y", "z"]),
    message=st.sampled_from(["m", "n"]),
)


@given(st.lists(finding, max_size=8), st.lists(finding, max_size=8))
def test_unreported_is_exactly_what_new_adds(
    old: list[api.GuardrailWarning], new: list[api.GuardrailWarning]
) -> None:
    fresh = unreported(old, new)
    assert all(f in new and f not in old for f in fresh)
    assert [f for f in new if f not in old] == fresh
    assert unreported(new, new) == []


def test_namespace_labels_are_only_needed_for_a_namespace_selector() -> None:
    assert not selects_namespaces([latest("Deny")])
    doc = {
        "apiVersion": "policy.quarterdeck.dev/v1alpha1",
        "kind": "Guardrail",
        "metadata": {"name": "prod-only"},
        "spec": {
            "validations": [{"expression": "true"}],
            "matchConstraints": {"namespaceSelector": {"matchLabels": {"env": "prod"}}},
        },
    }
    assert selects_namespaces([latest("Deny"), guardrail_from_dict(doc)])
