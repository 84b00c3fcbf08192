"""`qd demo`: the first thing a newcomer runs — a dev cluster with GPUs doing real work."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from quarterdeck.cli import dev
from quarterdeck.cli.output import fail

if TYPE_CHECKING:
    from lightkube import Client
    from rich.table import Table

DEMO_POOLS = ["2x cpu-16", "2x gpu-h100-8:rack-size=1"]
#: The example manifests ship inside the package so `qd demo` works from any directory.
EXAMPLES = Path(__file__).resolve().parent / "demo_manifests"


def _apply_examples(client: Client) -> None:
    from lightkube.codecs import from_dict

    from quarterdeck import kyaml

    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in kyaml.read_all(path):
            obj: Any = from_dict(doc.data)
            obj.metadata.namespace = "default"
            client.apply(obj, force=True)


def _pod_table(client: Client) -> tuple[Table, bool]:
    from lightkube.resources.apps_v1 import Deployment
    from lightkube.resources.batch_v1 import Job
    from lightkube.resources.core_v1 import Pod
    from rich.table import Table

    table = Table(title="pods in namespace default")
    for col in ("pod", "node", "GPUs", "phase"):
        table.add_column(col)
    pods = {p.metadata.name: p for p in client.list(Pod, namespace="default") if p.metadata}
    for _, pod in sorted(pods.items(), key=lambda kv: kv[0] or ""):
        resources = pod.spec.containers[0].resources if pod.spec else None
        limits = (resources.limits if resources else None) or {}
        phase = pod.status.phase if pod.status else "?"
        color = {"Running": "green", "Succeeded": "blue"}.get(phase or "", "yellow")
        table.add_row(
            pod.metadata.name if pod.metadata else "?",
            pod.spec.nodeName or "-" if pod.spec else "-",
            str(limits.get("nvidia.com/gpu", "")),
            f"[{color}]{phase}[/]",
        )
    dep = client.get(Deployment, "web", namespace="default")
    job = client.get(Job, "train", namespace="default")
    available = (dep.status.availableReplicas or 0) if dep.status else 0
    succeeded = (job.status.succeeded or 0) if job.status else 0
    table.caption = f"deployment/web: {available}/3 available · job/train: {succeeded}/4 succeeded"
    return table, available == 3 and succeeded == 4


def demo(
    name: Annotated[str, typer.Option("--name", help="Dev cluster name.")] = "demo",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the workloads.")] = 180,
) -> None:
    """Start a dev cluster with a GPU pool, run a Deployment and a GPU Job, watch them finish."""
    from rich.console import Console
    from rich.live import Live

    from quarterdeck.devcluster import cluster
    from quarterdeck.kube.client import load_client

    console = Console()
    if cluster.status(name) is None:
        dev.up(name=name, nodes=DEMO_POOLS, nodes_from_trace=None, api_port=None, timeout=120)
    layout, _ = cluster.require_running(name)
    client = load_client(layout.kubeconfig, field_manager="quarterdeck-demo")
    console.print("applying deployment/web (3 replicas) and job/train (4 pods x 2 GPUs, 20 s each)")
    _apply_examples(client)
    deadline = time.monotonic() + timeout
    with Live(console=console, refresh_per_second=4) as live:
        while True:
            table, done = _pod_table(client)
            live.update(table)
            if done:
                break
            if time.monotonic() > deadline:
                fail(
                    f"the demo workloads did not finish in {timeout:.0f}s: "
                    f"see `qd dev status --name {name}`"
                )
            time.sleep(1)
    console.print("[green]✓[/] web is Available on fake nodes and train Succeeded on GPU nodes.")
    console.print(f"  eval $(qd dev env --name {name}); kubectl get nodes,pods -o wide")
    console.print(f"  qd dev down --name {name}")
