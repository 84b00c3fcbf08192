"""`qd dashboard`: serve the web dashboard against any kubeconfig (docs/dashboard.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quarterdeck.cli.options import AllowExecOpt, ContextOpt, KubeconfigOpt


def dashboard(
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    allow_exec: AllowExecOpt = False,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    sync_timeout: Annotated[
        float, typer.Option("--sync-timeout", help="Seconds to wait for the first lists.")
    ] = 60.0,
) -> None:
    """Serve the dashboard: Applications, queues and GPUs, for the user who signs in with a
    Kubernetes bearer token (every read and action checked with SubjectAccessReview)."""
    from quarterdeck.cli.options import client_from, cluster_errors
    from quarterdeck.dashboard.server import FIELD_MANAGER, DashboardServer, ListenError

    if not 0 <= port <= 65535:
        raise typer.BadParameter(f"--port {port}: must be 0..65535")
    with cluster_errors():
        client, _ = client_from(
            Path(kubeconfig) if kubeconfig else None, context, None, allow_exec,
            field_manager=FIELD_MANAGER,
        )
    try:
        server = DashboardServer(client, host, port)
    except ListenError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    try:
        server.sync_caches(sync_timeout)
    except TimeoutError as err:
        server.stop()
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(3) from None
    typer.echo(f"dashboard on http://{host}:{server.port}/ (Ctrl-C stops it)", err=True)
    server.run()
