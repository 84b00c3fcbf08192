"""The project's YAML loader: Kubernetes' scalar rules, bounds, and exact error positions."""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quarterdeck import kyaml

# The classic 544-byte "billion laughs": nine levels of nine aliases, 9**9 strings.
BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2001-12-14t21:59:43.10-05:00", "2001-12-14t21:59:43.10-05:00"),
        ("2001-12-14", "2001-12-14"),
        ("yes", True),
        ("No", False),
        ("on", True),
        ("OFF", False),
        ("y", True),
        ("n", False),
        ("0777", 511),
        ("0o17", 15),
        ("0x1F", 31),
        ("-0x1F", -31),
        ("08", 8.0),
        ("1_000", 1000),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("+12", 12),
        ("12345678901234567890", 12345678901234567890),
        ("123456789012345678901234", 1.2345678901234568e23),
        ("1e400", "1e400"),
        ("~", None),
        ("Null", None),
        ("nginx:1.25", "nginx:1.25"),
        ("0x", "0x"),
        ("1.2.3", "1.2.3"),
    ],
)
def test_plain_scalars_resolve_as_kubernetes_does(text: str, value: object) -> None:
    got = kyaml.load(f"v: {text}\n", "s.yaml")["v"]
    assert got == value and type(got) is type(value)


def test_quoted_and_tagged_strings() -> None:
    doc = kyaml.load("d: 'yes'\ne: \"0777\"\nf: !!str 12\ng: !!binary aGVsbG8=\n", "s")
    assert doc == {"d": "yes", "e": "0777", "f": "12", "g": "hello"}
    assert kyaml.resolve_plain(".inf") == math.inf


@pytest.mark.parametrize("text", [".inf", "-.Inf", ".nan"])
def test_infinities_are_refused_as_kubectl_refuses_them(text: str) -> None:
    with pytest.raises(kyaml.YAMLError, match=r"s:2:7: infinity and NaN have no JSON form"):
        kyaml.load(f"a: 1\nspec: {text}\n", "s")


def test_keys_become_strings_as_in_json() -> None:
    assert kyaml.load("yes: a\nn: b\n", "k") == {"true": "a", "false": "b"}
    assert kyaml.load("5: a\n1.5: b\n1234567.0: c\n", "k") == {
        "5": "a",
        "1.5": "b",
        "1.234567e+06": "c",
    }


def test_repeated_keys_take_the_last_value_as_kubectl_does() -> None:
    assert kyaml.load("a: 1\na: 2\ny: 3\nyes: 4\n", "k.yaml") == {"a": 2, "true": 4}


def test_merge_keys_merge_as_kubectl_does() -> None:
    # kubectl apply + get -o json on v1.36: a "<<" overrides the keys before it
    doc = kyaml.load("base: &b {x: 1, z: 2}\np:\n  z: 3\n  <<: *b\nq:\n  <<: *b\n  z: 3\n", "m")
    assert doc["p"] == {"z": 2, "x": 1}
    assert doc["q"] == {"z": 3, "x": 1}
    many = kyaml.load("a: &a {x: 1}\nb: &b {x: 2, w: 2}\nm: {<<: [*a, *b]}\n", "m")
    assert many["m"] == {"x": 1, "w": 2}


def test_aliases_are_copies_not_shared_objects() -> None:
    doc = kyaml.load("a: &x {l: [1]}\nb: *x\n", "c")
    doc["b"]["l"].append(2)
    assert doc["a"] == {"l": [1]}


def test_the_billion_laughs_bomb_is_refused_before_memory_is_spent() -> None:
    tracemalloc.start()
    with pytest.raises(kyaml.YAMLError, match=r"bomb.yaml:\d+:\d+: aliases expand to more than"):
        kyaml.load(BOMB, "bomb.yaml")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 64 << 20


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: " + "[" * 2000 + "]" * 2000 + "\n", r"deep.yaml:1:\d+: nesting is deeper than 200"),
        (b"a: b\nc: \xff\xfe\n", r"deep.yaml:2:4: not UTF-8 text"),
        ("a: b\nc: d\x00\n", r"deep.yaml:2:5: NUL character"),
        ("a: [1, 2\nb: 3\n", r"deep.yaml:2:\d+: invalid YAML: "),
        ("? [1]\n: 2\n", r"deep.yaml:1:3: a mapping key must be a scalar"),
        ("a: *nope\n", r"deep.yaml:1:4: alias \*nope has no anchor"),
        ("a: !!int abc\n", r"deep.yaml:1:4: cannot decode 'abc' as !!int"),
    ],
)
def test_bad_text_names_file_line_and_column(text: str | bytes, message: str) -> None:
    with pytest.raises(kyaml.YAMLError, match=message):
        kyaml.load_all(text, "deep.yaml")


def test_deep_alias_nesting_is_bounded_too() -> None:
    inner = "[" * 150 + "]" * 150
    with pytest.raises(kyaml.YAMLError, match="nesting is deeper"):
        kyaml.load(f"a: &a {inner}\nb: {'[' * 100}*a{']' * 100}\n", "x")


def test_documents_carry_their_first_line() -> None:
    docs = kyaml.load_all("a: 1\n---\n# c\n\nb: 2\n---\n---\nc: 3\n", "d")
    assert [(d.data, d.line) for d in docs] == [({"a": 1}, 1), ({"b": 2}, 5), ({"c": 3}, 8)]


def test_one_document_expected() -> None:
    with pytest.raises(kyaml.YAMLError, match="d:3:1: expected one YAML document"):
        kyaml.load("a: 1\n---\nb: 2\n", "d")


def test_read_refuses_large_files_without_reading_them(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(50 << 20)  # sparse: costs no disk
    tracemalloc.start()
    with pytest.raises(kyaml.YAMLError, match=r"^repo/big.yaml: file is over the limit"):
        kyaml.read_all(big, "repo/big.yaml", kyaml.Limits(max_bytes=1 << 20))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4 << 20


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["yes", "no", "on", "0777", "0o7", "1e3", "2001-12-14t21:59:43.10-05:00", "~"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None)
@given(values)
def test_dump_then_load_gives_the_same_value(value: object) -> None:
    assert kyaml.load(kyaml.dump({"v": value}), "round-trip") == {"v": value}
