"""`evaluate(policies, objects) -> list[Violation]`: the pure policy decision.

Called by `qd check`, by the delivery engine before a sync (pre-sync) and by the
benchmark. No I/O and no clock of its own: a budget on evaluation time uses the
`clock` the caller passes in (cel-expr-python cannot interrupt a running program, so
an expression over budget is reported, treated as an error under the policy's
failurePolicy, and not run again for the rest of the call).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from quarterdeck.api.policy import Guardrail, ParamRef
from quarterdeck.policy.cel_engine import (
    CelEvaluationError,
    CelProgram,
    ProgramCache,
    default_cache,
)
from quarterdeck.policy.compiled import (
    CompiledPolicy,
    CompiledValidation,
    CompileProblem,
    compile_policy,
)
from quarterdeck.policy.matching import (
    ObjectRef,
    Target,
    group_version,
    object_ref,
    resource_of,
    rules_match,
    selector_matches,
    selectors_match,
    target_of,
)
from quarterdeck.policy.pss.admission import message, pod_of
from quarterdeck.policy.pss.registry import decide

ViolationKind = Literal["violation", "runtime-error", "compile-error", "budget", "params"]


@dataclass(frozen=True, slots=True)
class Budget:
    """Per-expression limits: source length, and seconds per evaluation (needs a clock).

    The default is generous (250 ms for one expression on one object, where the
    built-ins take microseconds) because `qd check` reads the cheap wall clock
    (time.perf_counter) around every evaluation: on a loaded CI machine, waiting for a
    CPU must not turn into a budget denial. A CPU clock (time.process_time) is exact
    but costs a system call per reading, about 60% more time in the benchmark.
    """

    max_expression_chars: int = 10_000
    max_seconds: float = 0.25


@dataclass(frozen=True, slots=True)
class Violation:
    """One policy outcome worth reporting for one object.

    `actions` are the validationActions that apply (Deny, Warn, Audit); an error under
    failurePolicy Ignore has none: it is reported but not enforced.
    """

    policy: str
    object: ObjectRef
    kind: ViolationKind
    message: str
    reason: str
    actions: tuple[str, ...]
    expression: str = ""

    @property
    def denied(self) -> bool:
        return "Deny" in self.actions


@dataclass
class Report:
    violations: list[Violation] = field(default_factory=list)
    problems: list[CompileProblem] = field(default_factory=list)
    matched: dict[str, list[ObjectRef]] = field(default_factory=dict)  # policy -> in scope


def evaluate(
    policies: Sequence[Guardrail], objects: Sequence[Mapping[str, Any]], **options: Any
) -> list[Violation]:
    """Violations of `policies` by `objects` (keyword options as for `check`)."""
    return check(policies, objects, **options).violations


def check(
    policies: Sequence[Guardrail],
    objects: Sequence[Mapping[str, Any]],
    *,
    operation: str = "CREATE",
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
    params_objects: Sequence[Mapping[str, Any]] = (),
    budget: Budget = Budget(),
    clock: Callable[[], float] | None = None,
    cache: ProgramCache | None = None,
) -> Report:
    """Evaluate every policy on every object in its scope; a broken policy is reported,
    never raised. `namespaces` maps namespace name -> labels (Namespace objects among
    `objects` are added); param objects are looked up in `params_objects` and `objects`.
    """
    cache = cache or default_cache()
    ns_labels = {**(namespaces or {}), **_namespace_labels(objects)}
    ns_objects = {o["metadata"]["name"]: o for o in objects
                  if o.get("kind") == "Namespace" and "name" in (o.get("metadata") or {})}
    report = Report()
    run = _Run(budget, clock, report)

    compiled = [compile_policy(_within_budget(p, budget), cache) for p in policies]
    candidates = list({id(o): o for o in [*params_objects, *objects]}.values())
    targets = [target_of(o) for o in objects]
    refs: list[ObjectRef | None] = [None] * len(objects)
    activations: dict[tuple[int, int], Any] = {}
    for policy in compiled:
        report.problems.extend(policy.problems)
        in_scope = report.matched[policy.name] = []
        spec = policy.guardrail.spec
        in_rules = _rule_matcher(spec, operation)
        for index, obj in enumerate(objects):
            namespace = str((obj.get("metadata") or {}).get("namespace", ""))
            labels = ns_labels.get(namespace)
            target = targets[index]
            if not in_rules(target) or not _selected(spec, target, labels):
                continue
            ref = refs[index] or object_ref(obj)
            refs[index] = ref
            in_scope.append(ref)
            if policy.problems:
                run.failure(policy, ref, "compile-error", str(policy.problems[0]), "")
                continue
            if spec.pod_security is not None:
                run.pod_security(policy, ref, obj)
                if not policy.validations:
                    continue
            params_list = _params_for(policy.guardrail, obj, candidates)
            if params_list is None:
                if spec.param_ref and spec.param_ref.parameter_not_found_action == "Deny":
                    run.failure(policy, ref, "params", _missing_params(spec.param_ref), "")
                continue
            for params in params_list:
                key = (index, id(params))
                if key not in activations:
                    activations[key] = cache.backend.activation(
                        _bindings(obj, operation, ns_objects.get(namespace), params)
                    )
                run.one(policy, ref, activations[key])
    return report


class _Run:
    """Evaluation state for one `check` call: the budget breaker and the report."""

    def __init__(self, budget: Budget, clock: Callable[[], float] | None, report: Report) -> None:
        self.budget, self.clock, self.report = budget, clock, report
        self.tripped: dict[int, str] = {}
        self.pods: dict[int, tuple[Any, dict[Any, Any]]] = {}

    def failure(self, policy: CompiledPolicy, ref: ObjectRef, kind: ViolationKind,
                message: str, expression: str) -> None:
        spec = policy.guardrail.spec
        actions = tuple(spec.validation_actions) if spec.failure_policy == "Fail" else ()
        self.report.violations.append(
            Violation(policy.name, ref, kind, message, "InternalError", actions, expression)
        )

    def run(self, program: CelProgram, activation: Any) -> Any:
        if id(program) in self.tripped:
            raise _OverBudget(self.tripped[id(program)])
        start = self.clock() if self.clock else 0.0
        value = program.evaluate(activation)
        if self.clock is not None:
            elapsed = self.clock() - start
            if elapsed > self.budget.max_seconds:
                self.tripped[id(program)] = (
                    f"evaluation took {elapsed * 1000:.1f} ms, over the budget of "
                    f"{self.budget.max_seconds * 1000:.1f} ms; not run again in this check"
                )
                raise _OverBudget(self.tripped[id(program)])
        return value

    def pod_security(self, policy: CompiledPolicy, ref: ObjectRef,
                     obj: Mapping[str, Any]) -> None:
        """A `podSecurity` Guardrail: the Pod Security Standards, decided as Kubernetes
        decides them (policy.pss), with Kubernetes' wording."""
        spec = policy.guardrail.spec
        pss = spec.pod_security
        if pss is None:
            return
        if id(obj) not in self.pods:  # each object's pod and check results, once per call
            self.pods[id(obj)] = (pod_of(obj), {})
        pod, memo = self.pods[id(obj)]
        if pod is None:
            return
        decision = decide(_level_version(pss.level, pss.version), pod[0], pod[1], memo=memo)
        if not decision.allowed:
            self.report.violations.append(Violation(
                policy.name, ref, "violation", message(obj, decision), "Forbidden",
                tuple(spec.validation_actions), f"podSecurity {decision.policy}"))

    def one(self, policy: CompiledPolicy, ref: ObjectRef, activation: Any) -> None:
        for name, program in policy.match_conditions:
            try:
                matched = self.run(program, activation)
            except (CelEvaluationError, _OverBudget) as err:
                kind: ViolationKind = "budget" if isinstance(err, _OverBudget) else "runtime-error"
                self.failure(policy, ref, kind, f"matchCondition {name}: {err}", "")
                return
            if matched is not True:
                return
        spec = policy.guardrail.spec
        for cv in policy.validations:
            expr = cv.validation.expression
            try:
                ok = self.run(cv.program, activation)
            except (CelEvaluationError, _OverBudget) as err:
                kind = "budget" if isinstance(err, _OverBudget) else "runtime-error"
                self.failure(policy, ref, kind, f"validations[{cv.index}]: {err}", expr)
                continue
            if not isinstance(ok, bool):
                self.failure(policy, ref, "runtime-error",
                             f"validations[{cv.index}]: expression returned "
                             f"{type(ok).__name__}, want bool", expr)
            elif not ok:
                self.report.violations.append(Violation(
                    policy.name, ref, "violation", self._message(cv, activation),
                    cv.validation.reason or "Invalid", tuple(spec.validation_actions), expr,
                ))

    def _message(self, cv: CompiledValidation, activation: Any) -> str:
        if cv.message_program is not None:
            try:
                text = self.run(cv.message_program, activation)
                if isinstance(text, str) and text.strip() and "\n" not in text:
                    return text
            except (CelEvaluationError, _OverBudget):
                pass
        return str(cv.validation.message or f"failed expression: {cv.validation.expression}")


@functools.lru_cache(maxsize=256)
def _level_version(level: str, version: str) -> Any:
    from quarterdeck.policy.pss.versions import LevelVersion, parse_version

    return LevelVersion(level, parse_version(version))  # type: ignore[arg-type]


class _OverBudget(Exception):
    pass


def _within_budget(policy: Guardrail, budget: Budget) -> Guardrail:
    """Over-long expressions are replaced by a reference that fails to compile, naming why."""
    spec = policy.spec
    too_long = [v.expression for v in spec.validations
                if len(v.expression) > budget.max_expression_chars]
    if not too_long:
        return policy
    import msgspec

    marker = f"expression_longer_than_{budget.max_expression_chars}_characters"
    validations = [
        msgspec.structs.replace(v, expression=marker) if v.expression in too_long else v
        for v in spec.validations
    ]
    return msgspec.structs.replace(policy, spec=msgspec.structs.replace(
        spec, validations=validations))


def _rule_matcher(spec: Any, operation: str) -> Callable[[Target], bool]:
    """Resource-rule matching for one policy (constraints and binding narrowing),
    memoized per object type unless a rule names objects (resourceNames)."""
    matches = [(m, m is spec.match_resources)
               for m in (spec.match_constraints, spec.match_resources) if m]
    by_name = any(r.resource_names for m, _ in matches
                  for r in (*m.resource_rules, *m.exclude_resource_rules))
    memo: dict[tuple[str, ...], bool] = {}

    def decide(target: Target) -> bool:
        return all(rules_match(m, target, operation, binding=b) for m, b in matches)

    def in_rules(target: Target) -> bool:
        if by_name:
            return decide(target)
        key = (target.group, target.version, target.resource, target.scope)
        found = memo.get(key)
        if found is None:
            found = memo[key] = decide(target)
        return found

    return in_rules


def _selected(spec: Any, target: Target, labels: Mapping[str, str] | None) -> bool:
    return all(selectors_match(m, target, labels)
               for m in (spec.match_constraints, spec.match_resources) if m)


def _namespace_labels(objects: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, str]]:
    return {
        str(o["metadata"]["name"]): (o["metadata"].get("labels") or {})
        for o in objects
        if o.get("kind") == "Namespace" and "name" in (o.get("metadata") or {})
    }


def _params_for(policy: Guardrail, obj: Mapping[str, Any],
                candidates: Sequence[Mapping[str, Any]]) -> list[Any] | None:
    """Param objects for this policy and object; [None] without paramKind; None if missing."""
    spec = policy.spec
    if spec.param_kind is None or spec.param_ref is None:
        return [None]
    ref = spec.param_ref
    obj_ns = str((obj.get("metadata") or {}).get("namespace", ""))
    namespace = ref.namespace or obj_ns
    found = [
        c for c in candidates
        if c.get("apiVersion") == spec.param_kind.api_version
        and c.get("kind") == spec.param_kind.kind
        and str((c.get("metadata") or {}).get("namespace", "")) in ("", namespace)
        and (ref.name == "" or (c.get("metadata") or {}).get("name") == ref.name)
        and (ref.selector is None
             or selector_matches(ref.selector, (c.get("metadata") or {}).get("labels") or {}))
    ]
    return found or None


def _missing_params(ref: ParamRef) -> str:
    target = ref.name or "objects matching the selector"
    where = f" in namespace {ref.namespace}" if ref.namespace else ""
    return f"no params found ({target}{where}) and parameterNotFoundAction is Deny"


def _bindings(obj: Mapping[str, Any], operation: str, namespace_object: Any,
              params: Any) -> dict[str, Any]:
    group, version = group_version(str(obj.get("apiVersion", "")))
    meta = obj.get("metadata") or {}
    kind = str(obj.get("kind", ""))
    request = {
        "operation": operation,
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": resource_of(kind)},
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "userInfo": {},
        "dryRun": False,
    }
    return {
        "object": obj, "oldObject": None, "request": request,
        "namespaceObject": namespace_object, "params": params, "variables": {},
    }
