"""`qd audit APP` and `qd incident start|end APP`: the evidence of who changed what.

Exit codes: 0 success, 2 bad input or an error, 3 the cluster cannot be reached.
"""

from __future__ import annotations

import getpass
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from quarterdeck.cli.options import ContextOpt, KubeconfigOpt, NamespaceOpt
from quarterdeck.cli.output import fail, table, to_json

if TYPE_CHECKING:
    from lightkube import Client

    from quarterdeck.audit.trail import Commit

incident_app = typer.Typer(help="Break-glass: pause self-heal for an Application for a while.",
                           no_args_is_help=True)


class Format(StrEnum):
    table = "table"
    json = "json"


def register(root: typer.Typer) -> None:
    root.command("audit")(audit_command)
    root.add_typer(incident_app, name="incident")


def _connect(kubeconfig: Path | None, context: str | None, namespace: str | None
             ) -> tuple[Client, str]:
    from quarterdeck.cli.options import client_from, cluster_errors

    with cluster_errors():
        client, resolved = client_from(kubeconfig, context, namespace)
    return client, resolved.namespace


def _application(client: Client, namespace: str, app: str) -> dict[str, Any]:
    from quarterdeck.cli.options import cluster_errors
    from quarterdeck.delivery.resources import ApplicationRes
    from quarterdeck.kube.errors import NotFound, classify

    with cluster_errors():
        try:
            return dict(client.get(ApplicationRes, app, namespace=namespace))
        except Exception as err:
            if isinstance(classify(err), NotFound):
                fail(f"no Application {app!r} in namespace {namespace}")
            raise


def _commits(client: Client, namespace: str, app: dict[str, Any],
             shas: list[str]) -> dict[str, Commit]:
    """Author and message of each applied revision, from the Application's Source."""
    import tempfile

    from quarterdeck.audit.trail import Commit
    from quarterdeck.delivery.resources import SourceRes, read_credentials
    from quarterdeck.delivery.source import GitSource, SourceError

    ref = (app.get("spec") or {}).get("sourceRef") or {}
    try:
        src = dict(client.get(SourceRes, ref.get("name", ""),
                              namespace=ref.get("namespace") or namespace))
    except Exception:
        return {}
    spec = src.get("spec") or {}
    out: dict[str, Commit] = {}
    with tempfile.TemporaryDirectory(prefix="qd-audit-") as cache:
        git = GitSource(Path(cache))
        creds = read_credentials(client, namespace, None)
        for sha in dict.fromkeys(shas):
            try:
                rev = git.fetch(spec.get("url", ""), commit=sha, credentials=creds)
            except SourceError:
                continue
            out[sha] = Commit(rev.sha, rev.author, rev.message)
    return out


def audit_command(
    app: str = typer.Argument(..., help="Application name"),
    since: str = typer.Option("30d", "--since", help="How far back: 30d, 12h, 90m, 2w"),
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    output: Format = typer.Option(Format.table, "--output", "-o", help="table or json."),
) -> None:
    """Every change to APP's live objects: the commit that caused it (author, message), or
    an out-of-band edit with its field manager and whether self-heal reverted it."""
    from quarterdeck.audit import store
    from quarterdeck.audit.record import edits
    from quarterdeck.audit.trail import parse_span, timeline
    from quarterdeck.cli.options import cluster_errors
    from quarterdeck.delivery.cluster import FIELD_MANAGER, Cluster
    from quarterdeck.delivery.inventory import Entry as InventoryEntry
    from quarterdeck.delivery.manifests import Key

    try:
        span = parse_span(since)
    except ValueError as err:
        fail(str(err))
    client, ns = _connect(kubeconfig, context, namespace)
    obj = _application(client, ns, app)
    status = obj.get("status") or {}
    history = list(status.get("history") or [])
    with cluster_errors():
        recorded = store.read(client, ns, app)
        cluster = Cluster(client)
        live = []
        for ref in status.get("inventory") or []:
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            key = Key(group, ref.get("kind", ""), ref.get("namespace", ""), ref.get("name", ""))
            entry = InventoryEntry(key, str(ref.get("apiVersion", "")))
            found = cluster.get(entry.api_version, entry.key)
            if found:
                live.extend(edits(found, FIELD_MANAGER))
    commits = _commits(client, ns, obj, [str(h.get("revision", "")) for h in history])
    lines = timeline(f"Application/{ns}/{app}", history, commits, recorded, live, span,
                     time.time())
    if output == Format.json:
        sys.stdout.write(to_json([line.to_json() for line in lines]) + "\n")
        return
    table(["time", "change", "object", "by", "detail", "outcome"],
          [[x.time, x.change, x.object, x.by, x.detail, x.outcome] for x in lines])


@incident_app.command("start")
def incident_start(
    app: str = typer.Argument(..., help="Application name"),
    reason: str = typer.Option(..., "--reason", help="Why (recorded in the audit trail)"),
    duration: str = typer.Option("1h", "--for", help="How long: 30m, 1h, 2h (at most 24h)"),
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """Pause self-heal for APP (live edits are kept), recorded; it ends by itself."""
    from lightkube.types import PatchType

    from quarterdeck.audit import store
    from quarterdeck.audit.incident import ANNOTATION, Incident, rfc3339
    from quarterdeck.audit.record import Entry
    from quarterdeck.audit.trail import parse_span
    from quarterdeck.cli.options import cluster_errors
    from quarterdeck.delivery.resources import ApplicationRes

    try:
        seconds = parse_span(duration)
    except ValueError as err:
        fail(str(err).replace("--since", "--for"))
    if not reason.strip():
        fail("--reason must say why")
    if not 0 < seconds <= 86400:
        fail(f"--for {duration}: an incident lasts at most 24h")
    client, ns = _connect(kubeconfig, context, namespace)
    _application(client, ns, app)
    now = time.time()
    incident = Incident(reason.strip(), now, now + seconds, getpass.getuser())
    with cluster_errors():
        client.patch(ApplicationRes, app, {"metadata": {"annotations": {
            ANNOTATION: incident.to_annotation()}}}, namespace=ns,
                     patch_type=PatchType.MERGE)
        store.append(client, ns, app, [Entry(rfc3339(now), "incident", reason=incident.reason,
                                             until=rfc3339(incident.until), by=incident.by)])
    typer.echo(f"incident on Application {ns}/{app}: self-heal paused until "
               f"{rfc3339(incident.until)} ({reason.strip()})")


@incident_app.command("end")
def incident_end(
    app: str = typer.Argument(..., help="Application name"),
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """End APP's incident now: self-heal resumes (and reverts edits made meanwhile)."""
    from lightkube.types import PatchType

    from quarterdeck.audit import store
    from quarterdeck.audit.incident import ANNOTATION, incident_of, rfc3339
    from quarterdeck.audit.record import Entry
    from quarterdeck.cli.options import cluster_errors
    from quarterdeck.delivery.resources import ApplicationRes

    client, ns = _connect(kubeconfig, context, namespace)
    obj = _application(client, ns, app)
    incident = incident_of((obj.get("metadata") or {}).get("annotations"))
    if incident is None or incident.until <= time.time():
        fail(f"Application {ns}/{app} has no incident in progress")
    now = time.time()
    with cluster_errors():
        client.patch(ApplicationRes, app, {"metadata": {"annotations": {ANNOTATION: None}}},
                     namespace=ns, patch_type=PatchType.MERGE)
        store.append(client, ns, app, [Entry(rfc3339(now), "incident",
                                             reason=f"ended early: {incident.reason}",
                                             until=rfc3339(now), by=getpass.getuser())])
    typer.echo(f"incident on Application {ns}/{app} ended; self-heal resumes")
