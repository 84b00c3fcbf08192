"""Flux v1.9.6 and `qd operator` on twin dev clusters: N Applications from one repository.

The workload is `bench/delivery_apps.py`'s (its repository and app template are reused):
N directories of four objects each (Deployment scaled to 0, ServiceAccount, Service,
ConfigMap), one per Application. The repository is served over smart HTTP on loopback
(`git_http`), the same URL for both. Flux runs as its source-controller and
kustomize-controller, built from the Go module proxy into the binary cache
(`quarterdeck.devcluster.gocommand`; the `./api` replace dropped, `fluxcd/pkg/artifact`
pinned to v0.18.0), with their default flags and CRDs from the same modules: one
GitRepository and N Kustomizations. quarterdeck runs as `qd operator --no-queueing`:
one Source and N Applications. Time to all Ready is from the first object created.

    python bench/peers/flux_beside.py [--apps 1000] [--only flux|qd] [--timeout 3600]
        [--qd-arg=--tick=5 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import process_stats
import yaml
from git_http import GitServer
from lightkube import Client
from lightkube.generic_resource import create_namespaced_resource
from peer_cluster import QD, apply_all, dev_cluster, dev_down, module_dir, plural

from quarterdeck.devcluster.gocommand import GoCommand, ensure_command
from quarterdeck.devcluster.session import PlainReporter
from quarterdeck.kube.config import load_client
from quarterdeck.kube.crds import install_crds
from quarterdeck.kube.informer import SharedInformers
from quarterdeck.kube.wait import wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from delivery_apps import make_repo

FLUX_VERSION = "v1.9.6"
SOURCE = GoCommand(
    "source-controller",
    "github.com/fluxcd/source-controller",
    FLUX_VERSION,
    "github.com/fluxcd/source-controller",
    pins=("github.com/fluxcd/pkg/artifact => github.com/fluxcd/pkg/artifact v0.18.0",),
)
KUSTOMIZE = GoCommand(
    "kustomize-controller",
    "github.com/fluxcd/kustomize-controller",
    FLUX_VERSION,
    "github.com/fluxcd/kustomize-controller",
)
NAMESPACE = "bench-apps"


def _is_ready(obj: dict[str, Any]) -> bool:
    conds = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def _wait_http(url: str, what: str) -> None:
    def up() -> bool:
        try:
            return httpx2.get(url, timeout=2).status_code == 200
        except httpx2.HTTPError:
            return False

    wait_for(up, what, 180)


def start_flux(kube: Client, kubeconfig: Path, workdir: Path) -> list[subprocess.Popen[bytes]]:
    crds: list[dict[str, Any]] = []
    for command in (SOURCE, KUSTOMIZE):
        bases = module_dir(command.module, command.version) / "config/crd/bases"
        for f in sorted(bases.glob("*.yaml")):
            crds += [d for d in yaml.load_all(f.read_text(), yaml.CSafeLoader) if d]
    install_crds(kube, crds, timeout=120)
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), RUNTIME_NAMESPACE=NAMESPACE)
    (workdir / "storage").mkdir(parents=True, exist_ok=True)  # refused unless it exists
    procs = []
    storage = process_stats.free_port()
    for command, extra in (
        (SOURCE, [f"--storage-path={workdir / 'storage'}", f"--storage-addr=127.0.0.1:{storage}",
                  f"--storage-adv-addr=127.0.0.1:{storage}"]),
        (KUSTOMIZE, []),
    ):  # fmt: skip
        binary = ensure_command(command, PlainReporter().progress)
        health = process_stats.free_port()
        args = [str(binary), f"--metrics-addr=127.0.0.1:{process_stats.free_port()}",
                f"--health-addr=127.0.0.1:{health}", "--enable-leader-election=false",
                "--log-level=error", *extra]  # fmt: skip
        log = (workdir / f"{command.name}.log").open("wb")
        procs.append(subprocess.Popen(args, env=env, stdout=log, stderr=log))
        _wait_http(f"http://127.0.0.1:{health}/readyz", f"{command.name} ready")
    return procs


def start_qd(kubeconfig: Path, workdir: Path, extra: list[str]) -> list[subprocess.Popen[bytes]]:
    health = process_stats.free_port()
    args = [QD, "operator", "--kubeconfig", str(kubeconfig), "--cache-dir",
            str(workdir / "qd-cache"), "--no-queueing", "--allow-http-sources",
            "--health-port", str(health), *extra]  # fmt: skip
    log = (workdir / "qd.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=log)
    _wait_http(f"http://127.0.0.1:{health}/readyz", "qd operator ready")
    return [proc]


def flux_objects(url: str, apps: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    source = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "repo", "namespace": NAMESPACE},
        "spec": {"interval": "10m", "url": url, "ref": {"branch": "main"}},
    }
    apps_ = [
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": f"a{i}", "namespace": NAMESPACE},
            "spec": {
                "interval": "10m",
                "retryInterval": "1s",
                "path": f"./apps/a{i}",
                "prune": True,
                "targetNamespace": NAMESPACE,
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
            },
        }
        for i in range(apps)
    ]
    return [source], apps_


def qd_objects(url: str, apps: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    api = "delivery.quarterdeck.dev/v1alpha1"
    source = {
        "apiVersion": api,
        "kind": "Source",
        "metadata": {"name": "repo", "namespace": NAMESPACE},
        "spec": {"url": url},
    }
    apps_ = [
        {
            "apiVersion": api,
            "kind": "Application",
            "metadata": {"name": f"a{i}", "namespace": NAMESPACE},
            "spec": {
                "sourceRef": {"name": "repo"},
                "path": f"apps/a{i}",
                "retry": {"interval": "1s"},
            },
        }
        for i in range(apps)
    ]
    return [source], apps_


def one(
    which: str, server: GitServer, apps: int, timeout: float, workdir: Path, qd_args: list[str]
) -> dict[str, Any]:
    name = f"flux-beside-{which}"  # kueue_beside uses peers-qd: both may run at once
    url = server.url("repo")
    kubeconfig = dev_cluster(name)
    kube = load_client(kubeconfig, field_manager="bench-runner")
    kube._client._client.timeout = httpx2.Timeout(120)  # big CRDs on a loaded machine
    calls = [0]
    kube._client._client.event_hooks["request"].append(lambda _: calls.__setitem__(0, calls[0] + 1))
    before = process_stats.api_requests(kube)
    time.sleep(10)
    idle_rate = (process_stats.api_requests(kube) - before) / 10
    apply_all(kube, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}])
    procs = (
        start_flux(kube, kubeconfig, workdir)
        if which == "flux"
        else start_qd(kubeconfig, workdir, qd_args)
    )
    try:
        sources, objects = (flux_objects if which == "flux" else qd_objects)(url, apps)
        group, version = objects[0]["apiVersion"].split("/")
        kind = objects[0]["kind"]
        resource = create_namespaced_resource(group, version, kind, plural(kind))
        informers = SharedInformers(kube)
        informer = informers.informer(resource, NAMESPACE)
        informers.start()
        informers.wait_synced(60)
        cpu0 = sum(process_stats.sample(p.pid).cpu_s for p in procs)
        req0, calls0 = process_stats.api_requests(kube), calls[0]
        fetches0 = server.fetches["repo"]
        rss: list[float] = []
        stop = threading.Event()

        def watch_rss() -> None:
            while not stop.wait(1.0):
                rss.append(sum(process_stats.sample(p.pid).rss_mib for p in procs))

        threading.Thread(target=watch_rss, daemon=True).start()
        print(f"[{which}] {apps} apps, load {process_stats.load_average()}", flush=True)
        t0 = time.monotonic()
        apply_all(kube, sources)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda doc: apply_all(kube, [doc]), objects))
        created = time.monotonic() - t0
        ready, last_print = 0, t0
        while time.monotonic() - t0 < timeout:
            ready = sum(1 for o in informer.list() if _is_ready(o))
            if ready == apps:
                break
            if time.monotonic() - last_print > 60:
                print(f"[{which}] {ready}/{apps} Ready after {time.monotonic() - t0:.0f} s, "
                      f"load {process_stats.load_average()}", flush=True)  # fmt: skip
                last_print = time.monotonic()
            time.sleep(0.2)
        elapsed = time.monotonic() - t0
        stop.set()
        informers.stop()
        samples = [process_stats.sample(p.pid) for p in procs]
        total = process_stats.api_requests(kube) - req0
        runner_calls = calls[0] - calls0
        return {
            "apps": apps,
            "ready": ready,
            "all_ready_s": elapsed if ready == apps else None,
            "created_s": created,
            "controller_cpu_s": sum(s.cpu_s for s in samples) - cpu0,
            "controller_rss_mib_max": max(rss, default=0.0),
            "controller_peak_rss_mib": sum(s.peak_rss_mib for s in samples),
            "api_total": total,
            "api_runner": runner_calls,
            "api_controller": total - runner_calls - round(idle_rate * elapsed),
            "git_fetches": server.fetches["repo"] - fetches0,
            "load": process_stats.load_average(),
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        dev_down(name)


ROWS = (
    ("apps", "Applications / Kustomizations", "{:.0f}"),
    ("ready", "Ready", "{:.0f}"),
    ("all_ready_s", "time to all Ready (s)", "{:.1f}"),
    ("controller_cpu_s", "controller CPU (s)", "{:.1f}"),
    ("controller_peak_rss_mib", "controller peak RSS, sum of processes (MiB)", "{:.0f}"),
    ("api_controller", "API requests by the controllers", "{:.0f}"),
    ("git_fetches", "git fetches served", "{:.0f}"),
    ("load", "load average at the end", "{}"),
)


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [f"| metric | {' | '.join(results)} |", "|---|" + "---:|" * len(results)]
    for key, label, fmt in ROWS:
        cells = [fmt.format(r[key]) if r.get(key) is not None else "-" for r in results.values()]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--only", choices=("flux", "qd"))
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--qd-arg", action="append", default=[], help="pass to `qd operator` (repeatable)"
    )
    args = parser.parse_args()
    print(f"load before: {process_stats.load_average()}", flush=True)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_repo(work / "git" / "repo", args.apps)
        server = GitServer(work / "git")
        try:
            for which in ("flux", "qd"):
                if args.only in (None, which):
                    results[which] = one(
                        which, server, args.apps, args.timeout, work, args.qd_arg
                    )
                    print(json.dumps(results[which], indent=1), flush=True)
        finally:
            server.stop()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
