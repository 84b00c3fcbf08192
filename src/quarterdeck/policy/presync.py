"""The pre-sync gate the delivery engine calls on a rendered set before applying it.

Pure: rendered objects and Guardrails in, a Gate out. Deny outcomes block the whole
sync (nothing is applied, the report names object, policy and message); Warn and
Audit outcomes let it through and are meant for the Application's status and events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from quarterdeck.api.policy import Guardrail
from quarterdeck.policy.compiled import CompileProblem
from quarterdeck.policy.evaluate import Violation, check


@dataclass(frozen=True)
class Gate:
    denied: list[Violation] = field(default_factory=list)
    warnings: list[Violation] = field(default_factory=list)
    audits: list[Violation] = field(default_factory=list)
    problems: list[CompileProblem] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return bool(self.denied)

    def summary(self) -> str:
        """One line per denial, e.g. `Deployment/shop/web: disallow-latest-tag: ...`."""
        if not self.denied:
            return "guardrails passed"
        lines = [f"{v.object}: {v.policy}: {v.message}" for v in self.denied]
        return f"blocked by {len(self.denied)} guardrail violation(s):\n" + "\n".join(lines)


def presync(
    guardrails: Sequence[Guardrail],
    rendered: Sequence[Mapping[str, Any]],
    *,
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
    clock: Callable[[], float] | None = None,
) -> Gate:
    """Evaluate `guardrails` on the rendered set; `namespaces` are live namespace labels."""
    report = check(guardrails, rendered, namespaces=namespaces, clock=clock)
    return Gate(
        denied=[v for v in report.violations if "Deny" in v.actions],
        warnings=[v for v in report.violations if "Warn" in v.actions],
        audits=[v for v in report.violations if "Audit" in v.actions],
        problems=report.problems,
    )
