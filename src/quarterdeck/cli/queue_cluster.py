"""`qd queue list|pending|why|reconcile`: queueing on a live cluster.

`list`, `pending` and `why` read the cluster and run the same pure cycle the
controller runs, without acting, so "why" is the reason as of now; `reconcile` runs
the controller's passes (optionally with metrics).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from quarterdeck.cli.options import (
    AllowExecOpt,
    ContextOpt,
    KubeconfigOpt,
    NamespaceOpt,
    target,
)
from quarterdeck.cli.output import OUTPUT_OPTION, OutputFormat, emit, fail, note, table

if TYPE_CHECKING:
    from quarterdeck.api.queueing.check import PodSetUpdate
    from quarterdeck.kube.config import ClientSettings
    from quarterdeck.queueing import Decisions, Snapshot

KubeOption = KubeconfigOpt
Told = dict[str, str]  # workload key -> its Admitted condition's message


def register(app: typer.Typer) -> None:
    """Add the live-cluster commands to the `qd queue` app."""
    app.command("list")(list_queues)
    app.command()(pending)
    app.command()(why)
    app.command()(check)
    app.command()(reconcile)


def _live(kubeconfig: ClientSettings | Path | None) -> tuple[Snapshot, Decisions, Told]:
    """The live snapshot under the cluster's QueueingConfig, what a cycle would decide
    on it now (nothing is changed), and what the Workloads' Admitted conditions say."""
    from quarterdeck.api.queueing.workload import ADMITTED
    from quarterdeck.api.queueing.workload import Workload as ApiWorkload
    from quarterdeck.cli.options import cluster_errors, connect
    from quarterdeck.queueing import cycle
    from quarterdeck.queueing.config import DEFAULT, configure, placer_from
    from quarterdeck.queueing.live import QueueingNotInstalledError, read_view

    client = connect(kubeconfig, field_manager="quarterdeck-queueing")
    try:
        with cluster_errors("queueing objects"):
            view = read_view(client)
            config, problem = view.config()
            snapshot, objects, problems = view.snapshot(
                time.time(), device_classes=config.device_classes
            )
    except QueueingNotInstalledError as err:
        fail(str(err))
    for line in [*problems, *([problem] if problem else [])]:
        note(f"warning: left out {line}")
    snapshot = snapshot if config is DEFAULT else configure(snapshot, config)
    told = {
        f"{o.metadata.namespace}/{o.metadata.name}": cond.message
        for o in objects
        if isinstance(o, ApiWorkload)
        and o.status is not None
        and (cond := o.status.condition(ADMITTED)) is not None
        and cond.status == "True"
    }
    placer = placer_from(config) if snapshot.nodes else None
    return snapshot, cycle(snapshot, placer), told


def list_queues(
    kubeconfig: KubeOption = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """ClusterQueues with their cohort, workloads and quota usage per flavor."""
    from quarterdeck.api.queueing.quantity import to_milli
    from quarterdeck.queueing import Decisions
    from quarterdeck.queueing.model import fmt
    from quarterdeck.queueing.status import cluster_queue_status

    settings, _ = target(kubeconfig, context, None, allow_exec_plugins)
    snapshot, _, _ = _live(settings)
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
    lines = []
    for r in rows:
        bars = "\n".join(
            f"{u['flavor']} {u['resource']} {_bar(u['usedMilli'], u['nominalMilli'])} "
            f"{u['used']}/{u['nominal']}"
            for u in r["usage"]
        )  # a plain cell: the bars' [#...] are text, not rich markup
        lines.append(
            [
                r["name"],
                r["cohort"] or "",
                r["strategy"],
                str(r["pending"]),
                str(r["admitted"]),
                bars,
            ]
        )
    table(["name", "cohort", "strategy", "pending", "admitted", "usage"], lines)


def pending(
    queue: Annotated[str | None, typer.Argument(help="ClusterQueue (default: all).")] = None,
    kubeconfig: KubeOption = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Workloads not running, in queue order, with what the next cycle would do and why."""
    settings, _ = target(kubeconfig, context, None, allow_exec_plugins)
    snapshot, decisions, _ = _live(settings)
    if queue is not None and queue not in snapshot.cluster_queues:
        fail(f"ClusterQueue {queue} not found")
    data = decisions.to_data()
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
    table(
        ["workload", "cluster queue", "reason", "message"],
        [[r["workload"], r["clusterQueue"], r["reason"], r["message"]] for r in rows],
    )


def why(
    workload: Annotated[
        str, typer.Argument(metavar="WORKLOAD|JOB", help="A Workload, a Job or job/NAME.")
    ],
    namespace: NamespaceOpt = None,
    kubeconfig: KubeOption = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Why a workload is pending (or where it runs), as of now."""
    settings, namespace = target(kubeconfig, context, namespace, allow_exec_plugins)
    snapshot, decisions, told = _live(settings)
    answers = _answers(snapshot, decisions, told)
    key = next((k for k in _candidates(namespace, workload) if k in answers), None)
    if key is None:
        here = sorted(k.split("/", 1)[1] for k in answers if k.startswith(f"{namespace}/"))
        hint = f"; workloads there: {', '.join(here[:5])}" if here else ""
        fail(
            f"no workload {workload!r} in namespace {namespace} (give a Workload name, a Job "
            f"name or job/NAME; `qd get workloads -n {namespace}` lists them){hint}"
        )
    answer = answers[key]
    if emit(answer, output):
        return
    typer.echo(f"{key} ({answer['clusterQueue']}): {answer['state']}")
    typer.echo(answer["message"])


CHECK_STATES = ("Ready", "Retry", "Rejected", "Pending")


def check(
    workload: Annotated[
        str, typer.Argument(metavar="WORKLOAD|JOB", help="A Workload, a Job or job/NAME.")
    ],
    name: Annotated[str, typer.Argument(metavar="CHECK", help="The AdmissionCheck.")],
    state: Annotated[
        str, typer.Option(help="Ready (admit), Retry (requeue), Rejected or Pending.")
    ] = "Ready",
    message: Annotated[str, typer.Option(help="Why, for `qd queue why`.")] = "",
    pod_set: Annotated[str, typer.Option(help="The pod set the updates below are for.")] = "main",
    node_selector: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE added to the pods' nodeSelector.")
    ] = None,
    label: Annotated[list[str] | None, typer.Option(help="KEY=VALUE added to the pods.")] = None,
    annotation: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE added to the pods' annotations.")
    ] = None,
    toleration: Annotated[
        list[str] | None,
        typer.Option(help="KEY[=VALUE][:EFFECT] added to the pods' tolerations."),
    ] = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeOption = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
) -> None:
    """Set a manual AdmissionCheck's verdict on a workload (the operator acts on it).

    --node-selector, --label, --annotation and --toleration become the check's
    podSetUpdates: merged into the Job's pods when it starts, as Kueue does."""
    import msgspec
    from lightkube import ApiError

    from quarterdeck.api.queueing.check import MANUAL
    from quarterdeck.api.queueing.workload import WorkloadStatus
    from quarterdeck.cli.options import cluster_errors, connect
    from quarterdeck.queueing.store import Writer
    from quarterdeck.queueing.writes import AdmissionCheckResource, WorkloadResource

    if state not in CHECK_STATES:
        fail(f"--state: unknown state {state!r}; choose from {', '.join(CHECK_STATES)}")
    try:
        update = pod_set_update(pod_set, node_selector, label, annotation, toleration)
    except ValueError as err:
        fail(str(err))
    settings, namespace = target(kubeconfig, context, namespace, allow_exec_plugins)
    client = connect(settings, field_manager="quarterdeck-queueing")
    with cluster_errors("queueing objects"):
        try:
            ac = client.get(AdmissionCheckResource, name)
        except ApiError as err:
            if err.status.code == 404:
                fail(f"AdmissionCheck {name} not found")
            raise
        controller = (ac.get("spec") or {}).get("controllerName")
        if controller != MANUAL:
            fail(f"AdmissionCheck {name} is set by controller {controller}, not by hand")
        found = None
        for key in _candidates(namespace, workload):
            try:
                found = client.get(WorkloadResource, key.split("/", 1)[1], namespace=namespace)
                break
            except ApiError as err:
                if err.status.code != 404:
                    raise
        if found is None:
            fail(f"no workload {workload!r} in namespace {namespace}")
        status = msgspec.convert(found.get("status") or {}, WorkloadStatus)
        names = [c.name for c in status.admission_checks]
        if name not in names:
            waits = f"it waits for {', '.join(names)}" if names else "it waits for none"
            fail(f"workload {found['metadata']['name']} does not wait for {name} ({waits})")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        updates = [update] if update is not None else []
        states = [
            msgspec.structs.replace(
                c, state=state, message=message, last_transition_time=stamp,
                pod_set_updates=updates or c.pod_set_updates,
            )
            if c.name == name and (c.state != state or updates)
            else c
            for c in status.admission_checks
        ]  # fmt: skip
        body = {"status": {"admissionChecks": msgspec.to_builtins(states)}}
        Writer(client, "quarterdeck-queueing").patch(
            WorkloadResource, namespace, found["metadata"]["name"], body, status=True
        )
    typer.echo(f"{namespace}/{found['metadata']['name']}: AdmissionCheck {name} {state}")


def pod_set_update(
    pod_set: str,
    node_selector: list[str] | None,
    labels: list[str] | None,
    annotations: list[str] | None,
    tolerations: list[str] | None,
) -> PodSetUpdate | None:
    """The podSetUpdate the options describe, or None; ValueError names a bad option."""
    from quarterdeck.api.queueing.check import PodSetUpdate
    from quarterdeck.api.queueing.meta import Toleration

    def pairs(option: str, items: list[str] | None) -> dict[str, str]:
        out = {}
        for item in items or []:
            key, eq, value = item.partition("=")
            if not key or not eq:
                raise ValueError(f"{option}: {item!r} is not KEY=VALUE")
            out[key] = value
        return out

    effects = ("NoSchedule", "PreferNoSchedule", "NoExecute")
    tols = []
    for item in tolerations or []:
        body, _, effect = item.partition(":")
        key, eq, value = body.partition("=")
        if not key or (effect and effect not in effects):
            raise ValueError(f"--toleration: {item!r} is not KEY[=VALUE][:{'|'.join(effects)}]")
        tols.append(
            Toleration(
                key=key,
                operator="Equal" if eq else "Exists",
                value=value if eq else None,
                effect=effect or None,  # type: ignore[arg-type]  # checked against `effects`
            )
        )
    update = PodSetUpdate(
        name=pod_set,
        labels=pairs("--label", labels),
        annotations=pairs("--annotation", annotations),
        node_selector=pairs("--node-selector", node_selector),
        tolerations=tols,
    )
    empty = not (update.labels or update.annotations or update.node_selector or tols)
    return None if empty else update


def _candidates(namespace: str, typed: str) -> list[str]:
    """Workload keys `typed` may mean: the Workload itself, or the one of a Job (job-NAME)."""
    kind, _, name = typed.rpartition("/")
    if kind.lower() in ("job", "jobs", "job.batch"):
        return [f"{namespace}/job-{name}"]
    if kind.lower() in ("workload", "workloads", "wl"):
        return [f"{namespace}/{name}"]
    return [f"{namespace}/{typed}", f"{namespace}/job-{typed}"]


def _answers(snapshot: Snapshot, decisions: Decisions, told: Told) -> dict[str, dict[str, Any]]:
    """Per workload key: its state, ClusterQueue and why, as of now. An admitted one
    says where it runs and, as its Admitted condition recorded, why placement chose
    those nodes; one the next cycle admits says where and why it would go."""
    from quarterdeck.queueing.status import placed_on

    rows = [
        (
            adm.workload.key,
            "Admitted",
            adm.workload.cluster_queue,
            f"running{placed_on(adm.pod_sets)}",
            told.get(adm.workload.key, "").partition("; ")[2],
        )
        for adm in snapshot.admitted
    ]
    rows += [
        (
            a.workload.key,
            "Admissible",
            a.cluster_queue,
            f"fits now{placed_on(a.pod_sets)}; the next cycle admits it",
            a.placement,
        )
        for a in decisions.admitted
    ]
    rows += [
        (p.workload.key, p.reason, p.workload.cluster_queue, p.message, "")
        for p in decisions.pending
    ]
    return {
        key: {
            "workload": key,
            "state": state,
            "clusterQueue": cq,
            "message": message + (f"\n{why}" if why else ""),
        }
        for key, state, cq, message, why in rows
    }


def _bar(used: int, nominal: int, width: int = 10) -> str:
    if nominal <= 0:
        return "[" + ("!" * width if used else " " * width) + "]"
    filled = min(width, round(width * used / nominal))
    over = "+" if used > nominal else ""
    return "[" + "#" * filled + "." * (width - filled) + "]" + over


def reconcile(
    kubeconfig: KubeOption = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 1.0,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port.")
    ] = None,
) -> None:
    """Run the queueing controller's passes against a cluster (until interrupted)."""
    from quarterdeck.cli.options import cluster_errors, connect
    from quarterdeck.queueing.controller import FIELD_MANAGER
    from quarterdeck.queueing.live import QueueingNotInstalledError
    from quarterdeck.queueing.metrics import MetricsPortError, QueueMetrics, serve_metrics
    from quarterdeck.queueing.operator import QueueingLoop, describe

    metrics = QueueMetrics()
    if metrics_port is not None:
        try:
            serve_metrics(metrics_port, metrics.registry)
        except MetricsPortError as err:
            fail(str(err))
    settings, _ = target(kubeconfig, context, None, allow_exec_plugins)
    client = connect(settings, field_manager=FIELD_MANAGER)
    try:
        with cluster_errors("queueing objects"):
            loop = QueueingLoop(client, interval, metrics=metrics)
            if once:
                loop.view.fill()
                for line in describe(loop.controller.reconcile(time.time())):
                    typer.echo(line, err=line.startswith("warning"))
                return
            loop.log = typer.echo
            loop.start(install=True)  # the CRDs and the admission policy it waits for
            try:
                loop.stop.wait()
            finally:
                loop.shutdown()
    except (QueueingNotInstalledError, TimeoutError) as err:
        fail(str(err))


def start_queueing(
    kubeconfig: Path | None, interval: float, webhook_port: int, install: bool
) -> Callable[[], None]:
    """For `qd operator`: run the queueing controller in the background (watch-driven
    passes, metrics in the default registry beside delivery's); returns its stop."""
    from prometheus_client import REGISTRY

    from quarterdeck.kube.client import load_client
    from quarterdeck.queueing.controller import FIELD_MANAGER
    from quarterdeck.queueing.metrics import QueueMetrics
    from quarterdeck.queueing.operator import start_beside

    def log(line: str) -> None:
        note(f"queueing  {line}")

    if webhook_port:
        log("--queueing-webhook-port is ignored: a MutatingAdmissionPolicy suspends queued Jobs")
    return start_beside(
        lambda: load_client(kubeconfig, field_manager=FIELD_MANAGER),
        interval=interval,
        install=install,
        metrics=QueueMetrics(REGISTRY),
        log=log,
    )
