"""`qd dev`: a real local Kubernetes control plane with fake GPU nodes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from quarterdeck.cli.output import OUTPUT_OPTION, Exit, OutputFormat, emit, fail, table
from quarterdeck.devcluster.versions import PINS, Component

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from quarterdeck.devcluster import pools

app = typer.Typer(
    help="Run a local control plane (etcd, kube-apiserver, controller-manager, "
    "scheduler, kwok) with fake GPU nodes.",
    no_args_is_help=True,
)

#: `--name` only: `-n` means namespace in every other `qd` command, as in kubectl.
NameOption = Annotated[str, typer.Option("--name", help="Cluster name.")]
DEFAULT_NAME = "dev"  # devcluster.cluster.DEFAULT_NAME, without importing it for --help


def _say(text: str) -> None:
    """A line for the user on stdout (rich markup allowed)."""
    from rich.console import Console

    Console(highlight=False).print(text)


def _err_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


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
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err_console(),
    )


def _ensure_binaries(force: bool = False) -> dict[Component, Path]:
    from quarterdeck.devcluster import build, cache
    from quarterdeck.devcluster.session import PlainReporter

    err_console = _err_console()
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


def _ensure_helm(force: bool) -> tuple[str, Path]:
    """Build (or verify) the pinned Helm the delivery renderer runs."""
    from quarterdeck.delivery.helm import HELM
    from quarterdeck.devcluster import build, cache
    from quarterdeck.devcluster.gocommand import ensure_command
    from quarterdeck.devcluster.session import PlainReporter

    try:
        return HELM.version, ensure_command(HELM, PlainReporter().progress, force=force)
    except (build.BuildError, cache.CorruptBinaryError) as e:
        fail(str(e))


def _node_specs(specs: list[str], trace: str | None) -> list[pools.NodeSpec]:
    from quarterdeck import kyaml
    from quarterdeck.devcluster import pools, tracedata
    from quarterdeck.devcluster.nodes import trace_nodes

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
        typer.echo(f"{component.value:<24} {PINS[component].version:<9} {path}")
    helm = _ensure_helm(force)  # delivery: Helm for the chart renderer (make test builds it)
    typer.echo(f"{'helm':<24} {helm[0]:<9} {helm[1]}")
    typer.echo(f"ready in {time.monotonic() - started:.1f}s")


@app.command()
def up(
    name: NameOption = DEFAULT_NAME,
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
    from quarterdeck.devcluster import cluster
    from quarterdeck.devcluster.ports import PortInUseError

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
    _say(
        f"[green]✓[/] dev cluster [bold]{name}[/] is up at {st.server} with "
        f"{len(specs)} nodes in {time.monotonic() - started:.1f}s"
    )
    typer.echo(f"  export KUBECONFIG={kubeconfig}    # or: eval $(qd dev env --name {name})")
    typer.echo("  kubectl get nodes -L nvidia.com/gpu.product")
    typer.echo(f"  qd dev down --name {name}")


@app.command()
def down(
    name: NameOption = DEFAULT_NAME,
    all_: Annotated[bool, typer.Option("--all", help="Stop every dev cluster.")] = False,
) -> None:
    """Stop a dev cluster: no process or listening port is left behind."""
    from quarterdeck.devcluster import cache, cluster
    from quarterdeck.devcluster.state import known_clusters

    names = known_clusters(cache.clusters_dir()) if all_ else [name]
    for n in names:
        try:
            stopped = cluster.down(n)
        except (cluster.ClusterError, ValueError) as e:
            fail(str(e))
        typer.echo(f"stopped dev cluster {n}" if stopped else f"no dev cluster named {n}")


@app.command()
def status(name: NameOption = DEFAULT_NAME, output: OutputFormat = OUTPUT_OPTION) -> None:
    """Show the processes, ports and API health of a dev cluster (exit 1 if unhealthy)."""
    from quarterdeck.devcluster import cluster, process

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
        rows = [[c.component.value, str(c.pid), "running" if c.alive else "exited", str(c.port)]
                for c in st.components]
        title = f"dev cluster {name} — {st.server}"
        table(["component", "pid", "state", "port"], rows, title=title)
        typer.echo(f"API ready: {'yes' if st.api_ready else 'no'}")
        layout = cluster.layout_for(name)
        for c in st.components:
            if not c.alive:
                typer.echo(f"{c.component.value} exited; last lines of its log:")
                typer.echo(process.tail(layout.log(c.component)))
    if not st.healthy:
        raise typer.Exit(Exit.FINDING)


@app.command()
def env(name: NameOption = DEFAULT_NAME) -> None:
    """Print `export KUBECONFIG=...` for a dev cluster: eval $(qd dev env)."""
    from quarterdeck.devcluster import cluster

    try:
        layout, _ = cluster.require_running(name)
    except (cluster.ClusterError, ValueError) as e:
        fail(str(e))
    typer.echo(f"export KUBECONFIG={layout.kubeconfig}")


@app.command()
def logs(
    component: Annotated[Component, typer.Argument(help="Which process.")],
    name: NameOption = DEFAULT_NAME,
    tail: Annotated[int, typer.Option(help="Lines from the end.")] = 50,
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
) -> None:
    """Show a component's log."""
    from quarterdeck.devcluster import cluster, process

    layout = cluster.layout_for(name)
    log = layout.log(component)
    if not log.exists():
        fail(f"no log for {component.value} in dev cluster {name!r}")
    if follow:
        sys.stdout.flush()
        subprocess.run(["tail", "-n", str(tail), "-f", str(log)], check=False)
    else:
        typer.echo(process.tail(log, tail))

from quarterdeck.cli import showback  # noqa: E402

app.command("prometheus")(showback.dev_prometheus)  # showback: a real Prometheus for the cluster
