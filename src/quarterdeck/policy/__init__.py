"""Guardrails as CEL: `evaluate(policies, objects) -> list[Violation]` and friends.

The delivery engine's pre-sync hook, `qd check` and the benchmark all call the same
pure functions exported here.
"""

from quarterdeck.policy.evaluate import Budget, Report, Violation, check, evaluate
from quarterdeck.policy.presync import Gate, presync

__all__ = ["Budget", "Gate", "Report", "Violation", "check", "evaluate", "presync"]
