"""Application commands: ``qd get apps``, ``qd history``, ``qd rollback``, ``qd suspend``,
``qd resume`` and ``qd operator`` (the controller process)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from quarterdeck.api import delivery as api
from quarterdeck.api.meta import find_condition
from quarterdeck.cli.delivery import fail
from quarterdeck.cli.delivery_cluster import Format, KubeOpt, connect
from quarterdeck.delivery.history import HistoryError, find_revision

get_app = typer.Typer(help="List delivery objects.", no_args_is_help=True)
NsOpt = Annotated[str, typer.Option("--namespace", "-n", help="Namespace of the Application.")]
OutOpt = Annotated[Format, typer.Option("--output", "-o", help="Output format.")]


def _res() -> Any:
    from quarterdeck.delivery.controller import ApplicationRes

    return ApplicationRes


def _load(kubeconfig: Path | None, namespace: str, name: str) -> tuple[Any, api.Application]:
    cluster = connect(kubeconfig)
    try:
        raw = cluster.client.get(_res(), name, namespace=namespace)
    except Exception as err:
        raise fail(f"application {namespace}/{name}: {err}") from None
    return cluster, api.decode_application(dict(raw))


def _patch_spec(cluster: Any, app: api.Application, spec: dict[str, Any]) -> None:
    from lightkube.types import PatchType

    cluster.client.patch(
        _res(),
        app.metadata.name,
        {"spec": spec},
        namespace=app.metadata.namespace,
        patch_type=PatchType.MERGE,
    )


def _emit(rows: list[dict[str, Any]], output: Format, columns: list[str]) -> None:
    if output is Format.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    elif output is Format.yaml:
        sys.stdout.write(yaml.safe_dump(rows, sort_keys=False))
    else:
        table = Table(box=None, header_style="bold")
        for column in columns:
            table.add_column(column.upper())
        for row in rows:
            table.add_row(*(str(row.get(c, "")) for c in columns))
        Console().print(table)


@get_app.command("apps")
def get_apps(
    kubeconfig: KubeOpt = None,
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Namespace (default: all).")
    ] = "",
    output: OutOpt = Format.table,
) -> None:
    """Applications with revision, sync, health and drift."""
    cluster = connect(kubeconfig)
    rows = []
    for raw in cluster.client.list(_res(), namespace=namespace or "*"):
        app = api.decode_application(dict(raw))
        status = app.status or api.ApplicationStatus()
        ready = find_condition(status.conditions, "Ready")
        worst = next((r.health for r in status.resources if r.health != "Healthy"), "Healthy")
        rows.append(
            {
                "namespace": app.metadata.namespace,
                "app": app.metadata.name,
                "revision": status.last_applied_revision[:12]
                + (" (pinned)" if app.spec.revision else ""),
                "sync": "Suspended" if app.spec.suspend else (ready.reason if ready else "Pending"),
                "health": worst if status.resources else "Unknown",
                "drift": len(status.drift),
                "message": ready.message if ready else "",
            }
        )
    _emit(rows, output, ["namespace", "app", "revision", "sync", "health", "drift", "message"])


def history(
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    namespace: NsOpt = "default",
    kubeconfig: KubeOpt = None,
    output: OutOpt = Format.table,
) -> None:
    """The last syncs of an Application, newest first."""
    _, app = _load(kubeconfig, namespace, app_name)
    rows = [
        {
            "revision": h.revision[:12],
            "time": h.time,
            "result": h.result,
            "created": h.created,
            "configured": h.configured,
            "pruned": h.pruned,
            "message": h.message,
        }
        for h in (app.status.history if app.status else [])
    ]
    _emit(
        rows, output, ["revision", "time", "result", "created", "configured", "pruned", "message"]
    )


def rollback(
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    revision: Annotated[str, typer.Argument(help="Commit (prefix) from history.")] = "",
    unpin: Annotated[bool, typer.Option(help="Follow the Source again.")] = False,
    namespace: NsOpt = "default",
    kubeconfig: KubeOpt = None,
) -> None:
    """Pin an Application to an earlier successfully synced revision (until --unpin)."""
    cluster, app = _load(kubeconfig, namespace, app_name)
    if unpin:
        _patch_spec(cluster, app, {"revision": None})
        typer.echo(f"application {namespace}/{app_name} follows its source again")
        return
    if not revision:
        raise fail("give a REVISION from `qd history` or --unpin")
    try:
        entry = find_revision(app.status.history if app.status else [], revision)
    except HistoryError as err:
        raise fail(str(err)) from None
    _patch_spec(cluster, app, {"revision": entry.revision})
    typer.echo(f"application {namespace}/{app_name} pinned to {entry.revision[:12]}")


def suspend(
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    namespace: NsOpt = "default",
    kubeconfig: KubeOpt = None,
) -> None:
    """Stop syncing an Application (objects stay as they are)."""
    cluster, app = _load(kubeconfig, namespace, app_name)
    _patch_spec(cluster, app, {"suspend": True})
    typer.echo(f"application {namespace}/{app_name} suspended")


def resume(
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    namespace: NsOpt = "default",
    kubeconfig: KubeOpt = None,
) -> None:
    """Sync a suspended Application again."""
    cluster, app = _load(kubeconfig, namespace, app_name)
    _patch_spec(cluster, app, {"suspend": False})
    typer.echo(f"application {namespace}/{app_name} resumed")


def operator(
    kubeconfig: KubeOpt = None,
    namespace: Annotated[str, typer.Option(help="Only this namespace.")] = "",
    cache_dir: Annotated[Path, typer.Option(help="Git mirrors and checkouts.")] = Path(".qd-cache"),
    tick: Annotated[float, typer.Option(help="Seconds between passes.")] = 1.0,
    metrics_port: Annotated[int, typer.Option(help="Prometheus port (0: off).")] = 0,
    install_crds: Annotated[bool, typer.Option(help="Apply the CRDs first.")] = True,
    queueing: Annotated[bool, typer.Option(help="Run the queueing controller too.")] = True,
    queueing_webhook_port: Annotated[
        int, typer.Option(help="Serve the queueing Job webhook on 127.0.0.1:PORT (dev; 0: off).")
    ] = 0,
) -> None:
    """Run the delivery controller (and the queueing controller beside it)."""
    from prometheus_client import start_http_server

    from quarterdeck.api.crd import crd
    from quarterdeck.api.policy_crd import guardrail_crd
    from quarterdeck.delivery.controller import Controller
    from quarterdeck.delivery.runner import Runner
    from quarterdeck.kube.crds import install_crds as install_crd_manifests

    cluster = connect(kubeconfig)
    if install_crds:  # and the Guardrail CRD: every sync is checked against Guardrails
        install_crd_manifests(cluster.client, [*(crd(k) for k in api.KINDS), guardrail_crd()])
    if metrics_port:
        start_http_server(metrics_port)
    runner = Runner(Controller(cluster.client, cache_dir, namespace=namespace or None), tick)
    typer.echo(f"delivery operator running (namespace: {namespace or 'all'})", err=True)
    from quarterdeck.cli.queue_cluster import start_queueing

    stop_queueing = (
        start_queueing(kubeconfig, tick, queueing_webhook_port, install_crds) if queueing else None
    )
    try:
        runner.run()
    except KeyboardInterrupt:
        runner.stop.set()
    finally:
        if stop_queueing is not None:
            stop_queueing()


def diff_app(kubeconfig: Path | None, namespace: str, name: str, output: Format) -> None:
    """`qd diff APP`: render the Application's revision and dry-run it against the cluster."""
    import dataclasses
    import tempfile

    from quarterdeck.cli.delivery_cluster import print_result
    from quarterdeck.delivery.controller import SourceRes, delivery_of, read_credentials
    from quarterdeck.delivery.inventory import Owner
    from quarterdeck.delivery.pipeline import deliver
    from quarterdeck.delivery.source import GitSource
    from quarterdeck.delivery.status import entries

    cluster, app = _load(kubeconfig, namespace, name)
    ref = app.spec.source_ref
    try:
        src = api.decode_source(
            dict(cluster.client.get(SourceRes, ref.name, namespace=ref.namespace or namespace))
        )
        creds = read_credentials(cluster.client, namespace, src.spec.secret_ref)
    except Exception as err:
        raise fail(f"source {ref.name}: {err}") from None
    if not app.spec.revision and (src.status is None or src.status.artifact is None):
        raise fail(f"source {ref.name} has no revision yet")
    revision = app.spec.revision or (
        src.status.artifact.revision if src.status and src.status.artifact else ""
    )
    target, opts = delivery_of(app, src, revision, creds)
    opts = dataclasses.replace(opts, dry_run=True, wait=False)
    inventory = entries(app.status.inventory if app.status else [])
    with tempfile.TemporaryDirectory(prefix="qd-diff-") as cache:
        done = deliver(
            cluster, GitSource(Path(cache)), target, Owner(namespace, name), inventory, opts
        )
    result = done.result
    print_result(result, output, diff=True)
    if not result.ok:
        raise typer.Exit(2)
    if any(a.kind == "create" for a in result.plan.applies) or result.drift or result.plan.prunes:
        raise typer.Exit(1)


def sync_app(kubeconfig: Path | None, namespace: str, name: str, revision: str) -> None:
    """`qd sync APP`: ask the operator to sync now (optionally pinned to a revision)."""
    from datetime import UTC, datetime

    from quarterdeck.delivery.controller import REQUEST_ANNOTATION

    cluster, _ = _load(kubeconfig, namespace, name)  # fails clearly if it does not exist
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    patch: dict[str, Any] = {"metadata": {"annotations": {REQUEST_ANNOTATION: now}}}
    if revision:
        patch["spec"] = {"revision": revision}
    from lightkube.types import PatchType

    cluster.client.patch(_res(), name, patch, namespace=namespace, patch_type=PatchType.MERGE)
    pinned = f" at {revision}" if revision else ""
    typer.echo(f"application {namespace}/{name}: sync requested{pinned}")


def import_command(
    file: Annotated[Path, typer.Argument(help="YAML with Flux or Argo CD objects.")],
    output: Annotated[Format, typer.Option("--output", "-o", help="yaml or json.")] = Format.yaml,
) -> None:
    """Turn Flux GitRepository/Kustomization and Argo CD Application objects into ours.

    Prints the Sources and Applications (pipe them to `kubectl apply -f -`) and, on
    stderr, every field that is not carried over.
    """
    from quarterdeck.delivery.imports import convert
    from quarterdeck.delivery.manifests import ManifestError, parse_documents

    try:
        docs = parse_documents(file.read_text(encoding="utf-8"), file.name)
    except (OSError, UnicodeDecodeError, ManifestError) as err:
        raise fail(str(err)) from None
    result = convert(m.obj for m in docs)
    for line in result.skipped:
        typer.echo(f"skipped: {line}", err=True)
    for line in result.unsupported:
        typer.echo(f"warning: {line}", err=True)
    if output is Format.json:
        doc = {"apiVersion": "v1", "kind": "List", "items": result.objects}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        sys.stdout.write(yaml.safe_dump_all(result.objects, sort_keys=False))
