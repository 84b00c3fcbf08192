"""The Kyverno CLI as a reference to judge our Kyverno import against.

`qd policy import` translates Kyverno policies into Guardrails; the honest test of that
translation is Kyverno's own verdict on the same resources. The CLI is built from the Go
module proxy into the binary cache like any other pinned command (never in CI: tests
that need it skip when it is not built).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from quarterdeck.devcluster.gocommand import GoCommand
from quarterdeck.policy.evaluate import check
from quarterdeck.policy.kyverno.convert import Imported

KYVERNO_VERSION = "v1.19.1"
KYVERNO = GoCommand(
    "kyverno",
    "github.com/kyverno/kyverno",
    KYVERNO_VERSION,
    "github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno",
    ldflags=f"-s -w -X github.com/kyverno/kyverno/pkg/version.BuildVersion={KYVERNO_VERSION}",
)


#: (policy, rule, kind, name): one rule's verdict on one resource
Key = tuple[str, str, str, str]


def _rule_name(rule: str) -> str:
    """A rule as the source policy names it: autogen rules are its pod-controller twins."""
    for prefix in ("autogen-cronjob-", "autogen-"):
        if rule.startswith(prefix):
            return rule.removeprefix(prefix)
    return rule


def reported(reports: Iterable[Mapping[str, Any]]) -> dict[Key, str]:
    """Kyverno's verdicts from its (Cluster)PolicyReports: pass, fail, warn, error, skip.
    A namespaced Policy's name comes as `namespace/name`; the key keeps the name."""
    out: dict[Key, str] = {}
    for report in reports:
        for result in report.get("results") or []:
            policy = str(result.get("policy", "")).rpartition("/")[2]
            rule = _rule_name(str(result.get("rule", "")))
            for res in result.get("resources") or []:
                key = (policy, rule, str(res.get("kind", "")), str(res.get("name", "")))
                out[key] = str(result.get("result", ""))
    return out


def report_documents(stdout: str) -> list[dict[str, Any]]:
    """The JSON reports in `kyverno apply --policy-report --output-format json` output:
    one JSON document per line, between `---` separators and progress text (which
    may end without a newline: `Mutation has been applied successfully.{...}`)."""
    docs = []
    for line in stdout.splitlines():
        start = line.find('{"')
        if start >= 0 and line.rstrip().endswith("}"):
            doc = json.loads(line[start:])
            if isinstance(doc, dict) and "results" in doc:
                docs.append(doc)
    return docs


def ours(imported: Imported, resources: list[dict[str, Any]]) -> dict[Key, str]:
    """Our verdicts in the same keys: fail for a violation, pass for a matched object."""
    report = check(imported.guardrails, resources)
    out: dict[Key, str] = {}
    for guardrail, refs in report.matched.items():
        policy, rule = imported.rules[guardrail]
        for ref in refs:
            out[(policy, _rule_name(rule), ref.kind, ref.name)] = "pass"
    for v in report.violations:
        policy, rule = imported.rules[v.policy]
        out[(policy, _rule_name(rule), v.object.kind, v.object.name)] = "fail"
    return out


def failures(verdicts: Mapping[Key, str], rules: set[tuple[str, str]]) -> set[Key]:
    """The (policy, rule, resource) that are denied, among `rules` only."""
    return {k for k, r in verdicts.items() if r in ("fail", "error") and k[:2] in rules}


def apply(binary: Path, policies: Path, resources: Path, timeout: float = 300) -> str:
    """Run `kyverno apply` on files; its stdout (it exits 1 when a resource fails)."""
    done = subprocess.run(
        [str(binary), "apply", str(policies), "--resource", str(resources),
         "--policy-report", "--output-format", "json", "--remove-color"],
        capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"kyverno apply exited {done.returncode}: "
                           f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    return done.stdout
