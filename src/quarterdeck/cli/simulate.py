"""`qd simulate`: run placement policies on a trace (fill or replay) and report."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from quarterdeck.cli.output import Exit, emit, note, table

if TYPE_CHECKING:
    from rich.progress import Progress

app = typer.Typer(help="Simulate GPU placement policies on node and task traces.")

DEFAULT_POLICIES = ["random", "dotprod", "clustering", "packing", "bestfit", "fgd"]


class Output(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


TraceOpt = Annotated[Path, typer.Option("--trace", help="Task list CSV (openb_pod_list_*).")]
NodesOpt = Annotated[Path, typer.Option("--nodes", help="Node list CSV (openb_node_list_*).")]
PolicyOpt = Annotated[
    list[str] | None,
    typer.Option("--policy", "-p", help="Policy (repeatable): random, dotprod, clustering, "
                 "packing, bestfit, fgd, fgd-exact, fgd-bf, fgd-cap, fgd-cf."),
]
OutDirOpt = Annotated[Path, typer.Option("--out", help="Directory for CSV, PNG and summary.")]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="Summary format on stdout.")]


def _fail(message: str) -> typer.Exit:
    note(f"error: {message}")
    return typer.Exit(Exit.ERROR)


def _emit(rows: list[dict[str, float | int | str]], output: Output, title: str) -> None:
    if not emit(rows, output):
        table(list(rows[0]) if rows else [],
              [[f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()]
               for row in rows], title=title)


def _progress() -> Progress:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )


@app.command()
def fill(
    trace: TraceOpt,
    nodes: NodesOpt,
    policy: PolicyOpt = None,
    seeds: Annotated[int, typer.Option(help="Number of seeds (0..N-1).", min=1)] = 10,
    load: Annotated[float, typer.Option(help="Arrived GPU demand / capacity.", min=0.01)] = 1.3,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    out: OutDirOpt = Path("sim-out"),
    output: OutputOpt = Output.table,
) -> None:
    """The fill experiment (Weng et al., ATC'23): sampled tasks arrive until `load`
    times the GPU capacity has arrived, never leave; allocation is recorded."""
    from quarterdeck.placement import PlacementError
    from quarterdeck.sim.grid import TimedRun, load_inputs, run_grid
    from quarterdeck.sim.report import markdown, summarise, write_chart, write_csvs
    from quarterdeck.sim.trace import TraceError

    policies = policy or DEFAULT_POLICIES
    try:
        inputs = load_inputs(nodes, trace)
    except TraceError as err:
        raise _fail(str(err)) from None
    out.mkdir(parents=True, exist_ok=True)
    with _progress() as bar:
        overall = bar.add_task("runs", total=len(policies) * seeds)
        per = {p: bar.add_task(f"  {p}", total=seeds) for p in policies}

        def done(t: TimedRun) -> None:
            bar.advance(overall)
            bar.advance(per[t.run.policy])

        try:
            timed = run_grid(inputs, policies, range(seeds), load, workers, done)
        except PlacementError as err:
            raise _fail(str(err)) from None
    summary = summarise(timed)
    write_csvs(timed, out)
    title = f"{trace.stem} on {nodes.stem}, {load:.0%} arrivals, {seeds} seeds"
    write_chart(timed, out / "allocation.png", title)
    published = trace.stem == "openb_pod_list_default" and load == 1.3
    (out / "summary.md").write_text(markdown(summary, title, published))
    _emit([s.as_dict() for s in summary], output, title)
    note(f"wrote {out}/runs.csv, curves.csv, allocation.png, summary.md")


@app.command()
def replay(
    trace: TraceOpt,
    nodes: NodesOpt,
    policy: PolicyOpt = None,
    compress: Annotated[float, typer.Option(help="Divide arrival times by this.")] = 1.0,
    tick: Annotated[
        float, typer.Option(help="Run queueing cycles every TICK simulated s (0: every event).")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Tie-breaking seed.")] = 0,
    config: Annotated[
        Path | None,
        typer.Option(help="QueueingConfig YAML (the operator's); --policy/--seed override."),
    ] = None,
    quota: Annotated[
        list[str] | None,
        typer.Option(help="TEAM=GPUS nominal quota per QoS class (repeatable)."),
    ] = None,
    out: OutDirOpt = Path("sim-out"),
    output: OutputOpt = Output.table,
) -> None:
    """Replay in time: arrive at creation, leave after the traced duration. Admission
    goes through the operator's own path (one ClusterQueue per QoS class, one cohort):
    snapshot, cycle with the configured placer, apply."""
    from dataclasses import replace as with_fields

    import numpy as np

    from quarterdeck.placement import PlacementError
    from quarterdeck.queueing.config import DEFAULT, ConfigError, load_config_file
    from quarterdeck.sim.grid import load_inputs
    from quarterdeck.sim.replay import ReplayRun, run_replay
    from quarterdeck.sim.replay_report import write_replay
    from quarterdeck.sim.trace import TraceError

    quotas: dict[str, int] = {}
    for item in quota or []:
        team, _, gpus = item.partition("=")
        if not team or not gpus.isdigit():
            raise _fail(f"--quota {item!r}: expected TEAM=GPUS, e.g. LS=1200")
        quotas[team] = int(gpus)

    try:
        base = load_config_file(config) if config is not None else DEFAULT
        inputs = load_inputs(nodes, trace)
    except (TraceError, ConfigError) as err:
        raise _fail(str(err)) from None
    classes = {t.qos or "-" for t in inputs.tasks}
    unknown = sorted(set(quotas) - classes)
    if unknown:
        raise _fail(f"--quota {', '.join(unknown)}: no such QoS class in {trace.name} "
                    f"(it has {', '.join(sorted(classes))})")
    policies = policy or ([base.policy] if config is not None else DEFAULT_POLICIES)
    runs: list[ReplayRun] = []
    with _progress() as bar:
        task = bar.add_task("replays", total=len(policies))
        for name in policies:
            try:
                chosen = with_fields(base, policy=name, seed=seed)
                got = run_replay(inputs.nodes, inputs.tasks, chosen, quotas or None, compress, tick)
                runs.append(got)
            except (PlacementError, ValueError) as err:
                raise _fail(str(err)) from None
            bar.advance(task)
    out.mkdir(parents=True, exist_ok=True)
    write_replay(runs, out, f"replay {trace.stem} (arrivals / {compress:g})")
    rows: list[dict[str, float | int | str]] = [
        {
            "policy": r.policy,
            "started": int(r.waits.size),
            "never_started": r.never_started,
            "unschedulable": r.unschedulable,
            "untimed": r.untimed,
            "wait_p50_s": float(np.percentile(r.waits, 50)) if r.waits.size else 0.0,
            "wait_p95_s": float(np.percentile(r.waits, 95)) if r.waits.size else 0.0,
            "alloc_mean_pct": 100 * r.mean_allocation(),
            "alloc_peak_pct": 100 * r.peak_allocation(),
        }
        for r in runs
    ]
    _emit(rows, output, "replay")
    note(f"wrote {out}/replay_tasks.csv, replay_waits.png")
