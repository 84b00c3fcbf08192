"""CEL behind one small interface, so the backend can be swapped.

`CelBackend` compiles an expression against a set of declared variable names and
evaluates it on plain data. The default backend is cel-expr-python (the C++ CEL
runtime); cel-python can be plugged in behind the same protocol. Compiled programs
are cached per (expression, declared variables).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from quarterdeck.policy.cel_library import CelType, Overload, all_overloads

# Names a ValidatingAdmissionPolicy expression may use (authorizer is not offered:
# there is no authorizer outside an API server).
ADMISSION_VARIABLES = ("object", "oldObject", "request", "namespaceObject", "variables")


class CelCompileError(ValueError):
    """An expression that does not parse or type-check; carries the 1-based column."""

    def __init__(self, expression: str, detail: str, column: int | None) -> None:
        where = f" at column {column}" if column is not None else ""
        super().__init__(f"{detail}{where} in {expression!r}")
        self.expression = expression
        self.detail = detail
        self.column = column


class CelEvaluationError(RuntimeError):
    """An expression that failed on a particular input (missing field, bad overload...)."""


class CelProgram(Protocol):
    def evaluate(self, activation: Any) -> Any:
        """Run on an activation from the same backend; raise CelEvaluationError on error."""


class CelBackend(Protocol):
    name: str

    def compile(self, expression: str, variables: tuple[str, ...]) -> CelProgram:
        """Compile or raise CelCompileError; the result may be cached by the caller."""

    def activation(self, data: Mapping[str, Any]) -> Any:
        """Bind variable values once so several programs can run on them."""


_POSITION = re.compile(r"<input>:(\d+):(\d+): (.*?)(?:\n|$)")


def _compile_error(expression: str, message: str) -> CelCompileError:
    match = _POSITION.search(message)
    if match is None:
        return CelCompileError(expression, message.strip(), None)
    line, column, detail = int(match.group(1)), int(match.group(2)), match.group(3)
    if line > 1:  # report the column within the whole expression text
        column += sum(len(row) + 1 for row in expression.split("\n")[: line - 1])
    return CelCompileError(expression, detail.strip(), column)


class _ExprProgram:
    __slots__ = ("_expression",)

    def __init__(self, expression: Any) -> None:
        self._expression = expression

    def evaluate(self, activation: Any) -> Any:
        try:
            value = self._expression.eval(activation)
        except RuntimeError as err:
            raise CelEvaluationError(str(err)) from None
        if value.type().name() == "ERROR":
            raise CelEvaluationError(str(value.value()))
        return value.plain_value()


class CelExprBackend:
    """cel-expr-python with the CEL extensions Kubernetes enables plus our K8s library."""

    name = "cel-expr-python"

    def __init__(self, overloads: list[Overload] | None = None) -> None:
        from cel_expr_python import cel
        from cel_expr_python.ext import ext_bindings, ext_math, ext_optional, ext_strings

        self._cel = cel
        # Our library goes in as an extension after ext_strings: that is the only way
        # cel-expr-python lets a list `indexOf` and `string(ip)` join existing names.
        functions = self._declare(overloads if overloads is not None else all_overloads())
        self._extensions = [
            ext_optional.ExtOptional(),
            ext_strings.ExtStrings(),
            ext_bindings.ExtBindings(),
            ext_math.ExtMath(),
            cel.CelExtension("kubernetes", functions),
        ]
        self._envs: dict[tuple[str, ...], Any] = {}
        self._activation_env = self._env((*ADMISSION_VARIABLES, "params"))

    def _type(self, name: CelType) -> Any:
        t = self._cel.Type
        return {
            "string": t.STRING, "int": t.INT, "double": t.DOUBLE, "bool": t.BOOL,
            "dyn": t.DYN, "list": t.List(t.DYN), "map": t.Map(t.STRING, t.DYN),
            "list_string": t.List(t.STRING),
        }[name]

    def _declare(self, overloads: list[Overload]) -> list[Any]:
        by_name: dict[str, list[Any]] = {}
        for o in overloads:
            by_name.setdefault(o.function, []).append(
                self._cel.Overload(
                    o.overload_id, self._type(o.result), [self._type(p) for p in o.params],
                    is_member=o.member, impl=o.impl,
                )
            )
        return [self._cel.FunctionDecl(name, decls) for name, decls in by_name.items()]

    def _env(self, variables: tuple[str, ...]) -> Any:
        key = tuple(sorted(variables))
        if key not in self._envs:
            self._envs[key] = self._cel.NewEnv(
                variables={v: self._cel.Type.DYN for v in key},
                extensions=self._extensions,
            )
        return self._envs[key]

    def compile(self, expression: str, variables: tuple[str, ...]) -> CelProgram:
        try:
            compiled = self._env(variables).compile(expression)
        except RuntimeError as err:
            raise _compile_error(expression, str(err)) from None
        return _ExprProgram(compiled)

    def activation(self, data: Mapping[str, Any]) -> Any:
        return self._activation_env.Activation(data=dict(data))


@dataclass
class ProgramCache:
    """Compiled programs keyed by (expression, variables); compile errors are cached too.

    Bounded (oldest entry out first) so a long-running operator whose policies keep
    changing does not grow without limit.
    """

    backend: CelBackend
    max_entries: int = 4096
    _programs: dict[tuple[str, tuple[str, ...]], CelProgram | CelCompileError] | None = None

    def get(self, expression: str, variables: tuple[str, ...]) -> CelProgram:
        if self._programs is None:
            self._programs = {}
        key = (expression, variables)
        found = self._programs.get(key)
        if found is None:
            if len(self._programs) >= self.max_entries:
                del self._programs[next(iter(self._programs))]
            try:
                found = self.backend.compile(expression, variables)
            except CelCompileError as err:
                found = err
            self._programs[key] = found
        if isinstance(found, CelCompileError):
            raise found
        return found


_default: ProgramCache | None = None


def default_cache() -> ProgramCache:
    """The process-wide program cache on the default backend (created on first use)."""
    global _default
    if _default is None:
        _default = ProgramCache(CelExprBackend())
    return _default
