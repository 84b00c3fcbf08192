"""Kyverno policies imported as Guardrails decide as their source does on its own tests.

The policies, resources and expected results in examples/kyverno/pod-security are in
the shape of the Kyverno policy library's pod-security rules and `kyverno test` files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from quarterdeck.policy.evaluate import check
from quarterdeck.policy.kyverno.conditions import condition
from quarterdeck.policy.kyverno.convert import import_policies
from quarterdeck.policy.kyverno.pattern import Untranslatable, translate
from quarterdeck.policy.library import builtins

FIXTURES = Path(__file__).parents[2] / "examples" / "kyverno" / "pod-security"


def load(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((FIXTURES / name).read_text()) if d]


def test_imported_policies_decide_as_their_kyverno_tests_say() -> None:
    imported = import_policies(load("policies.yaml"))
    resources = load("resources.yaml")
    report = check(imported.guardrails, resources)
    by_rule = {v: k for k, v in imported.rules.items()}
    failed = {(v.policy, v.object.name) for v in report.violations}
    matched = {(p, ref.name) for p, refs in report.matched.items() for ref in refs}
    test = load("kyverno-test.yaml")[0]
    differ, checked = [], 0
    for row in test["results"]:
        rule = row["rule"].removeprefix("autogen-")
        guardrail = by_rule[(row["policy"], rule)]
        for name in row["resources"]:
            assert (guardrail, name) in matched, (guardrail, name)
            ours = "fail" if (guardrail, name) in failed else "pass"
            checked += 1
            if ours != row["result"]:
                differ.append(f"{row['policy']}/{row['rule']} on {name}: "
                              f"kyverno {row['result']}, ours {ours}")
    assert differ == [], "\n".join(differ)
    assert checked >= 12 * 20


def test_what_cannot_be_translated_is_listed_never_dropped() -> None:
    imported = import_policies(load("policies.yaml"))
    skipped = {(s.policy, s.rule): s.reason for s in imported.skipped}
    assert skipped == {
        ("defaults-and-exemptions", "add-seccomp-default"): "mutate rules are not guardrails",
        ("defaults-and-exemptions", "restricted-except-images"):
            "podSecurity.exclude (per-control exemptions)",
        ("defaults-and-exemptions", "image-from-registry"): "rule fields ['context']",
    }
    rules = sum(len(d["spec"]["rules"]) for d in load("policies.yaml"))
    assert len(imported.guardrails) + len(imported.skipped) == rules


def test_the_pod_security_subrule_is_our_pod_security_evaluator() -> None:
    imported = import_policies(load("policies.yaml"))
    [subrule] = [g for g in imported.guardrails if g.spec.pod_security is not None]
    assert subrule.spec.pod_security == builtins()["pss-restricted"].spec.pod_security
    resources = load("resources.yaml")
    ours = {(v.object.name, v.message) for v in check([subrule], resources).violations}
    builtin = {(v.object.name, v.message)
               for v in check([builtins()["pss-restricted"]], resources).violations}
    assert ours == builtin and len(ours) > 10


@pytest.mark.parametrize(("pattern", "value", "matches"), [
    ("runtime/default | localhost/*", "localhost/x", True),
    ("runtime/default | localhost/*", "unconfined", False),
    (">0", 1000, True), (">0", 0, False), ("!Unconfined", "RuntimeDefault", True),
    ("false", False, True), (0, 0, True), (0, 8080, False), ("?*", "x", True),
])
def test_value_patterns(pattern: Any, value: Any, matches: bool) -> None:
    from quarterdeck.policy.cel_engine import default_cache

    cache = default_cache()
    program = cache.get(translate(pattern, "object['v']"), ("object",))
    assert program.evaluate(cache.backend.activation({"object": {"v": value}})) is matches


def test_untranslatable_parts_name_themselves() -> None:
    with pytest.raises(Untranslatable, match=r"the \^\(\) anchor"):
        translate({"^(containers)": [{"name": "x"}]}, "object")
    with pytest.raises(Untranslatable, match=r"the variable 'images\.containers'"):
        condition({"key": "{{ images.containers }}", "operator": "AnyIn", "value": []},
                  "object", "deny")
    with pytest.raises(Untranslatable, match="the operator 'DurationGreaterThan'"):
        condition({"key": "{{ request.object.spec.x }}", "operator": "DurationGreaterThan",
                   "value": "1h"}, "object", "deny")


def test_kyverno_reports_are_read_as_verdicts_per_rule_and_resource() -> None:
    """`kyverno apply --policy-report --output-format json` prints one report per line."""
    import json

    from quarterdeck.policy.kyverno.reference import failures, ours, report_documents, reported

    report = {"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "ClusterPolicyReport",
              "results": [
                  {"policy": "no-privileged-containers", "rule": "autogen-privileged",
                   "result": "fail", "resources": [{"kind": "Deployment", "name": "web"}]},
                  {"policy": "team/no-host-path", "rule": "host-path", "result": "pass",
                   "resources": [{"kind": "Pod", "name": "ok"}]}]}
    text = f"\nApplying 2 policy rule(s) to 2 resource(s)...\n---\n{json.dumps(report)}\n"
    verdicts = reported(report_documents(text))
    assert verdicts == {("no-privileged-containers", "privileged", "Deployment", "web"): "fail",
                        ("no-host-path", "host-path", "Pod", "ok"): "pass"}
    assert failures(verdicts, {("no-host-path", "host-path")}) == set()
    imported = import_policies(load("policies.yaml"))
    mine = ours(imported, load("resources.yaml"))
    assert {r for r in mine.values()} == {"pass", "fail"}
