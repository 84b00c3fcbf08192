"""`qd demo`: the platform's story on a dev cluster (see docs/demo.md).

Starts (or reuses) the dev cluster `demo`, or uses `--kubeconfig`'s cluster, and plays
`quarterdeck.dashboard.story`: the teams' apps synced from Git, a commit the guardrail
refuses, an edit taken back, GPU Jobs borrowing and reclaiming quota in a cohort, and
showback. Then `--serve` keeps the operator and its dashboard running until Ctrl-C;
`--no-serve` (CI, tests) stops the operator and exits 0 once every step is done.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from quarterdeck.cli import dev
from quarterdeck.cli.output import fail

DEMO_POOLS = ["2x cpu-16", "2x gpu-h100-8:rack-size=1,nvlink-size=1"]


def demo(
    name: Annotated[str, typer.Option("--name", help="Dev cluster name.")] = "demo",
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Play on this cluster instead of a dev cluster.")
    ] = None,
    serve: Annotated[
        bool, typer.Option(help="After the story, keep the operator and dashboard up until "
                           "Ctrl-C (--no-serve: stop and exit).")
    ] = False,
    dashboard_port: Annotated[int, typer.Option(help="The dashboard's port.")] = 8080,
    workdir: Annotated[
        Path, typer.Option(help="The teams' Git repository, the operator's cache and log.")
    ] = Path(".qd-demo"),
    timeout: Annotated[float, typer.Option(help="Seconds each step may take.")] = 120,
    clean: Annotated[
        bool, typer.Option("--clean", help="Remove what the demo made on the cluster; exit.")
    ] = False,
    prometheus_url: Annotated[
        str, typer.Option(help="The Prometheus showback reads GPU utilisation from (default: "
                          "one started for the cluster's fake GPUs).")
    ] = "",
) -> None:
    """Play the platform's story: Git sync, a guardrail, GPU queues, showback, dashboard."""
    from quarterdeck.dashboard.server import ListenError, listen
    from quarterdeck.dashboard.story import Story, StoryError
    from quarterdeck.devcluster import prometheus as devprom
    from quarterdeck.kube.client import load_client

    own_cluster = kubeconfig is None
    if kubeconfig is None:
        from quarterdeck.devcluster import cluster

        if cluster.status(name) is None:
            dev.up(name=name, nodes=DEMO_POOLS, nodes_from_trace=None, api_port=None,
                   timeout=120)
        layout, _ = cluster.require_running(name)
        kubeconfig = layout.kubeconfig
    story = Story(load_client(kubeconfig, field_manager="quarterdeck-demo"), kubeconfig,
                  workdir.resolve(), dashboard_port, typer.echo, prometheus_url, timeout=timeout)
    if clean:
        try:
            story.clean()
        except (StoryError, TimeoutError) as err:
            fail(str(err))
        typer.echo("removed the demo's teams, queues, guardrail, prices, budgets and usage records")
        return
    try:
        listen("127.0.0.1", dashboard_port).close()  # a taken port: one line, before anything
    except ListenError as err:
        fail(f"{err} (choose another with --dashboard-port)")
    own_prometheus = None  # started here for a --kubeconfig cluster: stopped at the end
    if not prometheus_url:
        try:
            if own_cluster:
                state = devprom.start_for(name)  # `qd dev down` stops it with the cluster
            else:
                own_prometheus = workdir.resolve() / "prometheus"
                state = devprom.start(own_prometheus, kubeconfig)
        except (devprom.PrometheusError, OSError) as err:
            fail(str(err))
        story.prometheus_url = state.url
        typer.echo(f"Prometheus {state.url} scrapes the fake GPUs' metrics for showback")
    try:
        story.play()
        typer.echo(story.guide())
        if serve:
            typer.echo("Serving until Ctrl-C (the dev cluster keeps running; "
                       f"`qd dev down --name {name}` stops it).")
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            while not stop.wait(1.0):
                if story.operator is not None and not story.operator.alive():
                    fail(f"the operator stopped: see {story.operator.log}")
    except (StoryError, TimeoutError) as err:
        fail(str(err))
    finally:
        story.stop()
        if own_prometheus is not None:
            devprom.stop(own_prometheus)
