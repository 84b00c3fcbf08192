"""`qd simulate` end to end on small generated files (real files, real processes)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from quarterdeck.cli.main import app
from quarterdeck.sim.synthetic import synthetic_nodes, synthetic_tasks

HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time"
)


def _files(tmp_path: Path) -> tuple[Path, Path]:
    nodes, trace = tmp_path / "nodes.csv", tmp_path / "trace.csv"
    with nodes.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sn", "cpu_milli", "memory_mib", "gpu", "model"])
        for n in synthetic_nodes(12, seed=1):
            w.writerow([n.name, n.cpu_milli, n.memory_mib, n.gpu_count, n.gpu_model])
    with trace.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER.split(","))
        for t in synthetic_tasks(120, seed=1, models=("T4", "G2")):
            r = t.request
            w.writerow([t.name, r.cpu_milli, r.memory_mib, r.gpu_count, r.gpu_milli,
                        "|".join(sorted(r.gpu_models)), "LS", "Running", t.creation_time,
                        t.deletion_time, t.scheduled_time])  # fmt: skip
    return nodes, trace


def test_fill_writes_every_report_and_json(tmp_path: Path) -> None:
    nodes, trace = _files(tmp_path)
    out = tmp_path / "out"
    args = ["simulate", "fill", "--trace", str(trace), "--nodes", str(nodes), "--out", str(out)]
    args += ["-p", "bestfit", "-p", "fgd", "--seeds", "2", "--workers", "2", "-o", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout[result.stdout.index("[") :])
    assert [r["policy"] for r in rows] == ["bestfit", "fgd"]
    assert all(0 < r["alloc_pct"] <= 100 for r in rows)
    runs = list(csv.DictReader((out / "runs.csv").open()))
    assert len(runs) == 4 and {r["seed"] for r in runs} == {"0", "1"}
    assert (out / "allocation.png").stat().st_size > 1000
    assert "| fgd |" in (out / "summary.md").read_text()


def test_replay_runs_and_bad_input_exits_2_naming_the_line(tmp_path: Path) -> None:
    nodes, trace = _files(tmp_path)
    out = tmp_path / "out"
    base = ["--trace", str(trace), "--nodes", str(nodes), "--out", str(out)]
    ok = CliRunner().invoke(app, ["simulate", "replay", *base, "-p", "fgd", "--compress", "5"])
    assert ok.exit_code == 0, ok.output
    assert "fgd" in ok.stdout and (out / "replay_waits.png").exists()
    with trace.open("a") as fh:
        fh.write("bad,100,100,1,1000,H100,LS,Running,0,1,0\n")
    bad = CliRunner().invoke(app, ["simulate", "fill", *base])
    assert bad.exit_code == 2
    assert "trace.csv:122: field gpu_spec: unknown GPU model(s) H100" in bad.output
