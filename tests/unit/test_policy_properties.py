"""Invariants of the pure policy decisions, checked with hypothesis."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import example, given, settings
from hypothesis import strategies as st

from quarterdeck.api.policy import LabelSelector, load_policies
from quarterdeck.policy import k8s_quantity as q
from quarterdeck.policy.evaluate import evaluate
from quarterdeck.policy.export import export_all
from quarterdeck.policy.library import builtins
from quarterdeck.policy.library_examples import examples
from quarterdeck.policy.matching import selector_matches

SUFFIXES = ["", "m", "k", "M", "G", "Ki", "Mi", "Gi", "e3", "E-2"]
quantities = st.builds(
    lambda n, s: f"{n}{s}", st.integers(-(10**6), 10**6), st.sampled_from(SUFFIXES)
)
EXAMPLE_OBJECTS = [e.obj for e in examples()]


@given(quantities, quantities)
def test_quantity_compare_is_antisymmetric_and_add_sub_invert(a: str, b: str) -> None:
    qa, qb = q.quantity(a), q.quantity(b)
    assert q.compare_to(qa, qb) == -q.compare_to(qb, qa)
    assert q.compare_to(q.sub(q.add(qa, qb), qb), qa) == 0
    exact = q.parse_quantity(a)
    assert q.is_integer(qa) == (exact.denominator == 1)
    assert q.sign(qa) == (exact > 0) - (exact < 0)
    assert Fraction(q.as_approximate_float(qa)) == Fraction(float(exact))


@settings(max_examples=25, deadline=None)
@given(st.permutations(EXAMPLE_OBJECTS))
def test_decisions_do_not_depend_on_object_order(objects: list[dict[str, object]]) -> None:
    policies = list(builtins().values())
    baseline = evaluate(policies, EXAMPLE_OBJECTS)
    assert sorted(map(repr, evaluate(policies, objects))) == sorted(map(repr, baseline))


@settings(max_examples=10, deadline=None)
@given(st.lists(st.sampled_from(sorted(n for n, g in builtins().items()
                                       if g.spec.pod_security is None)), min_size=1, unique=True))
def test_export_then_load_gives_the_same_decisions(names: list[str]) -> None:
    policies = [builtins()[n] for n in names]
    loaded, _ = load_policies(export_all(policies))
    assert [g.spec for g in loaded] == [g.spec for g in policies]
    assert evaluate(loaded, EXAMPLE_OBJECTS) == evaluate(policies, EXAMPLE_OBJECTS)


labels = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from(["1", "2"]))


@given(labels, labels, st.sampled_from(["x", "y"]))
def test_unrelated_labels_do_not_change_selector_result(
    wanted: dict[str, str], have: dict[str, str], extra: str
) -> None:
    selector = LabelSelector(match_labels=wanted)
    assert selector_matches(selector, have) == selector_matches(selector, {**have, extra: "v"})


cel_noise = st.text(alphabet="object.spec()[]{}'\"!&|=<>+-*/?:, abcxyz0123456789_", max_size=40)


@settings(max_examples=30, deadline=None)
@given(cel_noise)
@example("0//")  # a comment that once swallowed the engine's closing parenthesis
def test_a_broken_policy_never_takes_the_engine_down(expression: str) -> None:
    """Whatever text a validation holds, evaluate returns, and the sound policies beside it
    decide exactly as they do alone."""
    from quarterdeck.api.policy import guardrail_from_dict

    broken = guardrail_from_dict(
        {
            "apiVersion": "policy.quarterdeck.dev/v1alpha1",
            "kind": "Guardrail",
            "metadata": {"name": "zz-broken"},
            "spec": {
                "matchConstraints": {
                    "resourceRules": [
                        {"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"]}
                    ]
                },
                "validations": [{"expression": expression}],
            },
        }
    )
    sound = list(builtins().values())
    together = evaluate([*sound, broken], EXAMPLE_OBJECTS)
    assert [v for v in together if v.policy != "zz-broken"] == evaluate(sound, EXAMPLE_OBJECTS)
