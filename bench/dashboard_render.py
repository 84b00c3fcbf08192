"""Dashboard page render time from the cache: 1,000 Applications and 5,000 Workloads
(one in five admitted, so the queues page has admission waits to show), 5,000 UsageRecords
and 50 Budgets for the showback page.

Each page goes through the real FastAPI app, views and Jinja templates via Starlette's
TestClient (no socket). The informers are filled in memory instead of from a cluster,
and every SubjectAccessReview answer is "allowed" as if cached (a steady-state page view
asks none: answers are reused for 10 s). So the numbers are the dashboard's own cost per
view, without the API server's. Run: .venv/bin/python bench/dashboard_render.py

`--memory KUBECONFIG` instead measures the operator's extra memory for the dashboard:
`qd operator` on that cluster with and without `--dashboard-port`, one after the other,
its VmRSS 10 s after `/readyz` (and, with the dashboard, `/signin`) answered.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from quarterdeck.dashboard.access import Access, Ask, Session, User
from quarterdeck.dashboard.live_stream import Hub
from quarterdeck.dashboard.pages import Pages
from quarterdeck.dashboard.web import COOKIE, create_app
from quarterdeck.kube.informer import freeze_filled_caches
from quarterdeck.kube.wait import wait_for

APPS, WORKLOADS, QUEUES, NAMESPACES, VIEWS = 1000, 5000, 20, 50, 50


class Filled:
    """An informer's read side over objects made here."""

    resource_version = "1"  # fixed: the admission-wait table is reused after the first view

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
                        for o in objects}

    def list(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return [o for (ns, _), o in self.objects.items() if namespace in (None, ns)]

    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.objects.get((namespace or "", name))


NOW = time.time()


def workload(w: int, namespace: str) -> dict[str, Any]:
    """Four in five wait for quota; one in five was admitted within the last 7 days."""
    created = NOW - 600 * w
    meta = {"namespace": namespace, "name": f"wl-{w}", "creationTimestamp": iso(created)}
    if w % 5:
        return {"metadata": meta, "spec": {"queueName": "training"},
                "status": {"conditions": [{"type": "QuotaReserved", "status": "False",
                                           "message": "needs 8 nvidia.com/gpu"}]}}
    return {"metadata": meta, "spec": {"queueName": "training"},
            "status": {"admission": {"clusterQueue": f"cq-{w % QUEUES}"}, "conditions": [
                {"type": "QuotaReserved", "status": "True",
                 "lastTransitionTime": iso(created + w % 900)}]}}


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Cache:
    def __init__(self) -> None:
        ns = [f"team-{i}" for i in range(NAMESPACES)]
        self.applications = Filled([{
            "metadata": {"namespace": ns[i % NAMESPACES], "name": f"app-{i}"},
            "spec": {"sourceRef": {"name": "repo"}, "path": "web"},
            "status": {"lastAppliedRevision": "a" * 40, "resources": [
                {"kind": "ConfigMap", "name": f"c{j}", "health": "Healthy", "sync": "Synced"}
                for j in range(5)], "history": [
                {"revision": "a" * 40, "time": "t", "result": "Succeeded"}] * 5},
        } for i in range(APPS)])
        self.sources = Filled([])
        self.cluster_queues = Filled([{
            "metadata": {"name": f"cq-{q}"},
            "spec": {"resourceGroups": [{"flavors": [{"name": "h100", "resources": [
                {"name": "nvidia.com/gpu", "nominalQuota": 64}]}]}]},
            "status": {"flavorsUsage": [{"name": "h100", "resources": [
                {"name": "nvidia.com/gpu", "total": 32}]}]},
        } for q in range(QUEUES)])
        self.workloads = Filled([workload(w, ns[w % NAMESPACES]) for w in range(WORKLOADS)])
        self.nodes = Filled([])
        self.pods = Filled([])
        self.usage_records = Filled([{
            "apiVersion": "showback.quarterdeck.dev/v1alpha1", "kind": "UsageRecord",
            "metadata": {"name": f"r-{r}"},
            "spec": {"namespace": ns[r % NAMESPACES], "pod": f"p-{r}", "podUid": f"u-{r}",
                     "gpuMilli": 8000, "start": NOW - 3600 - r, "end": None if r % 2 else NOW,
                     "model": "NVIDIA-H100-80GB-HBM3", "queue": f"cq-{r % QUEUES}",
                     "labels": {"team": ns[r % NAMESPACES]}},
        } for r in range(WORKLOADS)])
        self.pricings = Filled([{"metadata": {"name": "default"}, "spec": {"gpus": [
            {"model": "NVIDIA-H100-80GB-HBM3", "perHour": "2.50"}]}}])
        self.budgets = Filled([{
            "metadata": {"name": team},
            "spec": {"team": team, "period": "daily", "gpuHours": "100",
                     "thresholds": [50, 80, 100]},
            "status": {"gpuHours": 64.0, "percent": 64.0, "crossed": [50],
                       "conditions": [{"type": "Ready", "status": "True"}]},
        } for team in ns])
        self.targets = {(n, "training"): f"cq-{i % QUEUES}" for i, n in enumerate(ns)}

    def local_queue_targets(self) -> dict[tuple[str, str], str]:
        return self.targets

    def namespaces_of(self, informer: Filled) -> list[str]:
        return sorted({ns for ns, _ in informer.objects})


class Allowed(Access):
    def session(self, sid: str) -> Session:
        return Session("token", User("bench"), "csrf", 0.0)

    def allowed(self, user: User, ask: Ask) -> bool:
        return True


def rss_of_operator(kubeconfig: str, dashboard: bool, workdir: Path) -> float:
    """MiB of VmRSS of `qd operator` 10 s after it serves (the dashboard too, if asked)."""
    health, port = free_port(), free_port()
    args = [str(Path(sys.executable).parent / "qd"), "operator", "--kubeconfig", kubeconfig,
            "--cache-dir", str(workdir / "cache"), "--health-port", str(health)]
    urls = [f"http://127.0.0.1:{health}/readyz"]
    if dashboard:
        args += ["--dashboard-port", str(port)]
        urls.append(f"http://127.0.0.1:{port}/signin")
    with (workdir / "operator.log").open("ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        for url in urls:
            wait_for(lambda url=url: answers(url), url, 120, 0.2)
        time.sleep(10)  # a benchmark, not a test: let the first passes settle
        status = Path(f"/proc/{proc.pid}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines()
                   if line.startswith("VmRSS:"))
        return kib / 1024
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # loopback only
            return answer.status == 200 or None
    except OSError:
        return None


def memory(kubeconfig: str) -> None:
    with tempfile.TemporaryDirectory(prefix="qd-bench-") as tmp:
        without = rss_of_operator(kubeconfig, False, Path(tmp))
        load_without = os.getloadavg()[0]
        with_dashboard = rss_of_operator(kubeconfig, True, Path(tmp))
        load_with = os.getloadavg()[0]
    print(f"qd operator without the dashboard: {without:.1f} MiB (load average "
          f"{load_without:.2f}); with it: {with_dashboard:.1f} MiB (load average "
          f"{load_with:.2f}); the dashboard adds {with_dashboard - without:.1f} MiB")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--memory":
        return memory(sys.argv[2])
    access = Allowed(client=None)  # type: ignore[arg-type]
    tracemalloc.start()
    cache = Cache()
    held = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    print(f"the cached objects (as informers hold them, in memory here): {held:.1f} MiB")
    freeze_filled_caches()  # as the operator and `qd dashboard` do once their caches filled
    app = create_app(Pages(cache, access, None), access, Hub({}))  # type: ignore[arg-type]
    client = TestClient(app, cookies={COOKIE: "s"})
    print(f"load average {os.getloadavg()[0]:.2f} (2 cores, shared)")
    for path in ("/", "/applications", "/applications/team-1/app-1", "/queues",
                 "/queues/cq-0", "/showback", "/applications?format=json"):
        times, cpu = [], []  # wall time, and CPU time (less hurt by a busy shared machine)
        for _ in range(VIEWS):
            start, start_cpu = time.perf_counter(), time.process_time()
            assert client.get(path).status_code == 200
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
        p95, cpu95 = (statistics.quantiles(t, n=20)[18] for t in (times, cpu))
        print(f"{path:28s} wall p50 {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms"
              f"  CPU p50 {statistics.median(cpu):6.1f} ms  p95 {cpu95:6.1f} ms")


if __name__ == "__main__":
    main()
