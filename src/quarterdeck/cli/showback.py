"""`qd showback`, `qd showback idle`, `qd budget list`: GPU-hours, idle GPUs and budgets.

`qd showback` reads the UsageRecords and `Pricing/default` from the cluster and runs the
same pure `account` the operator's `/allocation/compute` runs, so both say the same.
"Now" is the system clock, or `--clock-file PATH` (a demo's or test's file clock, the
same file given to `qd operator --showback-clock-file`).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from quarterdeck.cli.options import AllowExecOpt, ContextOpt, KubeconfigOpt

if TYPE_CHECKING:
    from lightkube import Client

    from quarterdeck.showback.account import AllocationSet

app = typer.Typer(help="GPU-hours, idle GPU-hours and cost per team, namespace, queue, model.")
budget_app = typer.Typer(help="Budgets per team: GPU-hours or money per period.")


class ShowbackFormat(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"
    csv = "csv"


OutputOpt = Annotated[
    ShowbackFormat, typer.Option("--output", "-o", help="table, json, yaml or csv.")
]


class By(StrEnum):
    team = "team"
    namespace = "namespace"
    queue = "queue"
    model = "model"
    pod = "pod"


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="showback")
    root.add_typer(budget_app, name="budget")


def _client(kubeconfig: Path | None, context: str | None, allow: bool) -> Client:
    from quarterdeck.cli.options import client_from, cluster_errors

    with cluster_errors():
        client, _ = client_from(kubeconfig, context, None, allow, field_manager="quarterdeck-cli")
    return client


def _objects(client: Client, resource: Any, plural: str, **where: str) -> list[dict[str, Any]]:
    """Every object of `resource` as plain dicts; a cluster error is one line naming `plural`."""
    from quarterdeck.cli.options import cluster_errors

    with cluster_errors(plural):
        return [o.to_dict() for o in client.list(resource, **where)]  # type: ignore[call-overload]


def read_usage(client: Client) -> tuple[list[Any], Any]:
    """Every UsageRecord and the cluster's prices."""
    import msgspec

    from quarterdeck.api.showback import PricingSpec
    from quarterdeck.cli.options import cluster_errors
    from quarterdeck.showback.prices import Prices, from_pricing
    from quarterdeck.showback.records import from_object
    from quarterdeck.showback.resources import PricingResource, UsageRecordResource

    with cluster_errors("usagerecords"):
        objs = [o.to_dict() for o in client.list(UsageRecordResource)]  # type: ignore[no-untyped-call]
        pricing = [o.to_dict() for o in client.list(PricingResource)]  # type: ignore[no-untyped-call]
    records = [from_object(o) for o in objs]
    default = next((p for p in pricing if p["metadata"]["name"] == "default"), None)
    spec = msgspec.convert((default or {}).get("spec") or {}, PricingSpec)
    return records, from_pricing(spec) if default else Prices()


def _rows(out: AllocationSet) -> list[dict[str, Any]]:
    from quarterdeck.showback.opencost import allocation_json

    return [allocation_json(a) for _, a in sorted(out.allocations.items())]


@app.callback(invoke_without_command=True)
def showback(
    ctx: typer.Context,
    window: Annotated[str, typer.Option(help="7d, 24h, today, lastweek or START,END.")] = "7d",
    by: Annotated[By, typer.Option(help="Group by team, namespace, queue, model or pod.")] = (
        By.team
    ),
    output: OutputOpt = ShowbackFormat.table,
    chart: Annotated[
        Path | None, typer.Option(help="Write a PNG of cost per group per day.")
    ] = None,
    clock_file: Annotated[
        Path | None, typer.Option(help="A file of Unix seconds used as now (demos, tests).")
    ] = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
) -> None:
    """GPU-hours allocated, used and idle, and their cost, per group over a window."""
    if ctx.invoked_subcommand is not None:
        return
    from quarterdeck.cli.output import emit, fail, table
    from quarterdeck.showback.account import account, parse_aggregate
    from quarterdeck.showback.clock import clock_for
    from quarterdeck.showback.window import WindowError, parse

    now = clock_for(clock_file).now()
    try:
        span = parse(window, now, "--window")
    except WindowError as err:
        fail(str(err))
    aggregate = parse_aggregate("label:team" if by == By.team else by.value)
    records, prices = read_usage(_client(kubeconfig, context, allow_exec_plugins))
    out = account(records, prices, span, aggregate, now)
    rows = _rows(out)
    if chart is not None:
        _chart(records, prices, span, aggregate, now, chart)
    if output == ShowbackFormat.csv:
        _csv(rows)
        return
    if output != ShowbackFormat.table and emit(rows, output):
        return
    cur = prices.currency
    table(
        [by.value.upper(), "GPU-HOURS", "USED", "IDLE", "UTIL", f"COST ({cur})", "IDLE COST"],
        [
            [
                r["name"],
                f"{r['gpuHours']:.3f}",
                f"{r['gpuHoursUsed']:.3f}",
                f"{r['gpuHoursIdle']:.3f}",
                "-" if r["gpuUtilization"] is None else f"{100 * r['gpuUtilization']:.0f}%",
                _money(r["totalCost"], r["unpriced"]),
                _money(r["gpuIdleCost"], r["unpriced"]),
            ]
            for r in rows
        ],
        title=f"{span.iso()[0]} .. {span.iso()[1]}",
    )


def _money(value: float | None, unpriced: list[str]) -> str:
    return f"unpriced ({', '.join(unpriced)})" if value is None else f"{value:.2f}"


def _csv(rows: list[dict[str, Any]]) -> None:
    import csv
    import sys

    fields = [
        "name",
        "gpuHours",
        "gpuHoursUsed",
        "gpuHoursIdle",
        "gpuHoursUnmeasured",
        "gpuCost",
        "gpuIdleCost",
        "cpuCoreHours",
        "cpuCost",
        "ramByteHours",
        "ramCost",
        "totalCost",
        "unpriced",
    ]
    writer = csv.DictWriter(sys.stdout, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow(r | {"unpriced": " ".join(r["unpriced"])})


def _chart(records: Any, prices: Any, span: Any, aggregate: Any, now: float, path: Path) -> None:
    """Stacked bars of cost (GPU-hours where unpriced) per group per day."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from quarterdeck.showback.account import account
    from quarterdeck.showback.window import steps

    days = steps(span, 86400.0)
    sets = [account(records, prices, d, aggregate, now) for d in days]
    names = sorted({n for s in sets for n in s.allocations})
    fig, ax = plt.subplots(figsize=(8, 4))
    bottom = [0.0] * len(days)
    for name in names:
        values = []
        for s in sets:
            a = s.allocations.get(name)
            cost = a.total_cost if a is not None else None
            values.append(float(cost) if cost is not None else 0.0)
        ax.bar(range(len(days)), values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(range(len(days)), [d.iso()[0][:10] for d in days], rotation=45, fontsize=7)
    ax.set_ylabel(f"cost ({prices.currency})")
    ax.set_title("cost per day")
    if names:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


@app.command()
def idle(
    output: OutputOpt = ShowbackFormat.table,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
) -> None:
    """Idle GPU pods the GpuIdlePolicies found, and what was done about them."""
    from quarterdeck.showback.resources import IdlePolicyResource

    client = _client(kubeconfig, context, allow_exec_plugins)
    policies = _objects(client, IdlePolicyResource, "gpuidlepolicies", namespace="*")
    rows = [
        {
            "policy": f"{p['metadata']['namespace']}/{p['metadata']['name']}",
            "action": (p.get("spec") or {}).get("action", "Report"),
            "dryRun": bool((p.get("spec") or {}).get("dryRun")),
            "done": bool(f.get("done")),
            "message": f.get("message", ""),
        }
        for p in policies
        for f in ((p.get("status") or {}).get("idle") or [])
    ]
    _show(
        rows,
        output,
        ["POLICY", "ACTION", "DRY-RUN", "DONE", "WHY"],
        lambda r: [
            r["policy"],
            r["action"],
            str(r["dryRun"]).lower(),
            str(r["done"]).lower(),
            r["message"],
        ],
    )


def _show(
    rows: list[dict[str, Any]],
    output: ShowbackFormat,
    headers: list[str],
    cells: Callable[[dict[str, Any]], list[str]],
) -> None:
    """`rows` as csv, json or yaml, or as a table of `cells(row)` under `headers`."""
    import csv
    import sys

    from quarterdeck.cli.output import emit, table

    if output == ShowbackFormat.csv:
        if rows:
            writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return
    if not emit(rows, output):
        table(headers, [cells(r) for r in rows])


@budget_app.command("list")
def budget_list(
    output: OutputOpt = ShowbackFormat.table,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
) -> None:
    """Budgets with their period, limit, use and the thresholds crossed."""
    from quarterdeck.showback.resources import BudgetResource

    client = _client(kubeconfig, context, allow_exec_plugins)
    budgets = _objects(client, BudgetResource, "budgets")
    rows = []
    for b in budgets:
        spec, status = b.get("spec") or {}, b.get("status") or {}
        limit = f"{spec['gpuHours']} GPU-h" if spec.get("gpuHours") else f"{spec.get('cost', '')}"
        rows.append(
            {
                "name": b["metadata"]["name"],
                "team": spec.get("team", ""),
                "period": spec.get("period", "monthly"),
                "limit": limit,
                "percent": status.get("percent", 0.0),
                "gpuHours": status.get("gpuHours", 0.0),
                "cost": status.get("cost", ""),
                "crossed": status.get("crossed", []),
            }
        )
    _show(
        rows,
        output,
        ["NAME", "TEAM", "PERIOD", "LIMIT", "USED", "GPU-HOURS", "CROSSED"],
        lambda r: [
            r["name"],
            r["team"],
            r["period"],
            r["limit"],
            f"{r['percent']:.1f}%",
            f"{r['gpuHours']:.3f}",
            ",".join(map(str, r["crossed"])),
        ],
    )


def dev_prometheus(
    name: Annotated[str, typer.Option("--name", help="Cluster name.")] = "dev",
    clock_file: Annotated[
        Path | None, typer.Option(help="Unix seconds to use as now for GPU util schedules.")
    ] = None,
) -> None:
    """Start a real Prometheus and the dcgm-format GPU metrics source for a dev cluster
    (both on loopback; `qd dev down` stops them with the cluster)."""
    from quarterdeck.cli.output import fail
    from quarterdeck.devcluster import cluster
    from quarterdeck.devcluster import prometheus as devprom

    try:
        state = devprom.start_for(name, clock_file)
    except (cluster.ClusterError, devprom.PrometheusError, OSError) as err:
        fail(str(err))
    typer.echo(f"prometheus {state.url} scraping the GPU metrics on 127.0.0.1:{state.dcgm_port}")
    typer.echo(f"  qd operator --prometheus-url {state.url}   # for qd operator's showback")
