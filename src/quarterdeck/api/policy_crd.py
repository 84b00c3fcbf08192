"""The Guardrail CRD, generated from the msgspec types by the project's one CRD generator."""

from __future__ import annotations

from typing import Any

from quarterdeck.api.crd import KindSpec, PrinterColumn, crd
from quarterdeck.api.policy import GROUP, VERSION, Guardrail

KINDS = (
    KindSpec(
        Guardrail,
        GROUP,
        VERSION,
        "guardrails",
        scope="Cluster",
        short_names=("gr",),
        categories=("quarterdeck",),
        columns=(
            PrinterColumn("Actions", ".spec.validationActions"),
            PrinterColumn("Failure", ".spec.failurePolicy"),
        ),
    ),
)


def guardrail_crd() -> dict[str, Any]:
    """The Guardrail CRD manifest (cluster-scoped, group policy.quarterdeck.dev)."""
    return crd(KINDS[0])
