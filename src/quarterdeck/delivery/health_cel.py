"""Health of kinds without built-in rules, decided by CEL expressions over ``object``.

An Application's ``healthExpressions`` name a kind and two expressions: ``current``
(true when healthy) and optionally ``failed`` (true when degraded). CEL comes from
quarterdeck.policy's engine, so guardrails and health speak the same dialect
(including the Kubernetes CEL functions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from quarterdeck.delivery.health import Health
from quarterdeck.policy.cel_engine import CelCompileError, CelEvaluationError, default_cache

VARIABLES = ("object",)


@dataclass(frozen=True)
class HealthRule:
    """CEL health for one apiVersion and kind."""

    api_version: str
    kind: str
    current: str
    failed: str = ""


def compile_errors(rules: Sequence[HealthRule]) -> list[str]:
    """Messages for expressions that do not compile (checked before any sync)."""
    errors = []
    for rule in rules:
        for name in ("current", "failed"):
            expression = getattr(rule, name)
            if not expression:
                continue
            try:
                default_cache().get(expression, VARIABLES)
            except CelCompileError as err:
                errors.append(f"healthExpressions {rule.kind} {name}: {err}")
    return errors


def _holds(expression: str, obj: Mapping[str, Any]) -> bool:
    cache = default_cache()
    value = cache.get(expression, VARIABLES).evaluate(cache.backend.activation({"object": obj}))
    if not isinstance(value, bool):
        raise CelEvaluationError(f"{expression!r} gave {type(value).__name__}, not a bool")
    return value


def rule_for(obj: Mapping[str, Any], rules: Sequence[HealthRule]) -> HealthRule | None:
    """The rule for the object's apiVersion and kind, if any."""
    return next(
        (r for r in rules if r.api_version == obj.get("apiVersion") and r.kind == obj.get("kind")),
        None,
    )


def health_by_rule(obj: Mapping[str, Any], rule: HealthRule) -> Health:
    """Degraded if ``failed`` holds, Healthy if ``current`` holds, else Progressing."""
    try:
        if rule.failed and _holds(rule.failed, obj):
            return Health("Degraded", f"health expression matched: {rule.failed}")
        if _holds(rule.current, obj):
            return Health("Healthy")
        return Health("Progressing", f"waiting for: {rule.current}")
    except (CelCompileError, CelEvaluationError) as err:
        return Health("Unknown", f"health expression failed: {err}")
