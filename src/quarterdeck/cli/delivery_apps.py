"""Application commands: ``qd get apps``, ``qd history``, ``qd rollback``, ``qd suspend``,
``qd resume``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from quarterdeck.cli.delivery import fail
from quarterdeck.cli.delivery_cluster import Format, KubeOpt, connect
from quarterdeck.cli.options import AllowExecOpt, ContextOpt, NamespaceOpt, target
from quarterdeck.cli.output import Exit, emit, note, table

if TYPE_CHECKING:
    from quarterdeck.api import delivery as api
    from quarterdeck.kube.config import ClientSettings

OutOpt = Annotated[Format, typer.Option("--output", "-o", help="table, yaml or json.")]


def _res() -> Any:
    from quarterdeck.delivery.controller import ApplicationRes

    return ApplicationRes


def _load(
    kubeconfig: ClientSettings | Path | None, namespace: str, name: str
) -> tuple[Any, api.Application]:
    from quarterdeck.api import delivery as api
    from quarterdeck.cli.options import cluster_errors

    cluster = connect(kubeconfig)
    with cluster_errors(f"application {namespace}/{name}"):
        raw = cluster.client.get(_res(), name, namespace=namespace)
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
    if not emit(rows, output):
        table(columns, [[str(row.get(c, "")) for c in columns] for row in rows])


def history(
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    namespace: NamespaceOpt = None,
    kubeconfig: KubeOpt = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
    output: OutOpt = Format.table,
) -> None:
    """The last syncs of an Application, newest first."""
    settings, namespace = target(kubeconfig, context, namespace, allow_exec_plugins)
    _, app = _load(settings, namespace, app_name)
    rows = [
        {
            "revision": h.revision[:12],
            "time": h.time,
            "result": h.result,
            "created": h.created,
            "configured": h.configured,
            "pruned": h.pruned,
            "message": h.message,
            "hooks": "; ".join(
                f"{k.phase} {k.name or k.hook} {k.result}"
                + (f" {k.started}..{k.finished}" if k.finished else "")
                + (f": {k.message}" if k.message else "")
                for k in h.hooks
            ),
        }
        for h in (app.status.history if app.status else [])
    ]
    columns = ["revision", "time", "result", "created", "configured", "pruned", "message", "hooks"]
    _emit(rows, output, columns)


def rollback(
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    revision: Annotated[str, typer.Argument(help="Commit (prefix) from history.")] = "",
    unpin: Annotated[bool, typer.Option(help="Follow the Source again.")] = False,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeOpt = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
) -> None:
    """Pin an Application to an earlier successfully synced revision (until --unpin)."""
    from quarterdeck.delivery.history import HistoryError, find_revision

    settings, namespace = target(kubeconfig, context, namespace, allow_exec_plugins)
    cluster, app = _load(settings, namespace, app_name)
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
    namespace: NamespaceOpt = None,
    kubeconfig: KubeOpt = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
) -> None:
    """Stop syncing an Application (objects stay as they are)."""
    settings, namespace = target(kubeconfig, context, namespace, allow_exec_plugins)
    cluster, app = _load(settings, namespace, app_name)
    _patch_spec(cluster, app, {"suspend": True})
    typer.echo(f"application {namespace}/{app_name} suspended")


def resume(
    app_name: Annotated[str, typer.Argument(metavar="APP")],
    namespace: NamespaceOpt = None,
    kubeconfig: KubeOpt = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
) -> None:
    """Sync a suspended Application again."""
    settings, namespace = target(kubeconfig, context, namespace, allow_exec_plugins)
    cluster, app = _load(settings, namespace, app_name)
    _patch_spec(cluster, app, {"suspend": False})
    typer.echo(f"application {namespace}/{app_name} resumed")


def diff_app(
    kubeconfig: ClientSettings | Path | None, namespace: str, name: str, output: Format
) -> None:
    """`qd diff APP`: render the Application's revision and dry-run it against the cluster."""
    import dataclasses
    import tempfile

    from quarterdeck.api import delivery as api
    from quarterdeck.cli.delivery_cluster import print_diff
    from quarterdeck.cli.options import cluster_errors
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
    with cluster_errors(f"application {namespace}/{name}"):
        print_diff(cluster, done.result, output)


def sync_app(
    kubeconfig: ClientSettings | Path | None,
    namespace: str,
    name: str,
    revision: str,
    wait: float | None,
) -> None:
    """`qd sync APP`: ask the operator to sync now (optionally pinned to a revision) and,
    with a `wait` in seconds, show its progress until the Application is Ready."""
    from datetime import UTC, datetime

    from lightkube.types import PatchType

    from quarterdeck.delivery.controller import REQUEST_ANNOTATION

    cluster, before = _load(kubeconfig, namespace, name)  # fails clearly if it does not exist
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    patch: dict[str, Any] = {"metadata": {"annotations": {REQUEST_ANNOTATION: now}}}
    if revision:
        patch["spec"] = {"revision": revision}
    cluster.client.patch(_res(), name, patch, namespace=namespace, patch_type=PatchType.MERGE)
    pinned = f" at {revision}" if revision else ""
    typer.echo(f"application {namespace}/{name}: sync requested{pinned}")
    if wait is not None:
        _wait_ready(kubeconfig, namespace, name, _last_sync(before), wait)


def _last_sync(app: api.Application) -> tuple[str, int, str, str] | None:
    """The newest history entry, to tell when the operator has synced again: a repeat
    of the same revision and result replaces it with a new time and attempt count."""
    history = app.status.history if app.status else []
    if not history:
        return None
    newest = history[0]
    return (newest.time, newest.attempts, newest.revision, newest.result)


def _wait_ready(kubeconfig: ClientSettings | Path | None, namespace: str, name: str,
                before: tuple[str, int, str, str] | None, timeout: float) -> None:
    """Poll the Application until a sync after the request made it Ready; print each new
    state on stderr. Exit 0 Ready, 2 the sync failed, 1 not Ready within `timeout`."""
    from quarterdeck.api.meta import find_condition
    from quarterdeck.kube.wait import wait_for

    seen: list[str] = []

    def state() -> tuple[str, str] | None:
        _, app = _load(kubeconfig, namespace, name)
        status = app.status
        handled = _last_sync(app) not in (None, before)
        ready = find_condition(status.conditions, "Ready") if status else None
        line = f"{ready.reason}: {ready.message}" if ready and handled else "waiting to be synced"
        if not seen or seen[-1] != line:
            seen.append(line)
            note(f"application {namespace}/{name}: {line}")
        if handled and ready is not None and ready.status != "Unknown":
            return ready.status, ready.message
        return None

    try:
        status, message = wait_for(state, f"application {namespace}/{name}", timeout, 0.5)
    except TimeoutError as err:
        note(f"error: {err} ({seen[-1] if seen else 'no status'})")
        raise typer.Exit(Exit.FINDING) from None
    if status != "True":
        raise fail(f"application {namespace}/{name} is not Ready: {message}")
    typer.echo(f"application {namespace}/{name} is Ready")


def import_command(
    file: Annotated[Path, typer.Argument(help="YAML with Flux or Argo CD objects.")],
    output: Annotated[Format, typer.Option("--output", "-o", help="yaml or json.")] = Format.yaml,
) -> None:
    """Turn Flux GitRepository/Kustomization and Argo CD Application objects into ours.

    Prints the Sources and Applications (pipe them to `kubectl apply -f -`) and, on
    stderr, every field that is not carried over.
    """
    from quarterdeck.cli import manifest_sources
    from quarterdeck.delivery.imports import convert
    from quarterdeck.delivery.manifests import ManifestError, parse_documents

    if not file.exists():
        raise fail(f"{file}: no such file")
    if file.is_dir():
        raise fail(f"{file} is a directory: give the YAML file with the Flux or Argo CD objects")
    try:
        docs = parse_documents(manifest_sources.read_text(file), str(file))
    except (manifest_sources.ManifestError, ManifestError) as err:
        raise fail(str(err)) from None
    result = convert(m.obj for m in docs)
    for line in result.skipped:
        typer.echo(f"skipped: {line}", err=True)
    for line in result.unsupported:
        typer.echo(f"warning: {line}", err=True)
    if output is Format.json:
        from quarterdeck.cli.output import to_json

        doc = {"apiVersion": "v1", "kind": "List", "items": result.objects}
        sys.stdout.write(to_json(doc) + "\n")
    else:
        from quarterdeck.cli.output import to_yaml_stream

        sys.stdout.write(to_yaml_stream(result.objects))
