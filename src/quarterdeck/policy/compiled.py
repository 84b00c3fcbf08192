"""A Guardrail compiled once: every CEL program it needs, or the compile errors.

ValidatingAdmissionPolicy variables are composed into each validation with nested
`cel.bind(variables, {...}, ...)`, so one activation per object serves every policy
and only the variables a validation actually references (transitively) are bound:
an error in an unused variable does not fail a validation, as in the API server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from quarterdeck.api.policy import Guardrail, Validation, Variable
from quarterdeck.policy.cel_engine import (
    ADMISSION_VARIABLES,
    CelCompileError,
    CelProgram,
    ProgramCache,
)

_VARIABLE_REF = re.compile(r"\bvariables\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class CompileProblem:
    """Where a policy does not compile: field path, expression, column, detail."""

    policy: str
    field: str
    expression: str
    column: int | None
    detail: str

    def __str__(self) -> str:
        col = f", column {self.column}" if self.column is not None else ""
        return f"{self.policy}: {self.field}{col}: {self.detail} in {self.expression!r}"


@dataclass(slots=True)
class CompiledValidation:
    index: int
    validation: Validation
    program: CelProgram
    message_program: CelProgram | None


@dataclass(slots=True)
class CompiledPolicy:
    guardrail: Guardrail
    match_conditions: list[tuple[str, CelProgram]] = field(default_factory=list)
    validations: list[CompiledValidation] = field(default_factory=list)
    problems: list[CompileProblem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.guardrail.name


def _declared(guardrail: Guardrail) -> tuple[str, ...]:
    names: tuple[str, ...] = ADMISSION_VARIABLES
    if guardrail.spec.param_kind is not None:
        names = (*names, "params")
    return tuple(sorted(names))


def _needed(expression: str, variables: list[Variable]) -> list[Variable]:
    """Variables an expression references, with their own dependencies, in order."""
    by_name = {v.name: v for v in variables}
    wanted: set[str] = set()
    stack = [m for m in _VARIABLE_REF.findall(expression) if m in by_name]
    while stack:
        name = stack.pop()
        if name not in wanted:
            wanted.add(name)
            stack.extend(m for m in _VARIABLE_REF.findall(by_name[name].expression)
                         if m in by_name)
    return [v for v in variables if v.name in wanted]


def compose(expression: str, variables: list[Variable]) -> str:
    """`expression` with the variables it needs bound around it by nested cel.bind."""
    needed = _needed(expression, variables)
    text = f"({expression}\n)"  # a trailing // comment must not swallow the paren
    for i in range(len(needed) - 1, -1, -1):
        earlier = ", ".join(f"'{v.name}': variables.{v.name}" for v in needed[:i])
        entries = f"{earlier}, " if earlier else ""
        text = (
            f"cel.bind(variables, {{{entries}'{needed[i].name}': ({needed[i].expression}\n)}}, "
            f"{text})"
        )
    return text


def compile_policy(guardrail: Guardrail, cache: ProgramCache) -> CompiledPolicy:
    """Compile every expression of a Guardrail; collect, never raise, compile errors."""
    out = CompiledPolicy(guardrail)
    declared = _declared(guardrail)
    spec = guardrail.spec

    def check(field_path: str, expression: str, names: tuple[str, ...]) -> CelProgram | None:
        try:
            return cache.get(expression, names)
        except CelCompileError as err:
            out.problems.append(
                CompileProblem(guardrail.name, field_path, expression, err.column, err.detail)
            )
            return None

    no_vars = tuple(n for n in declared if n != "variables")
    for i, cond in enumerate(spec.match_conditions):
        program = check(f"spec.matchConditions[{i}] ({cond.name})", cond.expression, no_vars)
        if program is not None:
            out.match_conditions.append((cond.name, program))
    for i, var in enumerate(spec.variables):
        check(f"spec.variables[{i}] ({var.name})", var.expression, declared)
        _check_references(out, f"spec.variables[{i}] ({var.name})", var.expression,
                          {v.name for v in spec.variables[:i]})
    known = {v.name for v in spec.variables}
    for i, validation in enumerate(spec.validations):
        for field_path, text in ((f"spec.validations[{i}].expression", validation.expression),
                                 (f"spec.validations[{i}].messageExpression",
                                  validation.message_expression)):
            _check_references(out, field_path, text, known)
    if not spec.validations and spec.pod_security is None:
        out.problems.append(CompileProblem(guardrail.name, "spec.validations", "", None,
                                           "a Guardrail needs at least one validation"))
    for i, validation in enumerate(spec.validations):
        program = check(f"spec.validations[{i}].expression", validation.expression, declared)
        message_program = None
        if validation.message_expression:
            message_program = check(
                f"spec.validations[{i}].messageExpression",
                validation.message_expression, declared,
            )
        if program is None or out.problems:
            continue
        program = cache.get(compose(validation.expression, spec.variables), declared)
        if message_program is not None:
            message_program = cache.get(
                compose(validation.message_expression, spec.variables), declared
            )
        out.validations.append(CompiledValidation(i, validation, program, message_program))
    return out


def _check_references(out: CompiledPolicy, field_path: str, expression: str,
                      known: set[str]) -> None:
    """`variables.x` must name a variable declared before (the API server types
    `variables` by the declarations, so anything else does not compile there)."""
    for name in _VARIABLE_REF.findall(expression):
        if name not in known:
            match = re.search(rf"\bvariables\s*\.\s*{re.escape(name)}\b", expression)
            column = match.start() + 1 if match else None
            out.problems.append(CompileProblem(
                out.name, field_path, expression, column,
                f"undeclared reference to variables.{name}"))
            return
