"""The Kubernetes CEL documentation's examples, run on our engine."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from quarterdeck.policy.cel_conformance import ERRORS, EXAMPLES
from quarterdeck.policy.cel_engine import CelEvaluationError, default_cache


def run(expression: str) -> Any:
    cache = default_cache()
    return cache.get(expression, ()).evaluate(cache.backend.activation({}))


@pytest.mark.parametrize(("expression", "expected"), EXAMPLES)
def test_documented_example(expression: str, expected: Any) -> None:
    assert run(expression) == expected


@pytest.mark.parametrize("expression", ERRORS)
def test_documented_error(expression: str) -> None:
    with pytest.raises(CelEvaluationError):
        run(expression)


@pytest.mark.xfail(
    strict=True,
    reason="cel-expr-python cannot return a duration from a dyn-typed overload; see docs/policy.md",
)
def test_sum_of_durations() -> None:
    expected = datetime.timedelta(minutes=1, seconds=1)
    assert run("[duration('1m'), duration('1s')].sum()") == expected
