"""`qd dev`: a real local Kubernetes control plane with fake GPU nodes."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from quarterdeck import kyaml
from quarterdeck.cli.output import OUTPUT_OPTION, OutputFormat, console, emit, err_console, fail
from quarterdeck.devcluster import build, cache, cluster, pools, process, tracedata
from quarterdeck.devcluster.nodes import trace_nodes
from quarterdeck.devcluster.ports import PortInUseError
from quarterdeck.devcluster.session import PlainReporter
from quarterdeck.devcluster.versions import PINS, Component

app = typer.Typer(
    help="Run a local control plane (etcd, kube-apiserver, controller-manager, "
    "scheduler, kwok) with fake GPU nodes.",
    no_args_is_help=True,
)

NameOption = Annotated[str, typer.Option("--name", "-n", help="Cluster name.")]


class RichReporter:
    """Shows build and start-up progress: one bar per task, a line per step."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def step(self, text: str) -> None:
        self._progress.console.print(f"[cyan]•[/] {text}")

    def progress(self, task: str, done: int, total: int | None) -> None:
        key = task.split(":")[0]
        if key not in self._tasks:
            self._tasks[key] = self._progress.add_task(task, total=total)
        self._progress.update(self._tasks[key], description=task, completed=done, total=total)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    )


def _ensure_binaries(force: bool = False) -> dict[Component, Path]:
    try:
        missing = list(Component) if force else cache.missing_components()
        if missing:
            err_console.print(
                f"building {', '.join(c.value for c in missing)} from source "
                "(the first time takes many minutes; binaries are cached afterwards)"
            )
        if not err_console.is_terminal:  # CI logs: plain lines instead of redrawn bars
            return build.ensure_binaries(PlainReporter().progress, force=force)
        with _progress() as bar:
            return build.ensure_binaries(RichReporter(bar).progress, force=force)
    except (build.BuildError, cache.CorruptBinaryError) as e:
        fail(str(e))


def _node_specs(specs: list[str], trace: str | None) -> list[pools.NodeSpec]:
    try:
        parsed: list[pools.NodePool] = []
        for spec in specs:
            path = Path(spec)
            if spec.endswith((".yaml", ".yml")) or path.is_file():
                try:
                    doc = kyaml.load(kyaml.read_bytes(path, spec, kyaml.LIMITS.max_bytes), spec)
                except kyaml.YAMLError as e:
                    fail(f"cannot read pool file {spec}: {e}")
                parsed.extend(pools.parse_pool_document(doc, spec))
            else:
                parsed.append(pools.parse_spec(spec))
        pools.check_unique(parsed)
        nodes = [n for p in parsed for n in pools.expand(p)]
        if trace is not None:
            node_file = tracedata.resolve_node_file(trace, Path.cwd())
            nodes += trace_nodes(node_file.read_text(), str(node_file))
    except (pools.PoolSpecError, OSError) as e:
        fail(str(e))
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        fail("two node pools produce nodes with the same name: give a pool another name=")
    return nodes


@app.command("build")
def build_cmd(force: Annotated[bool, typer.Option(help="Rebuild even if cached.")] = False) -> None:
    """Build (or verify) the pinned control-plane binaries."""
    started = time.monotonic()
    paths = _ensure_binaries(force)
    for component, path in paths.items():
        console.print(f"{component.value:<24} {PINS[component].version:<9} {path}")
    console.print(f"ready in {time.monotonic() - started:.1f}s")


@app.command()
def up(
    name: NameOption = cluster.DEFAULT_NAME,
    nodes: Annotated[
        list[str] | None,
        typer.Option(
            "--nodes",
            help="Node pool: '4x gpu-h100-8', '2x cpu-16:zone=b', or a YAML file. Repeatable.",
        ),
    ] = None,
    nodes_from_trace: Annotated[
        str | None,
        typer.Option(help="Add the trace's GPU nodes: 'openb' (1,213 nodes) or a node CSV path."),
    ] = None,
    api_port: Annotated[int | None, typer.Option(help="Fixed API server port.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each component.")] = 120.0,
) -> None:
    """Start a dev cluster and wait until the API and every node are Ready."""
    specs = _node_specs(
        nodes if nodes else ([] if nodes_from_trace else ["2x cpu-16"]), nodes_from_trace
    )
    binaries = _ensure_binaries()
    started = time.monotonic()
    try:
        with _progress() as bar:
            st = cluster.up(name, specs, binaries, RichReporter(bar), api_port, timeout)
    except (cluster.ClusterError, PortInUseError, ValueError, TimeoutError) as e:
        fail(str(e))
    except RuntimeError as e:
        fail(f"dev cluster {name!r} failed to start: {e}")
    kubeconfig = cluster.layout_for(name).kubeconfig
    console.print(
        f"[green]✓[/] dev cluster [bold]{name}[/] is up at {st.server} with "
        f"{len(specs)} nodes in {time.monotonic() - started:.1f}s"
    )
    console.print(f"  export KUBECONFIG={kubeconfig}    # or: eval $(qd dev env --name {name})")
    console.print("  kubectl get nodes -L nvidia.com/gpu.product")
    console.print(f"  qd dev down --name {name}")


@app.command()
def down(
    name: NameOption = cluster.DEFAULT_NAME,
    all_: Annotated[bool, typer.Option("--all", help="Stop every dev cluster.")] = False,
) -> None:
    """Stop a dev cluster: no process or listening port is left behind."""
    from quarterdeck.devcluster.state import known_clusters

    names = known_clusters(cache.clusters_dir()) if all_ else [name]
    for n in names:
        try:
            stopped = cluster.down(n)
        except (cluster.ClusterError, ValueError) as e:
            fail(str(e))
        console.print(f"stopped dev cluster {n}" if stopped else f"no dev cluster named {n}")


@app.command()
def status(name: NameOption = cluster.DEFAULT_NAME, output: OutputFormat = OUTPUT_OPTION) -> None:
    """Show the processes, ports and API health of a dev cluster."""
    try:
        st = cluster.status(name)
    except ValueError as e:
        fail(str(e))
    if st is None:
        fail(f"no dev cluster named {name!r}: start one with `qd dev up --name {name}`")
    data = {
        "name": st.name,
        "server": st.server,
        "kubeconfig": str(st.kubeconfig),
        "apiReady": st.api_ready,
        "healthy": st.healthy,
        "components": [
            {
                "component": c.component.value,
                "pid": c.pid,
                "alive": c.alive,
                "port": c.port,
                "listening": c.listening,
            }
            for c in st.components
        ],
    }
    if not emit(data, output):
        table = Table(title=f"dev cluster {name} — {st.server}")
        for col in ("component", "pid", "state", "port"):
            table.add_column(col)
        for c in st.components:
            state = "[green]running[/]" if c.alive else "[red]exited[/]"
            table.add_row(c.component.value, str(c.pid), state, str(c.port))
        console.print(table)
        console.print(f"API ready: {'yes' if st.api_ready else '[red]no[/]'}")
        layout = cluster.layout_for(name)
        for c in st.components:
            if not c.alive:
                console.print(f"[red]{c.component.value} exited[/]; last lines of its log:")
                console.print(process.tail(layout.log(c.component)), markup=False)
    if not st.healthy:
        raise typer.Exit(1)


@app.command()
def env(name: NameOption = cluster.DEFAULT_NAME) -> None:
    """Print `export KUBECONFIG=...` for a dev cluster: eval $(qd dev env)."""
    try:
        layout, _ = cluster.require_running(name)
    except (cluster.ClusterError, ValueError) as e:
        fail(str(e))
    typer.echo(f"export KUBECONFIG={layout.kubeconfig}")


@app.command()
def logs(
    component: Annotated[Component, typer.Argument(help="Which process.")],
    name: NameOption = cluster.DEFAULT_NAME,
    tail: Annotated[int, typer.Option(help="Lines from the end.")] = 50,
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
) -> None:
    """Show a component's log."""
    layout = cluster.layout_for(name)
    log = layout.log(component)
    if not log.exists():
        fail(f"no log for {component.value} in dev cluster {name!r}")
    if follow:
        subprocess.run(["tail", "-n", str(tail), "-f", str(log)], check=False)
    else:
        typer.echo(process.tail(log, tail))
