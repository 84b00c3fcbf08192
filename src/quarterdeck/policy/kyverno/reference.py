"""The Kyverno CLI as a reference to judge our Kyverno import against.

`qd policy import` translates Kyverno policies into Guardrails; the honest test of that
translation is Kyverno's own verdict on the same resources. The CLI is built from the Go
module proxy into the binary cache like any other pinned command (never in CI: tests
that need it skip when it is not built).
"""

from __future__ import annotations

from quarterdeck.devcluster.gocommand import GoCommand

KYVERNO_VERSION = "v1.19.1"
KYVERNO = GoCommand(
    "kyverno",
    "github.com/kyverno/kyverno",
    KYVERNO_VERSION,
    "github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno",
    ldflags=f"-s -w -X github.com/kyverno/kyverno/pkg/version.BuildVersion={KYVERNO_VERSION}",
)
