"""The GuardrailTest file format for `qd check --tests`, like `kyverno test`.

A test names policies (built-in names/categories or policy files), resource files,
and the expected result per (policy, resource): `pass`, `fail` (any Deny/Warn/Audit
outcome, including errors) or `skip` (the policy does not look at the resource).
Judging is pure: expected results against a Report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from quarterdeck.api.policy import API_VERSION, PolicyLoadError
from quarterdeck.policy.evaluate import Report
from quarterdeck.policy.matching import ObjectRef

TEST_KIND = "GuardrailTest"
Outcome = Literal["pass", "fail", "skip"]


class ExpectedResult(msgspec.Struct, forbid_unknown_fields=True):
    policy: str
    resource: str  # Kind/name or Kind/namespace/name
    result: Outcome


class TestMeta(msgspec.Struct):
    name: str


class GuardrailTest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    metadata: TestMeta
    policies: list[str]
    resources: list[str]
    results: list[ExpectedResult]
    api_version: str = API_VERSION
    kind: str = TEST_KIND


def parse_test(doc: dict[str, Any], where: str) -> GuardrailTest:
    if doc.get("kind") != TEST_KIND:
        raise PolicyLoadError(f"{where}: kind must be {TEST_KIND}")
    try:
        return msgspec.convert(doc, GuardrailTest)
    except msgspec.ValidationError as err:
        raise PolicyLoadError(f"{where}: {err}") from None


@dataclass(frozen=True, slots=True)
class TestOutcome:
    test: str
    policy: str
    resource: str
    expected: Outcome
    actual: Outcome | Literal["missing"]

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


def _key(ref: ObjectRef) -> set[str]:
    keys = {f"{ref.kind}/{ref.name}"}
    if ref.namespace:
        keys.add(f"{ref.kind}/{ref.namespace}/{ref.name}")
    return keys


def judge(test: GuardrailTest, refs: list[ObjectRef], report: Report) -> list[TestOutcome]:
    """Compare expected results with what the engine decided.

    `missing` means the test names a resource that is not in its resource files, or a
    policy that is not among its policies.
    """
    in_scope = {policy: set(matched) for policy, matched in report.matched.items()}
    by_key = {k: ref for ref in refs for k in _key(ref)}
    failed = {(v.policy, v.object) for v in report.violations if v.actions}
    outcomes = []
    for expected in test.results:
        ref = by_key.get(expected.resource)
        actual: Outcome | Literal["missing"]
        if ref is None or expected.policy not in in_scope:
            actual = "missing"
        elif ref not in in_scope[expected.policy]:
            actual = "skip"
        else:
            actual = "fail" if (expected.policy, ref) in failed else "pass"
        outcomes.append(TestOutcome(test.metadata.name, expected.policy, expected.resource,
                                    expected.result, actual))
    return outcomes
