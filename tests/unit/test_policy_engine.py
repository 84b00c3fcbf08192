"""The evaluate() core: matching, variables, messages, params, and bad input."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from quarterdeck.api.policy import Guardrail, PolicyLoadError, guardrail_from_dict, load_policies
from quarterdeck.policy.evaluate import Budget, check, evaluate
from quarterdeck.policy.export import to_native

PODS = [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]


def guardrail(name: str = "g", **spec: Any) -> Guardrail:
    spec.setdefault("matchConstraints", {"resourceRules": PODS})
    return guardrail_from_dict(
        {
            "apiVersion": "policy.quarterdeck.dev/v1alpha1",
            "kind": "Guardrail",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def pod(
    name: str = "p",
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    image: str = "app:1",
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"containers": [{"name": "c", "image": image}]},
    }


NO_LATEST = {
    "validations": [
        {
            "expression": "!object.spec.containers.exists(c, c.image.endsWith(':latest'))",
            "message": "no latest",
        }
    ]
}


def test_violation_names_object_policy_and_message() -> None:
    [v] = evaluate([guardrail(**NO_LATEST)], [pod(image="x:latest"), pod("ok")])
    assert (str(v.object), v.policy, v.message, v.actions) == (
        "Pod/default/p",
        "g",
        "no latest",
        ("Deny",),
    )
    assert v.denied and v.reason == "Invalid"


def test_resource_rules_and_selectors_limit_scope() -> None:
    g = guardrail(
        **NO_LATEST,
        matchConstraints={
            "resourceRules": PODS,
            "namespaceSelector": {"matchLabels": {"env": "prod"}},
            "objectSelector": {"matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]},
        },
    )
    ns = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "prod", "labels": {"env": "prod"}},
        }
    ]
    objects = [
        *ns,
        pod("a", "prod", image="x:latest"),
        pod("b", "dev", image="x:latest"),
        pod("c", "prod", {"skip": "1"}, "x:latest"),
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "prod"},
            "spec": {},
        },
    ]
    report = check([g], objects)
    assert [str(r) for r in report.matched["g"]] == ["Pod/prod/a"]
    assert [v.object.name for v in report.violations] == ["a"]


def test_variables_message_expression_and_lazy_unused_variable() -> None:
    g = guardrail(
        variables=[
            {"name": "images", "expression": "object.spec.containers.map(c, c.image)"},
            {"name": "bad", "expression": "object.spec.missing.field"},
            {"name": "latest", "expression": "variables.images.filter(i, i.endsWith(':latest'))"},
        ],
        validations=[
            {
                "expression": "variables.latest.size() == 0",
                "messageExpression": "'latest images: ' + variables.latest.join(', ')",
            }
        ],
    )
    [v] = evaluate([g], [pod(image="a:latest")])
    assert v.kind == "violation" and v.message == "latest images: a:latest"


def test_compile_error_reports_policy_field_and_column() -> None:
    g = guardrail("broken", validations=[{"expression": "object.spec.containers.all(c, c.x"}])
    report = check([g, guardrail("fine", **NO_LATEST)], [pod(image="a:latest")])
    [problem] = report.problems
    assert problem.policy == "broken" and problem.field == "spec.validations[0].expression"
    assert problem.column == 34  # 1-based: just past the end, where `)` is missing
    kinds = sorted((v.policy, v.kind) for v in report.violations)
    assert kinds == [("broken", "compile-error"), ("fine", "violation")]


def test_unknown_params_reference_is_a_compile_error() -> None:
    report = check([guardrail(validations=[{"expression": "params.max > 1"}])], [pod()])
    assert "params" in report.problems[0].detail


def test_runtime_error_follows_failure_policy() -> None:
    spec = {"validations": [{"expression": "object.spec.nodeName == 'x'"}]}
    [fail] = evaluate([guardrail(**spec)], [pod()])
    [ignored] = evaluate([guardrail(**spec, failurePolicy="Ignore")], [pod()])
    assert fail.kind == "runtime-error" and fail.denied and "nodeName" in fail.message
    assert ignored.kind == "runtime-error" and ignored.actions == ()


def test_non_bool_result_is_an_error() -> None:
    [v] = evaluate([guardrail(validations=[{"expression": "1"}])], [pod()])
    assert v.kind == "runtime-error" and "want bool" in v.message


def test_budget_exceeded_is_reported_and_breaker_trips() -> None:
    ticks = itertools.count(0.0, 1.0)  # a clock that advances one second per reading
    report = check(
        [guardrail(**NO_LATEST)],
        [pod("a"), pod("b")],
        budget=Budget(max_seconds=0.5),
        clock=lambda: next(ticks),
    )
    assert [v.kind for v in report.violations] == ["budget", "budget"]
    assert "not run again" in report.violations[1].message


def test_expression_longer_than_budget_does_not_compile() -> None:
    long = " && ".join(["true"] * 50)
    report = check(
        [guardrail(validations=[{"expression": long}])],
        [pod()],
        budget=Budget(max_expression_chars=40),
    )
    assert "longer_than_40" in report.problems[0].expression


def test_warn_and_audit_actions() -> None:
    [v] = evaluate(
        [guardrail(**NO_LATEST, validationActions=["Warn", "Audit"])], [pod(image="a:latest")]
    )
    assert v.actions == ("Warn", "Audit") and not v.denied


def test_match_conditions_skip_objects() -> None:
    g = guardrail(
        **NO_LATEST,
        matchConditions=[
            {"name": "only-prod", "expression": "object.metadata.namespace == 'prod'"}
        ],
    )
    assert evaluate([g], [pod(image="a:latest")]) == []


def test_params_from_rendered_objects_and_missing_params() -> None:
    spec = {
        "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
        "paramRef": {"name": "limits", "parameterNotFoundAction": "Deny"},
        "validations": [{"expression": "size(object.spec.containers) <= int(params.data.max)"}],
    }
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "limits", "namespace": "default"},
        "data": {"max": "0"},
    }
    [v] = evaluate([guardrail(**spec)], [pod(), cm])
    assert v.kind == "violation"
    [missing] = evaluate([guardrail(**spec)], [pod()])
    assert missing.kind == "params" and "limits" in missing.message


def test_unknown_field_in_policy_is_rejected_with_path() -> None:
    with pytest.raises(PolicyLoadError, match=r"validations\[0\]"):
        guardrail(validations=[{"expresion": "true"}])


def test_native_policy_and_binding_round_trip() -> None:
    g = guardrail(
        **NO_LATEST,
        validationActions=["Warn"],
        matchResources={"resourceRules": PODS, "objectSelector": {"matchLabels": {"a": "b"}}},
    )
    [back], notes = load_policies(to_native(g))
    assert back.spec == g.spec and notes == []


def test_unbound_native_policy_is_noted() -> None:
    policy = to_native(guardrail(**NO_LATEST))[0]
    guardrails, notes = load_policies([policy])
    assert guardrails == [] and "no binding" in notes[0]


def test_deny_and_warn_together_is_rejected_like_the_api_server() -> None:
    with pytest.raises(PolicyLoadError, match="both Deny and Warn"):
        guardrail(**NO_LATEST, validationActions=["Deny", "Warn"])


def test_program_cache_is_bounded_and_reuses_programs() -> None:
    from quarterdeck.policy.cel_engine import CelExprBackend, ProgramCache

    cache = ProgramCache(CelExprBackend(), max_entries=2)
    first = cache.get("1 == 1", ())
    assert cache.get("1 == 1", ()) is first
    cache.get("2 == 2", ())
    cache.get("3 == 3", ())
    assert cache.get("1 == 1", ()) is not first  # evicted, compiled again


def test_undeclared_variable_reference_is_a_compile_error() -> None:
    g = guardrail(
        variables=[{"name": "a", "expression": "variables.b"}, {"name": "b", "expression": "1"}],
        validations=[{"expression": "variables.c == 1"}],
    )
    problems = check([g], [pod()]).problems
    assert [(p.field, p.detail) for p in problems] == [
        ("spec.variables[0] (a)", "undeclared reference to variables.b"),
        ("spec.validations[0].expression", "undeclared reference to variables.c"),
    ]
