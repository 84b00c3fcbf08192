"""Kyverno `validate.pattern` / `anyPattern` as one CEL expression.

A pattern is an overlay on the resource: a map's keys must be present and match
(`=(key)`: only if present; `X(key)`: must be absent; `(key)`: a condition, the
rest of the map is checked only when it holds), a one-element list means every
element matches, and a scalar is a Kyverno value pattern: alternatives with `|`,
wildcards `*` and `?`, comparisons `>`, `>=`, `<`, `<=`, `!`, and `null`.
Anything else raises Untranslatable naming the part, so nothing is dropped silently.
"""

from __future__ import annotations

import re
from typing import Any


class Untranslatable(ValueError):
    """A part of a Kyverno rule with no CEL equivalent here; the message names it."""


_ANCHOR = re.compile(r"^(=|X|\^|\+|<)?\((.+)\)$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _index(expr: str, key: str) -> str:
    return f"{expr}[{_quote(key)}]"


def _glob(text: str) -> str:
    return "^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                         for c in text) + "$"


def scalar(value: Any, expr: str, where: str) -> str:
    """CEL for a Kyverno value pattern on `expr` (which is present)."""
    if isinstance(value, bool):
        return f"string({expr}) == {_quote(str(value).lower())}"
    if isinstance(value, int | float):
        return f"string({expr}) == {_quote(str(value))}"
    if value is None:
        return "false"  # present, but the pattern wants null
    if not isinstance(value, str):
        raise Untranslatable(f"{where}: value pattern {value!r}")
    return "(" + " || ".join(_alternative(a.strip(), expr, where)
                             for a in value.split("|")) + ")"


def _alternative(text: str, expr: str, where: str) -> str:
    for op in (">=", "<=", ">", "<"):
        if text.startswith(op):
            number = text[len(op):].strip()
            if not _NUMBER.match(number):
                raise Untranslatable(f"{where}: comparison {text!r} (only numbers)")
            return f"double(string({expr})) {op} {float(number)!r}"
    if text.startswith("!"):
        return f"!({_alternative(text[1:].strip(), expr, where)})"
    if text == "*":
        return "true"
    if "*" in text or "?" in text:
        return f"string({expr}).matches({_quote(_glob(text))})"
    if text == "null":
        return "false"
    return f"string({expr}) == {_quote(text)}"


def _wants_null(value: Any) -> bool:
    return value is None or value == "null"


def translate(pattern: Any, expr: str, where: str = "pattern") -> str:
    """CEL that is true when the value `expr` matches `pattern`."""
    if isinstance(pattern, dict):
        return _map(pattern, expr, where)
    if isinstance(pattern, list):
        if len(pattern) != 1:
            raise Untranslatable(f"{where}: list patterns with {len(pattern)} elements")
        return f"{expr}.all(e{len(where)}, {translate(pattern[0], f'e{len(where)}', where + '[]')})"
    return scalar(pattern, expr, where)


def _map(pattern: dict[str, Any], expr: str, where: str) -> str:
    conditions, checks = [], []
    for raw_key, value in pattern.items():
        match = _ANCHOR.match(str(raw_key))
        anchor, key = (match.group(1) or "()", match.group(2)) if match else ("", str(raw_key))
        path = f"{where}.{raw_key}"
        if anchor in ("^", "+", "<"):
            raise Untranslatable(f"{path}: the {anchor}() anchor")
        if "*" in key or "?" in key:
            checks.append(_wildcard_key(anchor, key, value, expr, path))
            continue
        present = f"{_quote(key)} in {expr}"
        child = _index(expr, key)
        if anchor == "X" or _wants_null(value):
            checks.append(f"(!({present}) || {child} == null)")
        elif anchor == "()":
            conditions.append(f"({present} && {translate(value, child, path)})")
        elif anchor == "=":
            checks.append(f"(!({present}) || {translate(value, child, path)})")
        else:
            checks.append(f"({present} && {translate(value, child, path)})")
    body = " && ".join(checks) or "true"
    if conditions:
        return f"(!({' && '.join(conditions)}) || ({body}))"
    return f"({body})"


def _wildcard_key(anchor: str, key: str, value: Any, expr: str, path: str) -> str:
    if anchor not in ("=", ""):
        raise Untranslatable(f"{path}: a wildcard key with the {anchor}() anchor")
    var = f"k{len(path)}"
    return (f"{expr}.all({var}, !{var}.matches({_quote(_glob(key))}) || "
            f"{translate(value, f'{expr}[{var}]', path)})")
