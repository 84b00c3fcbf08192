"""Guardrail outcomes of a sync as Application status and Event text. Pure.

The pre-sync gate (``quarterdeck.policy.presync``) decides; this module only says
how its Warn and Audit outcomes are kept in ``status.guardrailWarnings`` and which
of them are new enough to be worth a Warning Event (a periodic resync that finds
the same warnings again must not repeat the Event every interval).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from quarterdeck.api.delivery import ApplicationStatus, GuardrailWarning
from quarterdeck.api.policy import Guardrail
from quarterdeck.policy.presync import Gate

#: At most this many findings are kept in status, so a policy that flags every
#: object of a large Application cannot grow the object past etcd's limits.
MAX_FINDINGS = 100
_ACTIONS: tuple[Literal["Warn", "Audit"], ...] = ("Warn", "Audit")


def findings(gate: Gate) -> list[GuardrailWarning]:
    """Warn and Audit outcomes of ``gate`` (each once), sorted, at most MAX_FINDINGS."""
    seen = dict.fromkeys([*gate.warnings, *gate.audits])
    out = [
        GuardrailWarning(
            policy=v.policy,
            actions=[a for a in _ACTIONS if a in v.actions],
            api_version=v.object.api_version,
            kind=v.object.kind,
            name=v.object.name,
            namespace=v.object.namespace,
            message=v.message,
        )
        for v in seen
    ]
    out.sort(key=lambda w: (w.policy, w.kind, w.namespace, w.name, w.message))
    return out[:MAX_FINDINGS]


def describe(finding: GuardrailWarning) -> str:
    """`Deployment/shop/web: no-latest: images must be pinned (Warn)`."""
    where = f"{finding.namespace}/" if finding.namespace else ""
    actions = ", ".join(finding.actions)
    return f"{finding.kind}/{where}{finding.name}: {finding.policy}: {finding.message} ({actions})"


def unreported(
    old: Sequence[GuardrailWarning], new: Sequence[GuardrailWarning]
) -> list[GuardrailWarning]:
    """Findings in ``new`` that the previous status did not already record."""
    before = {describe(f) for f in old}
    return [f for f in new if describe(f) not in before]


def warning_event(old: ApplicationStatus | None, new: ApplicationStatus) -> str:
    """The message of a GuardrailWarning Event for a sync, or "" when nothing is new."""
    fresh = unreported(old.guardrail_warnings if old else [], new.guardrail_warnings)
    if not fresh:
        return ""
    lines = [describe(f) for f in fresh]
    return f"{len(fresh)} guardrail warning(s):\n" + "\n".join(lines)


def selects_namespaces(guardrails: Sequence[Guardrail]) -> bool:
    """Whether any guardrail needs live namespace labels (it has a namespaceSelector)."""
    return any(
        match is not None and match.namespace_selector is not None
        for g in guardrails
        for match in (g.spec.match_constraints, g.spec.match_resources)
    )
