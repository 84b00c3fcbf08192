"""`qd check` and `qd policy ...`: guardrails shift-left and into the cluster.

Exit codes (for CI): 0 nothing denied (warnings allowed), 1 a Deny outcome or a
failed policy test, 2 bad input (unreadable manifest, invalid policy, unknown name).
"""

from __future__ import annotations

import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from quarterdeck.cli.manifest_sources import (
    ManifestError,
    parse_documents,
    read_documents,
    read_text,
)
from quarterdeck.cli.options import ContextOpt, KubeconfigOpt, NamespaceOpt
from quarterdeck.cli.output import (
    Cell,
    Exit,
    OutputFormat,
    note,
    table,
    to_json,
    to_yaml,
    to_yaml_stream,
)

if TYPE_CHECKING:
    from quarterdeck.api.policy import Guardrail
    from quarterdeck.policy.evaluate import Report, Violation
    from quarterdeck.policy.pss.exemptions import PodSecurityConfig

app = typer.Typer(help="Guardrails: built-in policies, CRD, export to ValidatingAdmissionPolicy.",
                  no_args_is_help=True)
OUTPUT = typer.Option(OutputFormat.table, "--output", "-o", help="table, json or yaml.")
EXIT_DENIED, EXIT_INPUT = Exit.FINDING, Exit.ERROR


class ExportFormat(StrEnum):
    yaml = "yaml"
    json = "json"


def register(root: typer.Typer) -> None:
    """Add `qd check` and the `qd policy` group to the root app."""
    root.command("check")(check_command)
    root.add_typer(app, name="policy")


def _fail_input(message: str) -> typer.Exit:
    note(f"error: {message}")
    return typer.Exit(EXIT_INPUT)


def _emit(data: Any, output: str) -> None:
    if output == "json":
        sys.stdout.write(to_json(data) + "\n")
    elif isinstance(data, list):
        sys.stdout.write(to_yaml_stream(data))
    else:
        sys.stdout.write(to_yaml(data))


def _policies(names: list[str], sources: list[str], found: list[dict[str, Any]]
              ) -> list[Guardrail]:
    from quarterdeck.api.policy import is_policy_document, load_policies
    from quarterdeck.policy import library

    docs = list(found)
    for source in sources:
        docs.extend(d for d in read_documents(source) if is_policy_document(d))
    guardrails, notes = load_policies(docs)
    for line in notes:
        note(f"note: {line}")
    selected = library.select(names) if names else []
    if not guardrails and not selected:
        selected = library.select(["all"])
        note("note: no policies given or found; checking all built-ins (see `qd policy list`)")
    return [*selected, *guardrails]


def _violation_dict(v: Violation) -> dict[str, Any]:
    return {
        "policy": v.policy, "object": str(v.object), "apiVersion": v.object.api_version,
        "kind": v.kind, "actions": list(v.actions), "reason": v.reason, "message": v.message,
    }


def _print_report(report: Report, objects: int, policies: int, output: str) -> None:
    denied = sum(v.denied for v in report.violations)
    summary = {
        "objects": objects, "policies": policies, "denied": denied,
        "warned": sum("Warn" in v.actions for v in report.violations),
        "audited": sum("Audit" in v.actions for v in report.violations),
        "ignoredErrors": sum(not v.actions for v in report.violations),
    }
    if output in ("json", "yaml"):
        _emit({"summary": summary, "violations": [_violation_dict(v) for v in report.violations],
               "policyErrors": [str(p) for p in report.problems],
               "policiesMatchingNothing": [n for n, m in report.matched.items() if not m]},
              output)
        return
    for problem in report.problems:
        note(f"policy error: {problem}")
    idle = [name for name, matched in report.matched.items() if not matched]
    if idle:
        note(f"note: policies matching no object: {', '.join(idle)}")
    if report.violations:
        table(["object", "policy", "action", "message"],
              [[str(v.object), v.policy, ",".join(v.actions) or "ignored", v.message]
               for v in report.violations])
    typer.echo(
        f"{objects} objects, {policies} policies: {denied} denied, {summary['warned']} warned, "
        f"{summary['audited']} audited"
    )


def check_command(
    path: str = typer.Argument(None, help="Manifest file, directory (kustomize-aware) or -"),
    policy: list[str] = typer.Option(
        [], "--policy", "-p", help="Built-in policy or category; pss-LEVEL@v1.N pins a version"),
    policies: list[str] = typer.Option([], "--policies", help="Files/dirs with policies"),
    tests: Path = typer.Option(None, "--tests", help="Run GuardrailTest files in DIR"),
    cluster: bool = typer.Option(
        False, "--cluster", help="Also decide as the cluster would: its Guardrails and its "
        "namespaces' Pod Security labels"),
    admission_config: Path = typer.Option(
        None, "--admission-config", help="With --cluster: the API server's admission "
        "configuration file (PodSecurity defaults and exemptions)"),
    username: str = typer.Option(
        None, "--username", help="With --cluster: who will apply (for PodSecurity's "
        "usernames exemption)"),
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputFormat = OUTPUT,
) -> None:
    """Evaluate guardrails on manifests before they reach a cluster.
    Exit 0 nothing denied, 1 a Deny (or a failed --tests case), 2 bad input,
    3 the cluster (--cluster) cannot be reached."""
    from quarterdeck.api.policy import PolicyLoadError, is_policy_document
    from quarterdeck.policy.pss import exemptions

    try:
        if (admission_config or username) and not cluster:
            raise _fail_input("--admission-config and --username need --cluster")
        pod_security = exemptions.load(admission_config) if admission_config \
            else exemptions.DEFAULT
        if tests is not None:
            raise typer.Exit(_run_tests(tests, output))
        if path is None:
            raise _fail_input("give a PATH (or - for stdin), or --tests DIR")
        docs = read_documents(path)
        found = [d for d in docs if is_policy_document(d)]
        # With --cluster and no policies named, the cluster's own are the policies.
        named = bool(policy or policies or found) or not cluster
        chosen = _policies(policy, policies, found) if named else []
    except (ManifestError, PolicyLoadError, KeyError, exemptions.AdmissionConfigError) as err:
        raise _fail_input(str(err).strip("'\"")) from None
    objects = [d for d in docs if not is_policy_document(d)]
    if not cluster:
        guardrails, report = chosen, _check_with_progress(chosen, objects)
    else:
        guardrails, report = _check_as_the_cluster(chosen, objects, kubeconfig, context,
                                                   namespace, pod_security, username)
    _print_report(report, len(objects), len(guardrails), output)
    if any(v.denied for v in report.violations):
        raise typer.Exit(EXIT_DENIED)


def _check_as_the_cluster(guardrails: list[Guardrail], objects: list[dict[str, Any]],
                          kubeconfig: Path | None, context: str | None, namespace: str | None,
                          pod_security: PodSecurityConfig, username: str | None
                          ) -> tuple[list[Guardrail], Report]:
    """`check` with the cluster's Guardrails added and its Pod Security labels predicted
    (objects without a namespace land in -n or the context's namespace, as on apply)."""
    from quarterdeck.cli.options import client_from, cluster_errors
    from quarterdeck.policy import live
    from quarterdeck.policy.evaluate import check
    from quarterdeck.policy.matching import is_cluster_scoped
    from quarterdeck.policy.presync import pod_security_denials

    with cluster_errors():
        client, resolved = client_from(kubeconfig, context, namespace)
        seen = live.read(client)
    for line in seen.ignored:
        note(f"note: cluster Guardrail ignored: {line}")
    placed = [o if is_cluster_scoped(o) or (o.get("metadata") or {}).get("namespace")
              else {**o, "metadata": {**(o.get("metadata") or {}),
                                      "namespace": resolved.namespace}} for o in objects]
    everything = [*guardrails, *seen.guardrails]
    report = check(everything, placed, namespaces=seen.namespaces, clock=time.perf_counter)
    report.violations[:0] = pod_security_denials(placed, seen.namespaces, seen.server_minor,
                                                 pod_security, username)
    return everything, report


def _check_with_progress(guardrails: list[Guardrail], objects: list[dict[str, Any]],
                         chunk: int = 1000) -> Report:
    """`check` in chunks with a progress bar on a terminal when the set is large; every
    chunk still sees all objects for namespaces and params."""
    from rich.console import Console
    from rich.progress import Progress

    from quarterdeck.policy.evaluate import Report, check

    _err = Console(stderr=True)
    if len(objects) <= 2 * chunk or not _err.is_terminal:
        return check(guardrails, objects, clock=time.perf_counter)
    namespaces = {str(o["metadata"]["name"]): (o["metadata"].get("labels") or {})
                  for o in objects if o.get("kind") == "Namespace"}
    merged = Report()
    with Progress(console=_err, transient=True) as progress:
        task = progress.add_task("evaluating guardrails", total=len(objects))
        for start in range(0, len(objects), chunk):
            part = check(guardrails, objects[start:start + chunk], namespaces=namespaces,
                         params_objects=objects, clock=time.perf_counter)
            merged.violations.extend(part.violations)
            merged.problems = merged.problems or part.problems
            for name, refs in part.matched.items():
                merged.matched.setdefault(name, []).extend(refs)
            progress.advance(task, len(objects[start:start + chunk]))
    return merged


def _run_tests(directory: Path, output: str) -> int:
    from quarterdeck.api.policy import is_policy_document
    from quarterdeck.policy.evaluate import check
    from quarterdeck.policy.matching import object_ref
    from quarterdeck.policy.testcases import TestOutcome, judge, parse_test

    if not directory.is_dir():
        what = "no such directory" if not directory.exists() else "not a directory"
        raise ManifestError(f"--tests {directory}: {what}")
    files = sorted([*directory.rglob("*.test.yaml"), *directory.rglob("*.test.yml")])
    if not files:
        raise ManifestError(f"{directory}: no *.test.yaml files")
    outcomes: list[TestOutcome] = []
    for file in files:
        for doc in parse_documents(read_text(file), str(file)):
            test = parse_test(doc, str(file))
            objects: list[dict[str, Any]] = []
            for resource in test.resources:
                objects.extend(read_documents(str(file.parent / resource)))
            names = [p for p in test.policies if not (file.parent / p).exists()]
            files_ = [str(file.parent / p) for p in test.policies if (file.parent / p).exists()]
            guardrails = _policies(names, files_, []) if names or files_ else []
            plain = [o for o in objects if not is_policy_document(o)]
            report = check(guardrails, plain, clock=time.perf_counter)
            outcomes.extend(judge(test, [object_ref(o) for o in plain], report))
    failed = [o for o in outcomes if not o.ok]
    if output in ("json", "yaml"):
        _emit({"passed": len(outcomes) - len(failed), "failed": len(failed),
               "results": [{"test": o.test, "policy": o.policy, "resource": o.resource,
                            "expected": o.expected, "actual": o.actual} for o in outcomes]},
              output)
    else:
        table(["test", "policy", "resource", "expected", "actual", ""],
              [[o.test, o.policy, o.resource, o.expected, o.actual,
                Cell("[green]ok[/green]" if o.ok else "[red]FAIL[/red]")] for o in outcomes])
        typer.echo(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    return EXIT_DENIED if failed else 0


@app.command("list")
def list_command(output: OutputFormat = OUTPUT) -> None:
    """List the built-in Guardrails (enable with `qd check -p NAME|CATEGORY`)."""
    from quarterdeck.api.policy import to_dict
    from quarterdeck.policy import library

    lib = library.builtins()
    if output in ("json", "yaml"):
        _emit([to_dict(g) for g in lib.values()], output)
        return
    rows = []
    for g in lib.values():
        notes = g.metadata.annotations
        rows.append([g.name, library.category(g), notes.get(library.SCOPE_ANNOTATION, ""),
                     notes.get(library.DESCRIPTION_ANNOTATION, "")])
    table(["name", "category", "scope", "description"], rows)


@app.command("export")
def export_command(
    names: list[str] = typer.Argument(None, help="Built-in policies or categories"),
    policies: list[str] = typer.Option([], "--from", help="Files/dirs with Guardrails"),
    include_shift_left: bool = typer.Option(
        False, help="Also export policies meant only for pre-sync checks"),
    output: ExportFormat = typer.Option(ExportFormat.yaml, "--output", "-o", help="yaml or json."),
) -> None:
    """Print ValidatingAdmissionPolicy + Binding objects for the API server to enforce."""
    from quarterdeck.api.policy import PolicyLoadError, is_policy_document, load_policies
    from quarterdeck.policy import library
    from quarterdeck.policy.export import export_all, pod_security_hint

    try:
        guardrails = library.select(names) if names else []
        docs = [d for src in policies for d in read_documents(src) if is_policy_document(d)]
        guardrails += load_policies(docs)[0]
    except (ManifestError, PolicyLoadError, KeyError) as err:
        raise _fail_input(str(err).strip("'\"")) from None
    if not guardrails:
        raise _fail_input("nothing to export: name built-ins or pass --from PATH")
    kept = [g for g in guardrails if include_shift_left
            or g.metadata.annotations.get(library.SCOPE_ANNOTATION) != "shift-left"]
    for g in guardrails:
        if g.spec.pod_security is not None:
            note(f"note: {pod_security_hint(g)}")
        elif g not in kept:
            note(f"note: {g.name} is shift-left only; not exported (--include-shift-left to force)")
    natives = export_all(kept)
    if not natives:
        raise _fail_input("nothing to export as ValidatingAdmissionPolicy (see the notes)")
    if output == "json":
        _emit({"apiVersion": "v1", "kind": "List", "items": natives}, "json")
    else:
        _emit(natives, "yaml")


@app.command("import")
def import_command(
    sources: list[str] = typer.Argument(..., help="Files/dirs with Kyverno ClusterPolicy/Policy"),
    output: ExportFormat = typer.Option(ExportFormat.yaml, "--output", "-o", help="yaml or json."),
) -> None:
    """Turn Kyverno policies into Guardrails (one per validate rule) on stdout; every rule
    that cannot be translated is named on stderr. Exit 0 all translated, 1 some rules
    not translated, 2 bad input."""
    from quarterdeck.api.policy import to_dict
    from quarterdeck.policy.kyverno.convert import import_policies, is_kyverno

    try:
        docs = [d for src in sources for d in read_documents(src)]
    except ManifestError as err:
        raise _fail_input(str(err)) from None
    if not any(is_kyverno(d) for d in docs):
        raise _fail_input("no Kyverno ClusterPolicy or Policy (kyverno.io/v1) found")
    imported = import_policies(docs)
    for skipped in imported.skipped:
        note(f"not translated: {skipped}")
    guardrails = [to_dict(g) for g in imported.guardrails]
    if output == "json":
        _emit({"apiVersion": "v1", "kind": "List", "items": guardrails}, "json")
    elif guardrails:
        _emit(guardrails, "yaml")
    note(f"{len(imported.guardrails)} guardrails from {len(imported.rules)} rules; "
         f"{len(imported.skipped)} rules not translated")
    if imported.skipped:
        raise typer.Exit(EXIT_DENIED)


@app.command("crd")
def crd_command() -> None:
    """Print the Guardrail CustomResourceDefinition."""
    from quarterdeck.api.policy_crd import guardrail_crd

    sys.stdout.write(to_yaml(guardrail_crd()))
