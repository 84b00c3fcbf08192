"""``qd diff --path`` and ``qd sync --path``: one-shot delivery against a live cluster.

For CI pipelines with no operator: render a directory, compare it with the
cluster through server-side dry-run, or sync it (apply, prune, wait for health).
The inventory of a one-shot sync is kept in a ConfigMap (see delivery.ledger).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from quarterdeck.api.duration import DurationError, parse_duration
from quarterdeck.cli.delivery import fail, render_path
from quarterdeck.delivery import ledger
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.inventory import Owner
from quarterdeck.delivery.render import Options
from quarterdeck.delivery.sync import SyncOptions, SyncResult, sync


class Format(StrEnum):
    """Output formats of diff and sync."""

    table = "table"
    yaml = "yaml"
    json = "json"


PathOpt = Annotated[Path | None, typer.Option("--path", help="Directory to render and sync.")]
AppArg = Annotated[str, typer.Argument(metavar="[APP]", help="An Application (instead of --path).")]
RootOpt = Annotated[Path | None, typer.Option(help="Repository root the render may not leave.")]
NameOpt = Annotated[str, typer.Option(help="Owner name for inventory (default: directory).")]
NsOpt = Annotated[
    str, typer.Option("--namespace", "-n", help="Owner namespace and default for objects.")
]
KubeOpt = Annotated[Path | None, typer.Option(help="Kubeconfig (default: $KUBECONFIG).")]
OutOpt = Annotated[Format, typer.Option("--output", "-o", help="Output format.")]


def connect(kubeconfig: Path | None) -> Cluster:
    """A Cluster for the kubeconfig (or the default one)."""
    from quarterdeck.kube.client import describe_target, load_client

    try:
        return Cluster(load_client(kubeconfig, field_manager="quarterdeck-delivery"))
    except Exception as err:  # lightkube raises several config errors
        raise fail(f"cannot load kubeconfig {describe_target(kubeconfig)}: {err}") from None


def _report(result: SyncResult) -> dict[str, Any]:
    def keys(items: list[Any]) -> list[str]:
        return [str(k) for k in items]

    return {
        "ok": result.ok,
        "errors": result.errors,
        "created": keys(result.created),
        "configured": keys(result.configured),
        "unchanged": keys(result.unchanged),
        "pruned": keys(result.pruned),
        "skipped": [f"{s.entry.key}: {s.reason}" for s in result.plan.skipped],
        "drift": {
            str(k): [{"path": d.path, "desired": d.desired, "live": d.live} for d in v]
            for k, v in result.drift.items()
        },
        "health": {
            str(k): {"status": h.status, "message": h.message} for k, h in result.health.items()
        },
    }


def print_result(result: SyncResult, output: Format, *, diff: bool) -> None:
    if output is not Format.table:
        report = _report(result)
        text = json.dumps(report, indent=2) if output is Format.json else yaml.safe_dump(report)
        sys.stdout.write(text + ("\n" if output is Format.json else ""))
        return
    console = Console()
    table = Table(box=None, header_style="bold")
    for column in ("OBJECT", "ACTION", "HEALTH", "DETAIL"):
        table.add_column(column)
    applied = {*result.created, *result.configured}
    for action in result.plan.applies:
        key = action.key
        if diff:
            verb = (
                "create"
                if action.kind == "create"
                else ("configure" if key in result.drift else "unchanged")
            )
        elif key in result.created:
            verb = "created"
        else:
            verb = "configured" if key in applied else "unchanged"
            verb = verb if key in applied or key in result.unchanged else "not applied"
        h = result.health.get(key)
        fields = ", ".join(d.path for d in result.drift.get(key, []))
        table.add_row(str(key), verb, h.status if h else "", (h.message if h else "") or fields)
    for prune in result.plan.prunes:
        table.add_row(str(prune.key), "prune" if diff else "pruned", "", "")
    for skip in result.plan.skipped:
        table.add_row(str(skip.entry.key), "kept", "", skip.reason)
    console.print(table)
    for err in result.errors:
        typer.echo(f"error: {err}", err=True)


def _one_of(app: str, path: Path | None) -> Path | None:
    if bool(app) == (path is not None):
        raise fail("give either an APP or --path DIR")
    return path


def diff_command(
    app: AppArg = "",
    path: PathOpt = None,
    root: RootOpt = None,
    name: NameOpt = "",
    namespace: NsOpt = "default",
    kubeconfig: KubeOpt = None,
    output: OutOpt = Format.table,
) -> None:
    """Show what a sync of APP or --path would change (server-side dry-run); exit 1 if so."""
    path = _one_of(app, path)
    if path is None:
        from quarterdeck.cli.delivery_apps import diff_app

        return diff_app(kubeconfig, namespace, app, output)
    manifests = render_path(path, root, Options())
    cluster = connect(kubeconfig)
    owner = Owner(namespace, name or path.resolve().name)
    inventory = ledger.load(cluster, owner)
    opts = SyncOptions(namespace=namespace, dry_run=True, wait=False)
    result = sync(cluster, [m.obj for m in manifests], inventory, owner, opts)
    print_result(result, output, diff=True)
    if not result.ok:
        raise typer.Exit(2)
    changes = any(a.kind == "create" for a in result.plan.applies) or result.drift
    if changes or result.plan.prunes:
        raise typer.Exit(1)


def sync_command(
    app: AppArg = "",
    path: PathOpt = None,
    revision: Annotated[str, typer.Option(help="With APP: pin to this commit.")] = "",
    root: RootOpt = None,
    name: NameOpt = "",
    namespace: NsOpt = "default",
    kubeconfig: KubeOpt = None,
    output: OutOpt = Format.table,
    prune: Annotated[bool, typer.Option(help="Delete objects no longer rendered.")] = False,
    allow_empty: Annotated[bool, typer.Option(help="Allow pruning everything.")] = False,
    max_share: Annotated[float, typer.Option(help="Largest share of objects to prune.")] = 0.5,
    wait: Annotated[bool, typer.Option(help="Wait until applied objects are healthy.")] = True,
    timeout: Annotated[str, typer.Option(help="How long to wait for health.")] = "5m",
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Parallel API calls.")] = 8,
) -> None:
    """Sync APP now (via the operator), or apply --path DIR directly; exit 1 on failure."""
    path = _one_of(app, path)
    if path is None:
        from quarterdeck.cli.delivery_apps import sync_app

        return sync_app(kubeconfig, namespace, app, revision)
    try:
        timeout_s = parse_duration(timeout)
    except DurationError as err:
        raise fail(f"--timeout: {err}") from None
    manifests = render_path(path, root, Options())
    cluster = connect(kubeconfig)
    owner = Owner(namespace, name or path.resolve().name)
    inventory = ledger.load(cluster, owner)
    opts = SyncOptions(
        namespace=namespace,
        prune=prune,
        allow_empty=allow_empty,
        max_share=max_share,
        wait=wait,
        timeout=timeout_s,
        concurrency=concurrency,
    )
    with Console(stderr=True).status(f"syncing {len(manifests)} objects"):
        result = sync(cluster, [m.obj for m in manifests], inventory, owner, opts)
    if result.inventory != inventory:
        ledger.save(cluster, owner, result.inventory)
    print_result(result, output, diff=False)
    if not result.ok or result.overall.status in ("Degraded", "Progressing", "Missing"):
        if result.ok:
            typer.echo(f"error: not healthy: {result.overall.message}", err=True)
        raise typer.Exit(1)
