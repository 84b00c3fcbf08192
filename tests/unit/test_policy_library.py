"""Built-in Guardrails: each admits and denies its documented examples."""

from __future__ import annotations

import pytest

from quarterdeck.policy.evaluate import check
from quarterdeck.policy.library import builtins, select
from quarterdeck.policy.library_examples import Example, examples

EXAMPLES = examples()


def test_library_has_eleven_policies_and_all_compile() -> None:
    lib = builtins()
    assert len(lib) == 11
    report = check(list(lib.values()), [e.obj for e in EXAMPLES])
    assert report.problems == []


def test_every_builtin_has_allowed_and_denied_examples() -> None:
    for name in builtins():
        outcomes = {e.allowed for e in EXAMPLES if e.policy == name}
        assert outcomes == {True, False}, name


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"{e.policy}:{e.name}")
def test_example_decision(example: Example) -> None:
    report = check([builtins()[example.policy]], [example.obj])
    assert [str(r) for r in report.matched[example.policy]] != []
    denied = any(v.denied for v in report.violations)
    assert denied is not example.allowed, report.violations


def test_compliant_workload_passes_everything() -> None:
    compliant = [e.obj for e in EXAMPLES if e.name == "compliant"]
    assert check(list(builtins().values()), compliant).violations == []


def test_select_by_category_and_name() -> None:
    assert [g.name for g in select(["pss-restricted"])] == ["pss-restricted"]
    assert {g.name for g in select(["pod-security"])} == {"pss-baseline", "pss-restricted"}
    assert [g.name for g in select(["pss-baseline@v1.30"])] == ["pss-baseline-v1.30"]
    with pytest.raises(KeyError, match=r"the versions are v1\.0 to v1\.37 and latest"):
        select(["pss-restricted@v1.99"])
    with pytest.raises(KeyError, match="the levels are baseline and restricted"):
        select(["pss-strict@v1.30"])
    assert [g.name for g in select(["require-team-label"])] == ["require-team-label"]
    with pytest.raises(KeyError, match="nope"):
        select(["nope"])
