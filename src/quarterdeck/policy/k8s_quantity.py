"""The Kubernetes CEL quantity library (`quantity('1Gi').isGreaterThan(...)`).

Quantities are held as exact rationals (fractions.Fraction), so `1Gi == 1024Mi`
and `50k + 20k == 70k` compare exactly, as resource.Quantity.Cmp does in Go.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from quarterdeck.policy.cel_library import CelFunctionError, Overload, tagged, untag

_TAG = "@quantity"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# Like Go's resource.ParseQuantity (and so the API server), the number may be empty:
# "Mi" and "-" are zero. Only the empty string is rejected.
_NUMBER = re.compile(r"^([+-]?)(\d+(?:\.\d*)?|\.\d+|)(.*)$")
_EXPONENT = re.compile(r"^[eE]([+-]?\d+)$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse_quantity(text: str) -> Fraction:
    """Exact value of a Kubernetes quantity string; ValueError if it is not one."""
    match = _NUMBER.match(text)
    if not match or not text:
        raise CelFunctionError(f"quantities must match the regular expression: {text!r}")
    sign, digits, suffix = match.groups()
    value = Fraction(digits or 0)
    if suffix in _BINARY:
        value *= _BINARY[suffix]
    elif suffix in _DECIMAL:
        value *= Fraction(10) ** _DECIMAL[suffix]
    elif exponent := _EXPONENT.match(suffix):
        value *= Fraction(10) ** int(exponent.group(1))
    else:
        raise CelFunctionError(f"unable to parse quantity's suffix: {text!r}")
    return -value if sign == "-" else value


def _encode(value: Fraction) -> dict[str, str]:
    return tagged(_TAG, f"{value.numerator}/{value.denominator}")


def _decode(value: Any) -> Fraction:
    return Fraction(untag(_TAG, value, "Quantity"))


def quantity(text: str) -> dict[str, str]:
    return _encode(parse_quantity(text))


def is_quantity(text: str) -> bool:
    try:
        parse_quantity(text)
    except CelFunctionError:
        return False
    return True


def _is_int64(value: Fraction) -> bool:
    return value.denominator == 1 and _INT64_MIN <= value.numerator <= _INT64_MAX


def is_integer(q: Any) -> bool:
    return _is_int64(_decode(q))


def as_integer(q: Any) -> int:
    value = _decode(q)
    if not _is_int64(value):
        raise CelFunctionError("cannot convert value to integer")
    return value.numerator


def as_approximate_float(q: Any) -> float:
    return float(_decode(q))


def sign(q: Any) -> int:
    """Not exposed to CEL: the API server (1.36) has no `sign` on Quantity."""
    value = _decode(q)
    return (value > 0) - (value < 0)


def compare_to(a: Any, b: Any) -> int:
    x, y = _decode(a), _decode(b)
    return (x > y) - (x < y)


def _operand(other: Any) -> Fraction:
    return Fraction(other) if isinstance(other, int) else _decode(other)


def add(a: Any, b: Any) -> dict[str, str]:
    return _encode(_decode(a) + _operand(b))


def sub(a: Any, b: Any) -> dict[str, str]:
    return _encode(_decode(a) - _operand(b))


OVERLOADS = [
    Overload("quantity", "string_to_quantity", ("string",), "map", quantity),
    Overload("isQuantity", "is_quantity_string", ("string",), "bool", is_quantity),
    Overload("isInteger", "quantity_is_integer", ("map",), "bool", is_integer, member=True),
    Overload("asInteger", "quantity_get_integer", ("map",), "int", as_integer, member=True),
    Overload(
        "asApproximateFloat", "quantity_get_float", ("map",), "double", as_approximate_float,
        member=True,
    ),
    Overload(
        "isGreaterThan", "quantity_is_greater_than", ("map", "map"), "bool",
        lambda a, b: compare_to(a, b) > 0, member=True,
    ),
    Overload(
        "isLessThan", "quantity_is_less_than", ("map", "map"), "bool",
        lambda a, b: compare_to(a, b) < 0, member=True,
    ),
    Overload("compareTo", "quantity_compare_to", ("map", "map"), "int", compare_to, member=True),
    Overload("add", "quantity_add", ("map", "map"), "map", add, member=True),
    Overload("add", "quantity_add_int", ("map", "int"), "map", add, member=True),
    Overload("sub", "quantity_sub", ("map", "map"), "map", sub, member=True),
    Overload("sub", "quantity_sub_int", ("map", "int"), "map", sub, member=True),
]
