"""The pre-sync gate the delivery engine calls on a rendered set before applying it.

Pure: rendered objects and Guardrails in, a Gate out. Deny outcomes block the whole
sync (nothing is applied, the report names object, policy and message); Warn and
Audit outcomes let it through and are meant for the Application's status and events.

Besides the Guardrails, the gate predicts the cluster's own Pod Security admission:
an object in a namespace labelled `pod-security.kubernetes.io/enforce` whose pods
that level would refuse is denied here, under the policy name `pod-security`,
with the message the API server would give, so nothing of the sync is applied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from quarterdeck.api.policy import Guardrail
from quarterdeck.policy.compiled import CompileProblem
from quarterdeck.policy.evaluate import Report, Violation, check
from quarterdeck.policy.matching import object_ref
from quarterdeck.policy.pss.admission import predict
from quarterdeck.policy.pss.exemptions import DEFAULT, PodSecurityConfig

#: The policy name on denials predicted from namespace labels.
POD_SECURITY_ADMISSION = "pod-security"


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
    server_minor: int | None = None,
    pod_security: PodSecurityConfig = DEFAULT,
    username: str | None = None,
) -> Gate:
    """Evaluate `guardrails` on the rendered set; `namespaces` are live namespace labels
    (their Pod Security labels are predicted too); `server_minor` is the API server's
    minor version when known (`latest` means its rules, not newer ones);
    `pod_security` is its PodSecurity configuration and `username` who applies."""
    report = check(guardrails, rendered, namespaces=namespaces, clock=clock) \
        if guardrails else Report()
    admission = pod_security_denials(rendered, namespaces or {}, server_minor,
                                     pod_security, username)
    return Gate(
        denied=admission + [v for v in report.violations if "Deny" in v.actions],
        warnings=[v for v in report.violations if "Warn" in v.actions],
        audits=[v for v in report.violations if "Audit" in v.actions],
        problems=report.problems,
    )


def pod_security_denials(rendered: Sequence[Mapping[str, Any]],
                         namespaces: Mapping[str, Mapping[str, str]],
                         server_minor: int | None = None,
                         pod_security: PodSecurityConfig = DEFAULT,
                         username: str | None = None) -> list[Violation]:
    """What the namespaces' Pod Security enforce labels would refuse, as Deny outcomes."""
    return [
        Violation(POD_SECURITY_ADMISSION, object_ref(r.obj), "violation", r.message,
                  "Forbidden", ("Deny",), f"podSecurity {r.decision.policy}")
        for r in predict(list(rendered), namespaces, server_minor, config=pod_security,
                         username=username)
    ]
