"""Kueue v0.17.0 and `qd operator` on twin dev clusters, on Kueue's baseline scenario.

Kueue runs as `minimalkueue`, the controller manager Kueue's own performance runner
uses (core controllers and scheduler, no webhooks, no job integrations), built from
the Go module proxy into the binary cache (`quarterdeck.devcluster.gocommand`), with
Kueue's CRDs from the same module. quarterdeck runs as `qd operator`. One runner of
ours (`queue_runner`) plays the scenario (`queue_scenario`) against each in turn, in
the same invocation, each on a fresh dev cluster of the same shape.

API calls of the controller = the API server's request count over the run, minus the
runner's own requests, minus the cluster's idle rate (controller-manager, scheduler,
kwok) measured for 10 s before the controller starts, times the run's length.

    python bench/peers/kueue_beside.py [--scale 0.1] [--only kueue|qd] [--timeout 900]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx2
import process_stats
import queue_scenario
import yaml
from lightkube import Client
from peer_cluster import QD, apply_all, dev_cluster, dev_down, module_dir
from queue_runner import Runner

from quarterdeck.devcluster.gocommand import GoCommand, ensure_command
from quarterdeck.devcluster.session import PlainReporter
from quarterdeck.kube.config import load_client
from quarterdeck.kube.crds import install_crds
from quarterdeck.kube.wait import wait_for

KUEUE = GoCommand(
    "minimalkueue",
    "sigs.k8s.io/kueue",
    "v0.17.0",
    "sigs.k8s.io/kueue/test/performance/scheduler/minimalkueue",
)


QD_METRICS = process_stats.free_port()


def qd_passes() -> dict[str, float]:
    """Pass count, mean pass time and the pass thread's CPU share of it, from
    `qd operator`'s own metrics."""
    text = httpx2.get(f"http://127.0.0.1:{QD_METRICS}/metrics", timeout=30).text
    values = {}
    for line in text.splitlines():
        for name in (
            "quarterdeck_queueing_pass_seconds_count",
            "quarterdeck_queueing_pass_seconds_sum",
            "quarterdeck_queueing_pass_cpu_seconds_total",
        ):
            if line.startswith(name + " "):
                values[name] = float(line.split()[1])
    count = values.get("quarterdeck_queueing_pass_seconds_count", 0.0)
    wall = values.get("quarterdeck_queueing_pass_seconds_sum", 0.0)
    cpu = values.get("quarterdeck_queueing_pass_cpu_seconds_total", 0.0)
    return {
        "qd_passes": count,
        "qd_pass_mean_s": wall / max(count, 1.0),
        "qd_pass_cpu_pct": 100 * cpu / wall if wall else 0.0,
    }


def start_kueue(kube: Client, kubeconfig: Path, log: Path) -> subprocess.Popen[bytes]:
    crd_dir = module_dir(KUEUE.module, KUEUE.version) / "config/components/crd/bases"
    crds = [
        d
        for f in sorted(crd_dir.glob("*.yaml"))
        for d in yaml.load_all(f.read_text(), yaml.CSafeLoader)
        if d
    ]
    install_crds(kube, crds, timeout=120)
    binary = ensure_command(KUEUE, PlainReporter().progress)
    env = dict(os.environ, KUBECONFIG=str(kubeconfig))
    with log.open("wb") as out:
        return subprocess.Popen([str(binary)], env=env, stdout=out, stderr=out)


def start_qd(kubeconfig: Path, log: Path, workdir: Path) -> subprocess.Popen[bytes]:
    args = [QD, "operator", "--kubeconfig", str(kubeconfig), "--cache-dir",
            str(workdir / "cache"), "--tick", "5", "--health-port", str(QD_METRICS)]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=out)
    wait_for(lambda: b"queueing  ready" in log.read_bytes(), "qd operator ready", 180)
    return proc


def one(which: str, scale: float, timeout: float, workdir: Path) -> dict[str, Any]:
    api = queue_scenario.KUEUE if which == "kueue" else queue_scenario.QD
    kubeconfig = dev_cluster(f"peers-{which}")
    kube = load_client(kubeconfig, field_manager="bench-runner")
    kube._client._client.timeout = httpx2.Timeout(120)  # big CRDs on a loaded machine
    before = process_stats.api_requests(kube)
    time.sleep(10)
    idle_rate = (process_stats.api_requests(kube) - before) / 10
    log = workdir / f"{which}.log"
    if which == "kueue":
        proc = start_kueue(kube, kubeconfig, log)
    else:
        proc = start_qd(kubeconfig, log, workdir)
    try:
        apply_all(kube, queue_scenario.queue_objects(api))
        time.sleep(2)  # let the controller see the queues before the first Workload
        plans = queue_scenario.plan(scale)
        runner = Runner(kube, api, plans)
        cpu0, by0 = process_stats.sample(proc.pid).cpu_s, process_stats.api_requests_by(kube)
        calls0, t0 = runner.calls, time.monotonic()
        rss: list[float] = []
        stop = threading.Event()

        def watch_rss() -> None:
            while not stop.wait(1.0):
                rss.append(process_stats.sample(proc.pid).rss_mib)

        threading.Thread(target=watch_rss, daemon=True).start()
        print(f"[{which}] running {len(plans)} workloads, load {process_stats.load_average()}",
              flush=True)  # fmt: skip
        timelines = runner.run(timeout)
        elapsed = time.monotonic() - t0
        stop.set()
        end = process_stats.sample(proc.pid)
        by = process_stats.api_requests_by(kube)
        by_kind = {k: v - by0.get(k, 0) for k, v in by.items() if v - by0.get(k, 0) > 0}
        total = sum(by_kind.values())
        runner_calls = runner.calls - calls0
        result: dict[str, Any] = queue_scenario.summarize(list(timelines.values()))
        if which == "qd":
            result.update(qd_passes())
        result.update(
            controller_cpu_s=end.cpu_s - cpu0,
            controller_rss_mib_max=max(rss, default=end.rss_mib),
            controller_peak_rss_mib=end.peak_rss_mib,
            api_total=total,
            api_runner=runner_calls,
            api_idle=round(idle_rate * elapsed),
            api_controller=total - runner_calls - round(idle_rate * elapsed),
            run_s=elapsed,
            api_by_kind=dict(sorted(by_kind.items(), key=lambda kv: -kv[1])[:12]),
            load=process_stats.load_average(),
            problems=runner.problems[:5],
            problem_count=len(runner.problems),
        )
        return result
    finally:
        proc.terminate()
        proc.wait(30)
        text = log.read_text(errors="replace").splitlines()
        warnings = [ln for ln in text if "warning" in ln.lower() or "error" in ln.lower()]
        print(f"[{which}] controller log: {len(text)} lines, {len(warnings)} warnings/errors",
              *warnings[:8], sep="\n  ")  # fmt: skip
        dev_down(f"peers-{which}")


ROWS = (
    ("workloads", "workloads", "{:.0f}"),
    ("finished", "finished", "{:.0f}"),
    ("wall_s", "wall time to last admission (s)", "{:.1f}"),
    ("span_s", "time to last finish (s)", "{:.1f}"),
    ("floor_s", "floor: work / quota (s)", "{:.1f}"),
    ("useful_pct", "useful usage, finished work only (%)", "{:.1f}"),
    ("reserved_pct", "reserved usage, incl. evicted runs (%)", "{:.1f}"),
    ("evictions", "evictions", "{:.0f}"),
    ("wait_s_large", "avg admission wait large (s)", "{:.2f}"),
    ("wait_s_medium", "avg admission wait medium (s)", "{:.2f}"),
    ("wait_s_small", "avg admission wait small (s)", "{:.2f}"),
    ("api_controller", "API requests by the controller", "{:.0f}"),
    ("api_runner", "API requests by the runner", "{:.0f}"),
    ("controller_cpu_s", "controller CPU (s)", "{:.1f}"),
    ("controller_peak_rss_mib", "controller peak RSS (MiB)", "{:.0f}"),
    ("qd_passes", "queueing passes (qd)", "{:.0f}"),
    ("qd_pass_mean_s", "mean pass time (qd, s)", "{:.2f}"),
    ("qd_pass_cpu_pct", "pass thread CPU, % of pass time (qd)", "{:.0f}"),
    ("load", "load average at the end", "{}"),
)


def table(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    lines = [f"| metric | {' | '.join(names)} |", "|---|" + "---:|" * len(names)]
    for key, label, fmt in ROWS:
        cells = [fmt.format(r[key]) if key in r else "-" for r in results.values()]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of workloads per set")
    parser.add_argument("--only", choices=("kueue", "qd"))
    parser.add_argument("--timeout", type=float, default=1800, help="seconds after the last create")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--logs", type=Path, help="keep the controllers' logs in this directory")
    args = parser.parse_args()
    print(f"load before: {process_stats.load_average()}", flush=True)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.logs or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for which in ("kueue", "qd"):
            if args.only in (None, which):
                results[which] = one(which, args.scale, args.timeout, workdir)
                print(json.dumps(results[which], indent=1), flush=True)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
