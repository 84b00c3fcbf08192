"""`qd get KIND [NAME]`: our objects as `kubectl get` shows them.

Columns come from our CRDs' printer columns (cli/kinds.py); `-o yaml|json` prints the
objects themselves (a List for several, managedFields left out as kubectl does), `-o
name` prints `kind.group/name`, and `-w` streams every change until Ctrl-C.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from quarterdeck.cli.options import AllowExecOpt, ContextOpt, KubeconfigOpt
from quarterdeck.cli.output import Exit, ObjectFormat, fail, note, plain_columns, table

if TYPE_CHECKING:
    from collections.abc import Iterable

    from lightkube import Client

    from quarterdeck.cli.kinds import Kind

#: Spellings beyond the CRDs' short names (kubectl users type `apps`).
EXTRA_ALIASES = {"applications": ("app", "apps"), "sources": ("src",)}


def owned_kinds() -> list[Kind]:
    """Every kind quarterdeck owns, read from the CRDs we generate."""
    from quarterdeck.api import delivery, fleet, project
    from quarterdeck.api.crd import crd
    from quarterdeck.api.policy_crd import guardrail_crd
    from quarterdeck.api.queueing import all_crds
    from quarterdeck.cli.kinds import kind_from_crd

    kinds = (*delivery.KINDS, *project.KINDS, *fleet.KINDS)  # fleet: managedclusters, clustersets
    crds = [*(crd(k) for k in kinds), *all_crds(), guardrail_crd()]
    return [
        kind_from_crd(c, EXTRA_ALIASES.get(c["spec"]["names"]["plural"], ())) for c in crds
    ]


#: The plurals of owned_kinds(), written out so that Tab completion answers without
#: building every CRD (0.9 s); tests/unit/test_cli_get_completion.py keeps it equal.
KIND_PLURALS = (
    "admissionchecks", "applications", "clusterqueues", "clustersets", "cohorts",
    "guardrails", "localqueues", "managedclusters", "projects", "provisioningrequestconfigs",
    "queueingconfigs", "resourceflavors", "rollouts", "sources", "topologies",
    "workloadpriorityclasses", "workloads",
)  # fmt: skip


def _complete_kind(incomplete: str) -> list[str]:
    return [plural for plural in KIND_PLURALS if plural.startswith(incomplete)]


def resource(kind: Kind) -> Any:
    """The lightkube generic resource class for a kind."""
    from lightkube.generic_resource import create_global_resource, create_namespaced_resource

    make = create_namespaced_resource if kind.namespaced else create_global_resource
    return make(kind.group, kind.version, kind.kind, kind.plural)


def get_command(
    kind: Annotated[
        str,
        typer.Argument(
            metavar="KIND",
            help="applications (apps), sources, clusterqueues (cq), localqueues (lq), "
            "workloads (wl), resourceflavors (rf), cohorts, guardrails (gr), ...",
            autocompletion=_complete_kind,
        ),
    ],
    name: Annotated[
        str | None, typer.Argument(metavar="NAME", help="One object (default: all; or KIND/NAME).")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Namespace (default: the context's).")
    ] = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Every namespace.")
    ] = False,
    output: Annotated[
        ObjectFormat, typer.Option("--output", "-o", help="table, wide, yaml, json or name.")
    ] = ObjectFormat.table,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="After listing, print every change (Ctrl-C).")
    ] = False,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
) -> None:
    """Show our objects as `kubectl get` would: columns, -o yaml|json|name, -A, -w."""
    from quarterdeck.cli.kinds import KindError, find_kind

    if name is None and "/" in kind:
        kind, name = kind.split("/", 1)
    try:
        chosen = find_kind(owned_kinds(), kind)
    except KindError as err:
        fail(str(err))
    if all_namespaces and name:
        fail("a NAME cannot be looked up across all namespaces: drop -A or give -n NAMESPACE")
    from quarterdeck.cli.options import cluster_errors, connect
    from quarterdeck.kube.config import ClientSettings

    settings = ClientSettings(kubeconfig, context, namespace, allow_exec_plugins)
    with cluster_errors(f"{chosen.plural}"):
        client = connect(settings)
        ns = _namespace(chosen, client, namespace, all_namespaces)
        if watch:
            return _watch(client, chosen, ns, name, output, all_namespaces)
        objects = _read(client, chosen, ns, name)
    _print(chosen, objects, output, all_namespaces=all_namespaces, single=name is not None)
    if not objects and output in (ObjectFormat.table, ObjectFormat.wide):
        where = f" in {ns} namespace" if chosen.namespaced and ns != "*" else ""
        note(f"No resources found{where}.")


def _namespace(kind: Kind, client: Client, given: str | None, all_namespaces: bool) -> str | None:
    if not kind.namespaced:
        return None
    if all_namespaces:
        return "*"
    return given or client.namespace


def _read(client: Client, kind: Kind, ns: str | None, name: str | None) -> list[dict[str, Any]]:
    from quarterdeck.kube.retry_after import honoring_retry_after

    res = resource(kind)
    if name is not None:
        found = honoring_retry_after(
            lambda: (
                client.get(res, name, namespace=ns) if kind.namespaced else client.get(res, name)
            )
        )
        return [_clean(kind, found)]
    items = honoring_retry_after(
        lambda: list(client.list(res, namespace=ns) if kind.namespaced else client.list(res))
    )
    return sorted((_clean(kind, o) for o in items), key=_sort_key)


def _sort_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


def _clean(kind: Kind, obj: Any) -> dict[str, Any]:
    """The object as kubectl prints it: apiVersion and kind set, managedFields left out."""
    data: dict[str, Any] = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    data = {"apiVersion": kind.api_version, "kind": kind.kind, **data}
    meta = dict(data.get("metadata") or {})
    meta.pop("managedFields", None)
    data["metadata"] = meta
    return data


def _print(kind: Kind, objects: list[dict[str, Any]], output: ObjectFormat, *,
           all_namespaces: bool, single: bool) -> None:
    from quarterdeck.cli.output import to_json, to_yaml

    if output in (ObjectFormat.yaml, ObjectFormat.json):
        listing = {"apiVersion": "v1", "kind": "List", "items": objects}
        doc: Any = objects[0] if single else {**listing, "metadata": {"resourceVersion": ""}}
        sys.stdout.write(to_json(doc) + "\n" if output is ObjectFormat.json else to_yaml(doc))
    elif output is ObjectFormat.name:
        from quarterdeck.cli.kinds import object_name

        for obj in objects:
            sys.stdout.write(object_name(kind, obj) + "\n")
    elif objects:
        heads, rows = _rows(kind, objects, output is ObjectFormat.wide, all_namespaces)
        table(heads, rows)


def _rows(kind: Kind, objects: Iterable[dict[str, Any]], wide: bool,
          all_namespaces: bool) -> tuple[list[str], list[list[str]]]:
    from datetime import UTC, datetime

    from quarterdeck.cli.kinds import headers, row

    now = datetime.now(UTC)
    heads = headers(kind, wide=wide, all_namespaces=all_namespaces)
    return heads, [row(kind, o, now, wide=wide, all_namespaces=all_namespaces) for o in objects]


def _watch(client: Client, kind: Kind, ns: str | None, name: str | None, output: ObjectFormat,
           all_namespaces: bool) -> None:
    """Print the current objects, then each change, one line (or document) per event.

    A watch without a resourceVersion starts with an ADDED event for every object that
    exists, so the first lines are the listing kubectl prints before it watches.
    """
    from quarterdeck.cli.output import to_json, to_yaml

    res = resource(kind)
    fields: Any = {"metadata.name": name} if name else None
    events = (client.watch(res, namespace=ns, fields=fields) if kind.namespaced
              else client.watch(res, fields=fields))
    header_done = False
    try:
        for _event, obj in events:
            data = _clean(kind, obj)
            if output is ObjectFormat.json:
                line = to_json(data) + "\n"
            elif output is ObjectFormat.yaml:
                line = "---\n" + to_yaml(data)
            elif output is ObjectFormat.name:
                from quarterdeck.cli.kinds import object_name

                line = object_name(kind, data) + "\n"
            else:
                heads, rows = _rows(kind, [data], output is ObjectFormat.wide, all_namespaces)
                text = plain_columns([h.ljust(12) for h in heads], rows).splitlines()
                line = ("" if header_done else text[0] + "\n") + text[1] + "\n"
                header_done = True
            sys.stdout.write(line)
            sys.stdout.flush()
    except KeyboardInterrupt:
        raise typer.Exit(Exit.OK) from None


def register(app: typer.Typer) -> None:
    """Add `qd get` to the root app."""
    app.command("get", no_args_is_help=True)(get_command)
