"""Kyverno itself against our import: the same policies, the same resources, the same
verdicts. Needs the Kyverno CLI built into the binary cache (`kyverno` from the Go
module proxy, `quarterdeck.policy.kyverno.reference.KYVERNO`); CI does not build it, so
there the test is skipped. No cluster: `kyverno apply` and `kyverno test` run offline.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from quarterdeck.devcluster.gocommand import cached_command
from quarterdeck.policy.kyverno.convert import import_policies
from quarterdeck.policy.kyverno.reference import (
    KYVERNO,
    apply,
    failures,
    ours,
    report_documents,
    reported,
)

FIXTURES = Path(__file__).parents[2] / "examples" / "kyverno" / "pod-security"
BINARY = cached_command(KYVERNO)
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(BINARY is None, reason="the Kyverno CLI is not built (see "
                       "quarterdeck.policy.kyverno.reference)"),
]


def load(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((FIXTURES / name).read_text()) if d]


def test_kyverno_apply_denies_what_our_import_denies() -> None:
    assert BINARY is not None
    imported = import_policies(load("policies.yaml"))
    theirs = reported(report_documents(
        apply(BINARY, FIXTURES / "policies.yaml", FIXTURES / "resources.yaml")))
    mine = ours(imported, load("resources.yaml"))
    rules = {(p, r.removeprefix("autogen-")) for p, r in imported.rules.values()}
    assert {k[:2] for k in theirs} >= rules, "Kyverno reported on every translated rule"
    only_theirs = sorted(failures(theirs, rules) - failures(mine, rules))
    only_ours = sorted(failures(mine, rules) - failures(theirs, rules))
    assert (only_theirs, only_ours) == ([], []), "verdicts differ"
    assert len(failures(theirs, rules)) >= 20


def test_the_expected_results_we_test_against_are_kyvernos() -> None:
    """`kyverno test` on the fixture directory: the results our unit test holds our
    import to are the ones Kyverno itself gives."""
    done = subprocess.run([str(BINARY), "test", str(FIXTURES), "--remove-color"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
