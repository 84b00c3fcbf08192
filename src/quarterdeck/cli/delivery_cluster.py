"""``qd diff --path`` and ``qd sync --path``: one-shot delivery against a live cluster.

For CI pipelines with no operator: render a directory, compare it with the
cluster through server-side dry-run, or sync it (apply, prune, wait for health).
The inventory of a one-shot sync is kept in a ConfigMap (see delivery.ledger).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from quarterdeck.cli.delivery import fail, render_path
from quarterdeck.cli.options import AllowExecOpt, ContextOpt, KubeconfigOpt, NamespaceOpt, target
from quarterdeck.cli.output import Exit, OutputFormat, emit, note, table

if TYPE_CHECKING:
    from quarterdeck.delivery.cluster import Cluster
    from quarterdeck.delivery.sync import SyncResult
    from quarterdeck.kube.config import ClientSettings

#: diff and sync print reports: table, yaml or json.
Format = OutputFormat

PathOpt = Annotated[Path | None, typer.Option("--path", help="Directory to render and sync.")]
AppArg = Annotated[str, typer.Argument(metavar="[APP]", help="An Application (instead of --path).")]
RootOpt = Annotated[Path | None, typer.Option(help="Repository root the render may not leave.")]
NameOpt = Annotated[str, typer.Option(help="Owner name for inventory (default: directory).")]
KubeOpt = KubeconfigOpt
OutOpt = Annotated[Format, typer.Option("--output", "-o", help="table, yaml or json.")]


def connect(kubeconfig: ClientSettings | Path | None) -> Cluster:
    """A Cluster for the kubeconfig (or the default one)."""
    from quarterdeck.cli.options import connect
    from quarterdeck.delivery.cluster import Cluster

    return Cluster(connect(kubeconfig, field_manager="quarterdeck-delivery"))


def _keys(items: Any) -> list[str]:
    return [str(k) for k in items]


def diff_actions(result: SyncResult) -> list[tuple[str, str]]:
    """(object, action) per object as `qd diff` shows them: create, configure, unchanged,
    prune, kept."""
    rows: list[tuple[str, str]] = []
    for action in result.plan.applies:
        key = action.key
        verb = "create" if action.kind == "create" else "configure"
        rows.append((str(key), verb if action.kind == "create" or key in result.drift
                     else "unchanged"))
    rows += [(str(p.key), "prune") for p in result.plan.prunes]
    rows += [(str(s.entry.key), "kept") for s in result.plan.skipped]
    return rows


def diff_report(result: SyncResult, diffs: dict[str, str]) -> dict[str, Any]:
    """The `-o yaml|json` of `qd diff`: the same objects and actions as the table."""
    actions = diff_actions(result)
    return {
        "changes": any(a in ("create", "configure", "prune") for _, a in actions),
        "errors": result.errors,
        **{verb: [o for o, a in actions if a == verb]
           for verb in ("create", "configure", "unchanged", "prune")},
        "kept": [f"{s.entry.key}: {s.reason}" for s in result.plan.skipped],
        "drift": {
            str(k): [{"path": d.path, "desired": d.desired, "live": d.live} for d in v]
            for k, v in result.drift.items()
        },
        "diff": diffs,
    }


def sync_report(result: SyncResult) -> dict[str, Any]:
    """The `-o yaml|json` of `qd sync --path`: what was done, and what was kept."""
    return {
        "ok": result.ok,
        "errors": result.errors,
        "created": _keys(result.created),
        "configured": _keys(result.configured),
        "unchanged": _keys(result.unchanged),
        "pruned": _keys(result.pruned),
        "notPruned": [str(p.key) for p in result.plan.prunes if p.key not in result.pruned],
        "kept": [f"{s.entry.key}: {s.reason}" for s in result.plan.skipped],
        "health": {
            str(k): {"status": h.status, "message": h.message} for k, h in result.health.items()
        },
    }


def object_diffs(cluster: Cluster, result: SyncResult, concurrency: int = 8) -> dict[str, str]:
    """Unified diffs (live vs server-side dry-run) of every object the diff would change."""
    from concurrent.futures import ThreadPoolExecutor

    from quarterdeck.cli.diff_view import unified

    def one(action: Any) -> tuple[str, str]:
        label = str(action.key)
        if action.kind == "create":
            return label, unified(label, None, action.obj)
        live = cluster.get(action.api_version, action.key)
        return label, unified(label, live, cluster.apply(action.obj, dry_run=True))

    changing = [a for a in result.plan.applies if a.kind == "create" or a.key in result.drift]
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(changing) or 1))) as pool:
        out = dict(pool.map(one, changing))
    for prune in result.plan.prunes:
        out[str(prune.key)] = unified(
            str(prune.key), cluster.get(prune.api_version, prune.key), None
        )
    return out


def print_diff(cluster: Cluster, result: SyncResult, output: Format) -> None:
    """A unified diff per changed object (table), or the report; then the exit code."""
    diffs = object_diffs(cluster, result) if result.ok else {}
    if not emit(diff_report(result, diffs), output):
        for text in diffs.values():
            sys.stdout.write(text)
        actions = diff_actions(result)
        counts = {v: sum(a == v for _, a in actions) for v in ("create", "configure", "prune")}
        if actions and result.ok:
            table(["object", "action"], [list(r) for r in actions if r[1] != "unchanged"]
                  or [["(all objects)", "unchanged"]])
            note(f"{counts['create']} to create, {counts['configure']} to configure, "
                 f"{counts['prune']} to prune")
    for err in result.errors:
        note(f"error: {err}")
    if not result.ok:
        raise typer.Exit(Exit.ERROR)
    if any(a in ("create", "configure", "prune") for _, a in diff_actions(result)):
        raise typer.Exit(Exit.FINDING)


def print_sync(result: SyncResult, output: Format) -> None:
    """What a sync did, one row per object; a prune that did not happen never says pruned."""
    if not emit(sync_report(result), output):
        rows = []
        for action in result.plan.applies:
            key = action.key
            if key in result.created:
                verb = "created"
            elif key in result.configured:
                verb = "configured"
            else:
                verb = "unchanged" if key in result.unchanged else "not applied"
            h = result.health.get(key)
            rows.append([str(key), verb, h.status if h else "", (h.message if h else "")])
        for prune in result.plan.prunes:
            done = prune.key in result.pruned
            rows.append([str(prune.key), "pruned" if done else "not pruned", "", ""])
        for skip in result.plan.skipped:
            rows.append([str(skip.entry.key), "kept", "", skip.reason])
        table(["object", "action", "health", "detail"], rows)
    for err in result.errors:
        note(f"error: {err}")


def _one_of(app: str, path: Path | None) -> Path | None:
    if bool(app) == (path is not None):
        raise fail("give either an APP or --path DIR")
    return path


def diff_command(
    app: AppArg = "",
    path: PathOpt = None,
    root: RootOpt = None,
    name: NameOpt = "",
    namespace: NamespaceOpt = None,
    kubeconfig: KubeOpt = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
    output: OutOpt = Format.table,
) -> None:
    """Show what a sync of APP or --path would change (server-side dry-run): a unified
    diff per object. Exit 0 no changes, 1 changes, 2 an error, 3 cluster unreachable."""
    path = _one_of(app, path)
    if path is None:
        from quarterdeck.cli.delivery_apps import diff_app

        settings, namespace = target(kubeconfig, context, namespace, allow_exec_plugins)
        return diff_app(settings, namespace, app, output)
    from quarterdeck.cli.options import cluster_errors
    from quarterdeck.delivery import ledger
    from quarterdeck.delivery.inventory import Owner
    from quarterdeck.delivery.render import Options
    from quarterdeck.delivery.sync import SyncOptions, sync

    manifests = render_path(path, root, Options())
    settings, namespace = target(kubeconfig, context, namespace, allow_exec_plugins)
    with cluster_errors("objects"):
        cluster = connect(settings)
        owner = Owner(namespace, name or path.resolve().name)
        inventory = ledger.load(cluster, owner)
        opts = SyncOptions(namespace=namespace, dry_run=True, wait=False)
        result = sync(cluster, [m.obj for m in manifests], inventory, owner, opts)
        print_diff(cluster, result, output)


def sync_command(
    app: AppArg = "",
    path: PathOpt = None,
    revision: Annotated[str, typer.Option(help="With APP: pin to this commit.")] = "",
    root: RootOpt = None,
    name: NameOpt = "",
    namespace: NamespaceOpt = None,
    kubeconfig: KubeOpt = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
    output: OutOpt = Format.table,
    prune: Annotated[bool, typer.Option(help="Delete objects no longer rendered.")] = False,
    allow_empty: Annotated[bool, typer.Option(help="Allow pruning everything.")] = False,
    max_share: Annotated[float, typer.Option(help="Largest share of objects to prune.")] = 0.5,
    wait: Annotated[
        bool | None,
        typer.Option(
            "--wait/--no-wait",
            help="Wait until healthy (--path: default) or until APP is Ready (APP: off).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[str, typer.Option(help="How long to wait for health.")] = "5m",
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Parallel API calls.")] = 8,
) -> None:
    """Sync APP now (via the operator), or apply --path DIR directly.
    Exit 0 synced (and healthy), 1 not healthy in time, 2 an error, 3 cluster unreachable."""
    from quarterdeck.api.duration import DurationError, parse_duration

    path = _one_of(app, path)
    try:
        timeout_s = parse_duration(timeout)
    except DurationError as err:
        raise fail(f"--timeout {timeout}: {err}") from None
    if path is None:
        from quarterdeck.cli.delivery_apps import sync_app

        settings, namespace = target(kubeconfig, context, namespace, allow_exec_plugins)
        return sync_app(settings, namespace, app, revision, timeout_s if wait else None)
    from rich.console import Console

    from quarterdeck.cli.options import cluster_errors
    from quarterdeck.delivery import ledger
    from quarterdeck.delivery.inventory import Owner
    from quarterdeck.delivery.render import Options
    from quarterdeck.delivery.sync import SyncOptions, sync

    manifests = render_path(path, root, Options())
    settings, namespace = target(kubeconfig, context, namespace, allow_exec_plugins)
    with cluster_errors("objects"):
        cluster = connect(settings)
        owner = Owner(namespace, name or path.resolve().name)
        inventory = ledger.load(cluster, owner)
        opts = SyncOptions(
            namespace=namespace,
            prune=prune,
            allow_empty=allow_empty,
            max_share=max_share,
            wait=wait is not False,
            timeout=timeout_s,
            concurrency=concurrency,
        )
        with Console(stderr=True).status(f"syncing {len(manifests)} objects"):
            result = sync(cluster, [m.obj for m in manifests], inventory, owner, opts)
        if result.inventory != inventory:
            ledger.save(cluster, owner, result.inventory)
    print_sync(result, output)
    if not result.ok:
        raise typer.Exit(Exit.ERROR)
    if result.overall.status in ("Degraded", "Progressing", "Missing"):
        note(f"error: not healthy: {result.overall.message}")
        raise typer.Exit(Exit.FINDING)
