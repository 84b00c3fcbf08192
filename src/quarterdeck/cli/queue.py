"""`qd queue`: queues, usage and why a workload waits; offline simulation; the CRDs.

`list`, `pending` and `why` read the live cluster and run the same pure cycle the
controller runs (without acting), so "why" is the reason as of now. `simulate` does
the same over manifest files, offline.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import yaml
from rich.table import Table

from quarterdeck.api.queueing import all_crds, load_documents
from quarterdeck.api.queueing.manifests import ManifestError, QueueingObject
from quarterdeck.api.queueing.quantity import to_milli
from quarterdeck.cli.output import OUTPUT_OPTION, OutputFormat, console, emit, err_console, fail
from quarterdeck.queueing import Decisions, GpuPlacer, Node, Snapshot, cycle, snapshot_from_objects
from quarterdeck.queueing.model import fmt
from quarterdeck.queueing.snapshot import node_from_object
from quarterdeck.queueing.status import cluster_queue_status

app = typer.Typer(
    help="Kueue-shaped GPU admission: queues, quotas, why pending.", no_args_is_help=True
)

KubeOption = Annotated[
    Path | None, typer.Option("--kubeconfig", help="Kubeconfig (default: $KUBECONFIG).")
]
FilesArgument = Annotated[
    list[Path], typer.Argument(help="YAML manifests (queueing kinds, Kueue kinds, Nodes).")
]


@app.command()
def simulate(
    files: FilesArgument,
    fair_sharing: Annotated[
        bool, typer.Option("--fair-sharing", help="Order and preempt by dominant share.")
    ] = False,
    placement: Annotated[
        bool,
        typer.Option(
            "--placement/--no-placement",
            help="Admit only gangs that fit on the given Nodes (default when Nodes are given).",
        ),
    ] = True,
    policy: Annotated[
        str, typer.Option("--policy", help="Placement scorer: bestfit, packing, clustering, ...")
    ] = "bestfit",
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Run one admission cycle over manifests and show admit / preempt / pending and why."""
    objects, nodes = _load(files)
    snapshot = snapshot_from_objects(objects, nodes=nodes, fair_sharing=fair_sharing)
    use_placer = placement and bool(nodes)
    decisions = cycle(snapshot, placer=GpuPlacer(policy) if use_placer else None)
    if emit(_as_data(decisions), output):
        return
    _table(decisions, placed=use_placer)


@app.command()
def crds(output: OutputFormat = OUTPUT_OPTION) -> None:
    """Print the queueing.quarterdeck.dev CRDs (`-o yaml` to apply them)."""
    docs = all_crds()
    if output is OutputFormat.yaml:
        typer.echo(yaml.safe_dump_all(docs, sort_keys=False).rstrip())
        return
    if emit(docs, output):
        return
    table = Table("NAME", "KIND", "SCOPE", "SHORT NAMES")
    for c in docs:
        names = c["spec"]["names"]
        table.add_row(
            c["metadata"]["name"],
            names["kind"],
            c["spec"]["scope"],
            ",".join(names.get("shortNames", [])),
        )
    console.print(table)


def _load(files: list[Path]) -> tuple[list[QueueingObject], list[Node]]:
    objects: list[QueueingObject] = []
    nodes: list[Node] = []
    try:
        for path in files:
            try:
                docs = list(yaml.safe_load_all(path.read_text()))
            except OSError as err:
                fail(f"{path}: cannot read: {err.strerror}")
            except yaml.YAMLError as err:
                mark = getattr(err, "problem_mark", None)
                line = f":{mark.line + 1}" if mark is not None else ""
                fail(f"{path}{line}: invalid YAML: {getattr(err, 'problem', None) or err}")
            rest: list[Any] = []
            for index, doc in enumerate(docs, start=1):
                if isinstance(doc, dict) and doc.get("kind") == "Node":
                    nodes.append(node_from_object(doc, f"{path}: document {index}"))
                else:
                    rest.append(doc)
            objects.extend(load_documents(rest, str(path)))
    except (ManifestError, ValueError) as err:
        fail(str(err))
    seen: set[tuple[str, str | None, str]] = set()
    for obj in objects:
        key = (obj.KIND, obj.metadata.namespace, obj.metadata.name)
        if key in seen:
            fail(f"duplicate {obj.KIND} {obj.metadata.name}")
        seen.add(key)
    return objects, nodes


def _as_data(d: Decisions) -> dict[str, Any]:
    return {
        "admitted": [
            {
                "workload": a.workload.key,
                "clusterQueue": a.cluster_queue,
                "borrows": a.borrows,
                "podSets": [
                    {
                        "name": ps.name,
                        "count": ps.count,
                        "flavors": dict(ps.flavors),
                        "resourceUsage": {r: fmt(v, r) for r, v in ps.usage.items()},
                        **({"nodes": dict(ps.nodes)} if ps.nodes is not None else {}),
                    }
                    for ps in a.pod_sets
                ],
            }
            for a in d.admitted
        ],
        "preempted": [
            {
                "workload": p.victim.workload.key,
                "clusterQueue": p.victim.workload.cluster_queue,
                "preemptor": p.preemptor,
                "reason": p.reason,
                "message": p.message,
            }
            for p in d.preempted
        ],
        "pending": [
            {
                "workload": p.workload.key,
                "clusterQueue": p.workload.cluster_queue,
                "reason": p.reason,
                "message": p.message,
            }
            for p in d.pending
        ],
    }


def _table(d: Decisions, placed: bool) -> None:
    table = Table("WORKLOAD", "CLUSTER QUEUE", "DECISION", "FLAVORS", "DETAIL")
    for a in d.admitted:
        flavors = ",".join(sorted({f for ps in a.pod_sets for f in ps.flavors.values()}))
        nodes = sorted({n for ps in a.pod_sets for n in (ps.nodes or {})})
        detail = ("borrows; " if a.borrows else "") + (f"nodes {','.join(nodes)}" if placed else "")
        table.add_row(
            a.workload.key, a.cluster_queue, "[green]Admit[/]", flavors, detail.strip("; ")
        )
    for p in d.preempted:
        table.add_row(
            p.victim.workload.key,
            p.victim.workload.cluster_queue,
            f"[red]Preempt[/] ({p.reason})",
            "",
            p.message,
        )
    for q in d.pending:
        table.add_row(
            q.workload.key, q.workload.cluster_queue, f"[yellow]{q.reason}[/]", "", q.message
        )
    console.print(table)


def _live(kubeconfig: Path | None) -> tuple[Snapshot, Decisions]:
    """The live snapshot and what a cycle would decide on it now (nothing is changed)."""
    from lightkube import ApiError, ConfigError

    from quarterdeck.kube.client import describe_target, load_client
    from quarterdeck.queueing.live import QueueingNotInstalledError, read_snapshot

    try:
        client = load_client(kubeconfig, field_manager="quarterdeck-queueing")
        snapshot, _, problems = read_snapshot(client, now=time.time())
    except QueueingNotInstalledError as err:
        fail(str(err))
    except (ApiError, ConfigError, OSError, httpx.HTTPError) as err:
        fail(f"cannot read the cluster at {describe_target(kubeconfig)}: {err}")
    for problem in problems:
        err_console.print(
            f"[yellow]warning:[/] left out {problem}", highlight=False, soft_wrap=True
        )
    placer = GpuPlacer() if snapshot.nodes else None
    return snapshot, cycle(snapshot, placer)


@app.command("list")
def list_queues(kubeconfig: KubeOption = None, output: OutputFormat = OUTPUT_OPTION) -> None:
    """ClusterQueues with their cohort, workloads and quota usage per flavor."""
    snapshot, _ = _live(kubeconfig)
    status = cluster_queue_status(snapshot, Decisions())
    rows: list[dict[str, Any]] = []
    for name, cq in sorted(snapshot.cluster_queues.items()):
        st = status[name]
        usage: list[dict[str, Any]] = []
        for fr, quota in cq.flavor_resources():
            used = next(
                (
                    to_milli(r.total, "total")
                    for f in st.flavors_usage
                    if f.name == fr[0]
                    for r in f.resources
                    if r.name == fr[1]
                ),
                0,
            )
            usage.append(
                {
                    "flavor": fr[0],
                    "resource": fr[1],
                    "used": fmt(used, fr[1]),
                    "nominal": fmt(quota.nominal, fr[1]),
                    "usedMilli": used,
                    "nominalMilli": quota.nominal,
                }
            )
        rows.append(
            {
                "name": name,
                "cohort": cq.cohort,
                "strategy": cq.strategy,
                "pending": st.pending_workloads,
                "admitted": st.admitted_workloads,
                "usage": usage,
            }
        )
    if emit(rows, output):
        return
    table = Table("NAME", "COHORT", "STRATEGY", "PENDING", "ADMITTED", "USAGE")
    for r in rows:
        bars = "\n".join(
            f"{u['flavor']} {u['resource']} {_bar(u['usedMilli'], u['nominalMilli'])} "
            f"{u['used']}/{u['nominal']}"
            for u in r["usage"]
        )
        table.add_row(
            r["name"], r["cohort"] or "", r["strategy"], str(r["pending"]), str(r["admitted"]), bars
        )
    console.print(table)


@app.command()
def pending(
    queue: Annotated[str | None, typer.Argument(help="ClusterQueue (default: all).")] = None,
    kubeconfig: KubeOption = None,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Workloads not running, in queue order, with what the next cycle would do and why."""
    snapshot, decisions = _live(kubeconfig)
    if queue is not None and queue not in snapshot.cluster_queues:
        fail(f"ClusterQueue {queue} not found")
    data = _as_data(decisions)
    rows = [
        {
            "workload": a["workload"],
            "clusterQueue": a["clusterQueue"],
            "reason": "Admissible",
            "message": "the next cycle admits it",
        }
        for a in data["admitted"]
    ] + data["pending"]
    rows = [r for r in rows if queue is None or r["clusterQueue"] == queue]
    if emit(rows, output):
        return
    table = Table("WORKLOAD", "CLUSTER QUEUE", "REASON", "MESSAGE")
    for r in rows:
        table.add_row(r["workload"], r["clusterQueue"], r["reason"], r["message"])
    console.print(table)


@app.command()
def why(
    workload: Annotated[str, typer.Argument(help="Workload name.")],
    namespace: Annotated[str, typer.Option("--namespace", "-n")] = "default",
    kubeconfig: KubeOption = None,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Why a workload is pending (or where it runs), as of now."""
    snapshot, decisions = _live(kubeconfig)
    key = f"{namespace}/{workload}"
    answer: dict[str, Any] | None = None
    for adm in snapshot.admitted:
        if adm.workload.key == key:
            nodes = sorted({n for ps in adm.pod_sets for n in (ps.nodes or {})})
            flavors = sorted({f for ps in adm.pod_sets for f in ps.flavors.values()})
            answer = {
                "workload": key,
                "state": "Admitted",
                "clusterQueue": adm.workload.cluster_queue,
                "message": f"running on flavor {', '.join(flavors)}"
                + (f", nodes {', '.join(nodes)}" if nodes else ""),
            }
    for a in decisions.admitted:
        if a.workload.key == key:
            answer = {
                "workload": key,
                "state": "Admissible",
                "clusterQueue": a.cluster_queue,
                "message": "fits now; the next cycle admits it",
            }
    for p in decisions.pending:
        if p.workload.key == key:
            answer = {
                "workload": key,
                "state": p.reason,
                "clusterQueue": p.workload.cluster_queue,
                "message": p.message,
            }
    if answer is None:
        fail(f"workload {key} not found")
    if emit(answer, output):
        return
    console.print(f"[bold]{key}[/] ({answer['clusterQueue']}): {answer['state']}", soft_wrap=True)
    console.print(answer["message"], highlight=False, soft_wrap=True)


def _bar(used: int, nominal: int, width: int = 10) -> str:
    if nominal <= 0:
        return "[" + ("!" * width if used else " " * width) + "]"
    filled = min(width, round(width * used / nominal))
    over = "+" if used > nominal else ""
    return "[" + "#" * filled + "." * (width - filled) + "]" + over


@app.command()
def reconcile(
    kubeconfig: KubeOption = None,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 1.0,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port.")
    ] = None,
) -> None:
    """Run the queueing controller's passes against a cluster (until interrupted)."""
    from lightkube import ApiError, ConfigError

    from quarterdeck.kube.client import describe_target, load_client
    from quarterdeck.queueing.controller import FIELD_MANAGER, reconcile_once
    from quarterdeck.queueing.live import QueueingNotInstalledError
    from quarterdeck.queueing.metrics import QueueMetrics

    metrics = QueueMetrics()
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, registry=metrics.registry)
    try:
        client = load_client(kubeconfig, field_manager=FIELD_MANAGER)
        while True:
            report = reconcile_once(client, time.time(), metrics=metrics)
            for label, keys in (
                ("created", report.created),
                ("admitted", report.admitted),
                ("preempted", report.preempted),
                ("finished", report.finished),
                ("released", report.released),
            ):
                for key in keys:
                    console.print(f"{label:<9} {key}", highlight=False)
            for problem in report.problems:
                err_console.print(f"[yellow]warning:[/] {problem}", highlight=False, soft_wrap=True)
            if once:
                return
            time.sleep(interval)
    except QueueingNotInstalledError as err:
        fail(str(err))
    except (ApiError, ConfigError, OSError, httpx.HTTPError) as err:
        fail(f"cannot reconcile the cluster at {describe_target(kubeconfig)}: {err}")
