"""CEL health expressions for kinds without built-in rules (real CEL, no stubs)."""

from __future__ import annotations

from quarterdeck.delivery.health_cel import HealthRule, compile_errors, health_by_rule, rule_for
from quarterdeck.delivery.sync import judge

RULE = HealthRule(
    "example.com/v1",
    "Widget",
    current='has(object.status) && object.status.phase == "Ready"',
    failed='has(object.status) && object.status.phase == "Failed"',
)


def widget(phase: str | None) -> dict[str, object]:
    obj: dict[str, object] = {"apiVersion": "example.com/v1", "kind": "Widget"}
    if phase:
        obj["status"] = {"phase": phase}
    return obj


def test_current_failed_and_waiting() -> None:
    assert health_by_rule(widget("Ready"), RULE).status == "Healthy"
    failed = health_by_rule(widget("Failed"), RULE)
    assert failed.status == "Degraded" and "Failed" in failed.message
    assert health_by_rule(widget(None), RULE).status == "Progressing"


def test_evaluation_errors_are_unknown_with_the_reason() -> None:
    rule = HealthRule("example.com/v1", "Widget", current='object.status.phase == "Ready"')
    got = health_by_rule(widget(None), rule)
    assert got.status == "Unknown" and "health expression failed" in got.message
    not_bool = HealthRule("example.com/v1", "Widget", current="1 + 1")
    assert "not a bool" in health_by_rule(widget("Ready"), not_bool).message


def test_compile_errors_name_kind_and_field() -> None:
    bad = HealthRule("example.com/v1", "Widget", current="object.(")
    (message,) = compile_errors([RULE, bad])
    assert message.startswith("healthExpressions Widget current: ")


def test_rules_apply_only_to_their_kind() -> None:
    assert rule_for(widget("Ready"), [RULE]) is RULE
    cm = {"apiVersion": "v1", "kind": "ConfigMap"}
    assert rule_for(cm, [RULE]) is None
    assert judge(cm, [RULE]).status == "Healthy"
    assert judge(widget("Failed"), [RULE]).status == "Degraded"
