"""Kyverno conditions (`validate.deny.conditions`, `preconditions`) as CEL.

A condition is `{key, operator, value}` where key is usually a JMESPath variable
like `{{ request.object.spec.[ephemeralContainers, initContainers, containers][].
securityContext.capabilities.add[] }}`. The subset read here: paths under
`request.object` (the pod or, for pod controllers, its template, as Kyverno's
autogen rewrites them) and `request.operation`, with field steps, `[]` flatten,
a multiselect list `.[a, b]`, `keys(@)` and a `|| 'default'`. A path is never
built as a list: each operator becomes nested `exists` / `all` over the path, so
`AnyNotIn` is "some value is not in the set". Anything else raises Untranslatable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from quarterdeck.policy.kyverno.pattern import Untranslatable, _glob, _quote

Pred = Callable[[str], str]
_VAR = re.compile(r"^\{\{\s*(.+?)\s*\}\}$")
_DEFAULT = re.compile(r"^(.*?)\s*\|\|\s*'([^']*)'$")


def _steps(path: str, where: str) -> list[str]:
    """`spec.[a, b][].c[]` -> ['spec', '[a,b]', '[]', 'c', '[]']."""
    out: list[str] = []
    i = 0
    while i < len(path):
        if path.startswith(".", i):
            i += 1
        elif path.startswith("[]", i):
            out.append("[]")
            i += 2
        elif path.startswith("[", i):
            end = path.index("]", i)
            out.append("[" + path[i + 1:end].replace(" ", "") + "]")
            i = end + 1
        else:
            match = re.match(r"[A-Za-z_][A-Za-z0-9_]*(\(@\))?", path[i:])
            if match is None:
                raise Untranslatable(f"{where}: JMESPath {path!r}")
            out.append(match.group(0))
            i += len(match.group(0))
    return out


def _over(steps: list[str], expr: str, pred: Pred, every: bool, depth: int = 0) -> str:
    """Exists (or, `every`, for all) value reached from `expr` by `steps`: pred(value)."""
    if not steps:
        return pred(expr)
    step, rest = steps[0], steps[1:]
    var = f"v{depth}"
    if step == "[]":
        inner = _over(rest, var, pred, every, depth + 1)
        return f"{expr}.{'all' if every else 'exists'}({var}, {inner})"
    if step == "keys(@)":
        if rest[:1] == ["[]"]:
            rest = rest[1:]
        inner = _over(rest, var, pred, every, depth + 1)
        return f"{expr}.{'all' if every else 'exists'}({var}, {inner})"
    if step.startswith("["):
        names = step[1:-1].split(",")
        parts = [_over([n, *rest], expr, pred, every, depth) for n in names]
        return "(" + (" && " if every else " || ").join(parts) + ")"
    present = f"{_quote(step)} in {expr}"
    inner = _over(rest, f"{expr}[{_quote(step)}]", pred, every, depth)
    return f"(!({present}) || {inner})" if every else f"({present} && {inner})"


def _member(value: Any, where: str) -> Pred:
    items = value if isinstance(value, list) else [value]
    plain = [str(i) for i in items if not any(c in str(i) for c in "*?")]
    globs = [_glob(str(i)) for i in items if any(c in str(i) for c in "*?")]

    def pred(x: str) -> str:
        parts = [f"string({x}) in [{', '.join(_quote(p) for p in plain)}]"] if plain else []
        parts += [f"string({x}).matches({_quote(g)})" for g in globs]
        return "(" + (" || ".join(parts) or "false") + ")"
    return pred


def _compare(op: str, number: float) -> Pred:
    return lambda x: f"double(string({x})) {op} {number!r}"


def condition(cond: dict[str, Any], root: str, where: str) -> str:
    """CEL that is true when one Kyverno condition holds."""
    key, operator, value = cond.get("key"), str(cond.get("operator", "")), cond.get("value")
    text = str(key).strip()
    match = _VAR.match(text)
    if match is None:
        raise Untranslatable(f"{where}: a condition key without a {{{{ }}}} variable: {key!r}")
    path, default = match.group(1), None
    if found := _DEFAULT.match(path):
        path, default = found.group(1), found.group(2)
    if path == "request.operation":
        steps, base = [], "request.operation"
    elif path.startswith("request.object."):
        steps, base = _steps(path.removeprefix("request.object."), where), root
    else:
        raise Untranslatable(f"{where}: the variable {path!r}")
    member = _member(value, where)
    ops: dict[str, tuple[bool, Pred]] = {
        "AnyIn": (False, member), "AnyNotIn": (False, lambda x: f"!{member(x)}"),
        "AllIn": (True, member), "AllNotIn": (True, lambda x: f"!{member(x)}"),
        "Equals": (False, member), "In": (False, member),
        "NotEquals": (True, lambda x: f"!{member(x)}"), "NotIn": (True, lambda x: f"!{member(x)}"),
    }
    if isinstance(value, int | float) and not isinstance(value, bool):
        for name, op in (("GreaterThan", ">"), ("GreaterThanOrEquals", ">="),
                         ("LessThan", "<"), ("LessThanOrEquals", "<=")):
            ops[name] = (False, _compare(op, float(value)))
    if operator not in ops:
        raise Untranslatable(f"{where}: the operator {operator!r}")
    every, pred = ops[operator]
    held = _over(steps, base, pred, every)
    if default is None:
        return held
    reached = _over(steps, base, lambda _: "true", False)
    return f"({held} || (!{reached} && {pred(_quote(default))}))" if not every else \
        f"({held} && ({reached} || {pred(_quote(default))}))"


def conditions(block: Any, root: str, where: str) -> str:
    """`any` / `all` lists (or a bare list, meaning all) as one CEL expression."""
    if isinstance(block, list):
        block = {"all": block}
    if not isinstance(block, dict) or not set(block) <= {"any", "all"}:
        raise Untranslatable(f"{where}: conditions {block!r}")
    parts = []
    if block.get("any"):
        parts.append("(" + " || ".join(condition(c, root, f"{where}.any[{i}]")
                                        for i, c in enumerate(block["any"])) + ")")
    if block.get("all"):
        parts.append("(" + " && ".join(condition(c, root, f"{where}.all[{i}]")
                                        for i, c in enumerate(block["all"])) + ")")
    return " && ".join(parts) or "true"
