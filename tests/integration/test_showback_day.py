"""A scripted day of GPU Jobs on the dev cluster with real Prometheus: showback is exact.

Time is a file clock shared by the showback controller and `qd showback`, so six
simulated hours take seconds and the GPU-hours come out exactly as computed by hand.
Utilisation is real: each pod's annotation is served by the dcgm-format source, scraped
by Prometheus, and read back by the controller. The queueing controller's own passes
admit the Jobs and carry out the idle policy's eviction.

The day (team names are suffixed per run; prices: H100 2.50/h, MIG 1g.10gb 0.40/h):
| pod     | team | holds            | util | hours | GPU-h   | used     | idle     | cost  |
| a-train | a    | 2 H100 (queued)  | 75 % | 0-3   | 6       | 4.5      | 1.5      | 15.00 |
| a-share | a    | 500m of an H100  | 40 % | 0-6   | 3       | 1.2      | 1.8      | 7.50  |
| b-train | b    | 4 H100 (queued)  | 50 % | 0-6   | 24      | 12       | 12       | 60.00 |
| b-mig   | b    | MIG 1g.10gb A100 | 20 % | 0-4   | 4/7     | 0.8/7    | 3.2/7    | 1.60  |
The controller is stopped at hour 2 and a new one started at hour 3 (the operator
restarted mid-window): nothing held in between is lost.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from lightkube import Client, codecs
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event, Pod
from lightkube.types import CascadeType
from prometheus_fixture import prometheus  # noqa: F401  (the fixture)
from queueing_setup import as_dict, gpu_job, gpu_queue, passes_until, workload
from queueing_setup import install_crds as install_queueing_crds
from typer.testing import CliRunner

from quarterdeck.api.crd import crd
from quarterdeck.api.showback import KINDS
from quarterdeck.cli.main import app
from quarterdeck.devcluster import prometheus as devprom
from quarterdeck.kube.crds import install_crds
from quarterdeck.kube.events import EventRecorder
from quarterdeck.kube.informer import SharedInformers
from quarterdeck.kube.wait import wait_for
from quarterdeck.showback.clock import CLOCK_FILE_ENV, FileClock
from quarterdeck.showback.controller import Showback
from quarterdeck.showback.prometheus import PrometheusSource
from quarterdeck.showback.resources import (
    BudgetResource,
    IdlePolicyResource,
    ObjectiveResource,
    PricingResource,
    UsageRecordResource,
)
from quarterdeck.showback.webhook import send

pytestmark = pytest.mark.integration
T0 = 1925424000.0  # 2031-01-06T00:00:00Z, a Monday: far from every other test's records
HOUR = 3600.0
H100, A100 = "NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB"


class Receiver:
    """A webhook receiver on loopback that keeps every JSON body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Day:
    def __init__(self, kube: Client, kubeconfig: Path, clock: FileClock, url: str) -> None:
        self.kube, self.kubeconfig, self.clock, self.url = kube, kubeconfig, clock, url
        self.sfx = uuid.uuid4().hex[:5]
        self.receiver = Receiver()
        self.controller: Showback | None = None
        self.informers: SharedInformers | None = None

    def team(self, t: str) -> str:
        return f"{t}-{self.sfx}"

    def start(self) -> Showback:
        """A fresh controller, as a restarted operator has: nothing in memory."""
        self.informers = SharedInformers(self.kube)
        self.controller = Showback(
            self.kube,
            self.informers,
            EventRecorder(self.kube, "quarterdeck-showback"),
            self.clock,
            PrometheusSource(self.url),
            interval=0.2,
            trust_pod_times=False,
            notify=send,
        )
        self.informers.start()
        self.controller.start()
        return self.controller

    def stop(self) -> None:
        assert self.controller is not None and self.informers is not None
        self.controller.stop()
        self.informers.stop()

    def at(self, hours: float) -> None:
        """Move the clock and wait for a pass that saw it."""
        when = T0 + hours * HOUR
        self.clock.set(when)
        assert self.controller is not None
        wait_for(
            lambda: self.controller is not None and self.controller.state.now == when,
            f"a showback pass at hour {hours}",
            30,
        )

    def record(self, namespace: str, pod: str) -> Any:
        assert self.controller is not None
        records, _, _, _ = self.controller.state.snapshot()
        return next((r for r in records if (r.namespace, r.pod) == (namespace, pod)), None)

    def measured(self, namespace: str, pod: str, util: float) -> bool:
        r = self.record(namespace, pod)
        return r is not None and bool(r.util) and r.util[-1][1] == util

    def closed(self, namespace: str, pod: str) -> bool:
        r = self.record(namespace, pod)
        return r is not None and r.end is not None


@pytest.fixture(scope="module")
def day(
    kube: Client,
    dev_cluster: Any,
    prometheus: devprom.PrometheusState,  # noqa: F811
) -> Iterator[Day]:
    install_queueing_crds(kube)
    install_crds(kube, [crd(k) for k in KINDS])
    clock = FileClock(Path(prometheus.root) / "clock")
    clock.set(T0)
    kube.apply(
        PricingResource.from_dict(
            {
                "apiVersion": "showback.quarterdeck.dev/v1alpha1",
                "kind": "Pricing",
                "metadata": {"name": "default"},
                "spec": {
                    "currency": "USD",
                    "gpus": [
                        {"model": H100, "perHour": "2.50"},
                        {"model": A100, "perHour": "1.75", "mig": {"1g.10gb": "0.40"}},
                    ],
                },
            }
        ),
        field_manager="quarterdeck-tests",
        force=True,
    )
    d = Day(kube, dev_cluster.kubeconfig, clock, prometheus.url)
    d.start()
    yield d
    d.stop()
    for r in kube.list(UsageRecordResource):
        if r.metadata is not None and r.metadata.name and d.sfx in json.dumps(as_dict(r)):
            kube.delete(UsageRecordResource, r.metadata.name)


def _job(ns: str, name: str, gpus: int, team: str, util: str, **labels: str) -> Any:
    body = gpu_job(ns, name, gpus=gpus, duration="10h")
    meta = body["spec"]["template"]["metadata"]
    meta["labels"] = {"team": team, **labels}
    meta["annotations"]["quarterdeck.dev/gpu-util"] = util
    return codecs.from_dict(body)


def _pod(
    ns: str,
    name: str,
    team: str,
    util: str,
    pool: str,
    resources: dict[str, str],
    annotations: dict[str, str] | None = None,
    **labels: str,
) -> Pod:
    return cast(
        Pod,
        Pod.from_dict(
            {
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "labels": {"team": team, **labels},
                    "annotations": {"quarterdeck.dev/gpu-util": util, **(annotations or {})},
                },
                "spec": {
                    "nodeSelector": {"quarterdeck.dev/pool": pool},
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [
                        {"name": "main", "image": "fake", "resources": {"limits": resources}}
                    ],
                },
            }
        ),
    )


def _running(kube: Client, ns: str, names: set[str]) -> bool:
    pods = {p.metadata.name: p for p in kube.list(Pod, namespace=ns) if p.metadata}
    started = set()
    for p in pods.values():
        job = (p.metadata.labels or {}).get("batch.kubernetes.io/job-name", p.metadata.name)  # type: ignore[union-attr]
        if p.status is not None and p.status.phase == "Running":
            started.add(job)
    return names <= started


def _pod_of(kube: Client, ns: str, job: str) -> str:
    (pod,) = [
        p.metadata.name
        for p in kube.list(Pod, namespace=ns, labels={"batch.kubernetes.io/job-name": job})
        if p.metadata and p.metadata.name
    ]
    return pod


def _showback(day: Day, by: str = "team") -> dict[str, Any]:
    window = "2031-01-06T00:00:00Z,2031-01-07T00:00:00Z"
    result = CliRunner().invoke(
        app,
        [
            "showback",
            "--window",
            window,
            "--by",
            by,
            "-o",
            "json",
            "--kubeconfig",
            str(day.kubeconfig),
        ],
        env={CLOCK_FILE_ENV: str(day.clock.path)},
    )
    assert result.exit_code == 0, result.output
    return {r["name"]: r for r in json.loads(result.stdout)}


def _events(kube: Client, ns: str, name: str, reason: str) -> list[str]:
    return [
        e.message or ""
        for e in kube.list(Event, namespace=ns)
        if e.involvedObject.name == name and e.reason == reason
    ]


def test_a_scripted_day_is_exact_and_survives_a_restart(
    day: Day, kube: Client, namespace: str
) -> None:
    a, b = day.team("a"), day.team("b")
    with gpu_queue(kube, namespace, nominal=8):
        kube.create(_job(namespace, "a-train", 2, a, "75"))
        kube.create(_job(namespace, "b-train", 4, b, "50"))
        passes_until(
            kube,
            lambda _: _running(kube, namespace, {"a-train", "b-train"}) or None,
            "both Jobs admitted and running",
        )
        kube.create(
            _pod(
                namespace,
                "a-share",
                a,
                "40",
                "gpu-h100-8",
                {},
                {"quarterdeck.dev/gpu-milli": "500"},
            )
        )
        kube.create(_pod(namespace, "b-mig", b, "20", "a100-mig", {"nvidia.com/mig-1g.10gb": "1"}))
        pods = {
            "a-train": _pod_of(kube, namespace, "a-train"),
            "b-train": _pod_of(kube, namespace, "b-train"),
            "a-share": "a-share",
            "b-mig": "b-mig",
        }
        utils = {"a-train": 75, "b-train": 50, "a-share": 40, "b-mig": 20}
        for job, pod in pods.items():  # Prometheus scraped each pod's GPUs, at hour 0
            wait_for(
                lambda p=pod, u=utils[job]: day.measured(namespace, p, u),  # type: ignore[misc]
                f"{job} measured at {utils[job]}%",
                60,
            )
        assert day.record(namespace, pods["a-train"]).queue == f"cq-{namespace}"

        day.at(2)
        # the queue's objectives: both Jobs waited; at hour 2, 7 of 12 GPU-hours busy
        cq = f"cq-{namespace}"
        kube.apply(
            ObjectiveResource.from_dict(
                {
                    "apiVersion": "showback.quarterdeck.dev/v1alpha1",
                    "kind": "QueueObjective",
                    "metadata": {"name": cq},
                    "spec": {"clusterQueue": cq, "waitP95": "1h", "utilisation": 60},
                }
            ),
            field_manager="quarterdeck-tests",
            force=True,
        )
        try:
            wait_for(
                lambda: (
                    (as_dict(kube.get(ObjectiveResource, cq)).get("status") or {}).get("workloads")
                    == 2
                ),
                "the queue objective evaluated",
                30,
            )
            status = as_dict(kube.get(ObjectiveResource, cq))["status"]
            assert status["utilisation"] == pytest.approx(7 / 12)
            assert status["errorBudgetRemaining"] == 1.0 and status["waitP95Seconds"] < 3600
            (met,) = status["conditions"]
            assert met["status"] == "False" and "utilisation 58.3% < 60%" in met["message"]
        finally:
            kube.delete(ObjectiveResource, cq)
        day.stop()  # the operator goes away at hour 2 ...
        day.clock.set(T0 + 3 * HOUR)
        day.start()  # ... and a new one starts at hour 3, from the records in the cluster
        day.at(3)
        kube.delete(Job, "a-train", namespace=namespace, cascade=CascadeType.BACKGROUND)
        wait_for(lambda: day.closed(namespace, pods["a-train"]), "a-train closed", 60)
        day.at(4)
        kube.delete(Pod, "b-mig", namespace=namespace)
        wait_for(lambda: day.closed(namespace, "b-mig"), "b-mig closed", 60)
        day.at(6)
        kube.delete(Job, "b-train", namespace=namespace, cascade=CascadeType.BACKGROUND)
        kube.delete(Pod, "a-share", namespace=namespace)
        wait_for(
            lambda: day.closed(namespace, pods["b-train"]) and day.closed(namespace, "a-share"),
            "b-train and a-share closed",
            60,
        )
        day.at(8)

        teams = _showback(day)
        assert {a, b} <= set(teams), teams
        assert (teams[a]["gpuHours"], teams[a]["gpuHoursUsed"], teams[a]["gpuHoursIdle"]) == (
            9.0,
            5.7,
            3.3,
        )
        assert (teams[a]["gpuCost"], teams[a]["gpuIdleCost"]) == (22.5, 8.25)
        assert teams[b]["gpuHours"] == round(24 + 4 / 7, 9)
        assert teams[b]["gpuHoursUsed"] == round(12 + 0.8 / 7, 9)
        assert teams[b]["gpuHoursIdle"] == round(12 + 3.2 / 7, 9)
        assert teams[b]["migInstanceHours"] == {"1g.10gb": 4.0}
        assert (teams[b]["gpuCost"], teams[b]["gpuIdleCost"]) == (61.6, 31.28)
        assert teams[a]["unpriced"] == teams[b]["unpriced"] == []
        models = _showback(day, "model")
        assert models[A100]["gpuCost"] >= 1.6
        served = _allocation_api(day, "aggregate=label:team&accumulate=true")
        assert served["code"] == 200 and len(served["data"]) == 1
        assert served["data"][0][a] == teams[a] and served["data"][0][b] == teams[b]
        hourly = _allocation_api(day, "aggregate=label:team&step=1h")["data"]
        assert [round(h[a]["gpuHours"], 6) for h in hourly[:7] if a in h] == [2.5] * 3 + [0.5] * 3
        bad = _allocation_api(day, "window=7x", window=False)
        assert bad["code"] == 400 and bad["message"].startswith("window: '7x'")


def _allocation_api(day: Day, query: str, window: bool = True) -> dict[str, Any]:
    """`/allocation/compute` as the operator serves it: its health server and route."""
    from quarterdeck.kube.health import ROUTES, HealthServer
    from quarterdeck.showback import operator as showback_operator

    showback_operator.attach(day.controller)
    ROUTES["/allocation/compute"] = showback_operator.allocation_route
    server = HealthServer("127.0.0.1", 0, lambda: (True, "ok"))
    server.start()
    try:
        span = "window=2031-01-06T00:00:00Z,2031-01-07T00:00:00Z&" if window else ""
        url = f"http://127.0.0.1:{server.port}/allocation/compute?{span}{query}"
        return dict(httpx.get(url, timeout=10).json())
    finally:
        server.stop()
        showback_operator.attach(None)


def test_a_budget_crossing_80_percent_fires_an_event_and_a_webhook(day: Day, kube: Client) -> None:
    name = f"team-a-{day.sfx}"
    kube.apply(
        BudgetResource.from_dict(
            {
                "apiVersion": "showback.quarterdeck.dev/v1alpha1",
                "kind": "Budget",
                "metadata": {"name": name},
                "spec": {
                    "team": day.team("a"),
                    "period": "daily",
                    "gpuHours": "10",
                    "thresholds": [50, 80, 100],
                    "notify": {"url": day.receiver.url},
                },
            }
        ),
        field_manager="quarterdeck-tests",
        force=True,
    )
    try:
        wait_for(
            lambda: {b.get("threshold") for b in day.receiver.bodies} >= {50, 80},
            "webhook calls for 50% and 80%",
            30,
        )
        hook = next(b for b in day.receiver.bodies if b["threshold"] == 80)
        assert hook["team"] == day.team("a") and hook["percent"] == pytest.approx(90.0)
        wait_for(
            lambda: any(
                "threshold 80%" in m for m in _events(kube, "default", name, "BudgetThreshold")
            ),
            "the 80% Event",
            30,
        )
        status = as_dict(kube.get(BudgetResource, name))["status"]
        assert status["crossed"] == [50, 80] and status["percent"] == pytest.approx(90.0)
        assert 100 not in {b["threshold"] for b in day.receiver.bodies}
        result = CliRunner().invoke(
            app, ["budget", "list", "-o", "json", "--kubeconfig", str(day.kubeconfig)]
        )
        assert any(
            r["name"] == name and r["crossed"] == [50, 80] for r in json.loads(result.stdout)
        )
    finally:
        kube.delete(BudgetResource, name)


def _policy(ns: str, name: str, action: str, selector: dict[str, str], **spec: Any) -> Any:
    return IdlePolicyResource.from_dict(
        {
            "apiVersion": "showback.quarterdeck.dev/v1alpha1",
            "kind": "GpuIdlePolicy",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "selector": selector,
                "threshold": 5,
                "duration": "30m",
                "action": action,
                **spec,
            },
        }
    )


def test_an_idle_job_is_suspended_and_requeued_and_a_dry_run_only_reports(
    day: Day, kube: Client, namespace: str
) -> None:
    c = day.team("c")
    with gpu_queue(kube, namespace, nominal=8):
        kube.apply(
            _policy(namespace, "reclaim", "Suspend", {"idle": "act"}), field_manager="t", force=True
        )
        kube.apply(
            _policy(namespace, "watch", "Suspend", {"idle": "dry"}, dryRun=True),
            field_manager="t",
            force=True,
        )
        kube.create(_job(namespace, "c-idle", 1, c, "0", idle="act"))
        kube.create(_job(namespace, "c-dry", 1, c, "0", idle="dry"))
        passes_until(
            kube, lambda _: _running(kube, namespace, {"c-idle", "c-dry"}) or None, "running"
        )
        for job in ("c-idle", "c-dry"):
            pod = _pod_of(kube, namespace, job)
            wait_for(lambda p=pod: day.measured(namespace, p, 0), f"{job} idle", 60)  # type: ignore[misc]
        day.at(8.25)  # idle for 15 minutes: not yet
        assert "Evicted" not in str(workload(kube, namespace, "job-c-idle").get("status"))
        day.at(8.6)  # idle for 36 minutes: over the policy's 30
        wait_for(
            lambda: any(
                c["type"] == "Evicted" and c["reason"] == "GpuIdle"
                for c in (workload(kube, namespace, "job-c-idle").get("status") or {}).get(
                    "conditions", []
                )
            ),
            "the idle Workload evicted",
            30,
        )
        _, reports = passes_until(
            kube,
            lambda rs: True if any(f"{namespace}/job-c-idle" in r.stopped for r in rs) else None,
            "the idle Job suspended and its quota released (requeued)",
        )
        assert any(f"{namespace}/c-idle" in r.suspended for r in reports)
        assert _events(kube, namespace, "c-idle", "GpuIdleSuspended")
        dry_pod = _pod_of(kube, namespace, "c-dry")
        wait_for(
            lambda: any(
                m.startswith("dry run: would suspend")
                for m in _events(kube, namespace, dry_pod, "GpuIdle")
            ),
            "the dry-run Event",
            30,
        )
        status = workload(kube, namespace, "job-c-dry").get("status") or {}
        assert not any(c["type"] == "Evicted" for c in status.get("conditions", []))
        assert not (as_dict(kube.get(Job, "c-dry", namespace=namespace))["spec"].get("suspend"))


def test_an_idle_notebook_is_deleted_on_its_schedule(
    day: Day, kube: Client, namespace: str
) -> None:
    d = day.team("d")
    nb = {"quarterdeck.dev/notebook": "true"}
    kube.apply(
        _policy(namespace, "nightly", "DeleteNotebook", {"nb": "act"}, schedule="09:30-12:00"),
        field_manager="t",
        force=True,
    )
    kube.apply(
        _policy(
            namespace,
            "nightly-dry",
            "DeleteNotebook",
            {"nb": "dry"},
            schedule="09:30-12:00",
            dryRun=True,
        ),
        field_manager="t",
        force=True,
    )
    for name, sel in (("nb-act", "act"), ("nb-dry", "dry")):
        kube.create(
            _pod(namespace, name, d, "0", "gpu-h100-8", {"nvidia.com/gpu": "1"}, None, nb=sel, **nb)
        )
    for name in ("nb-act", "nb-dry"):
        wait_for(lambda n=name: day.measured(namespace, n, 0), f"{name} idle", 60)  # type: ignore[misc]
    day.at(8.9)  # idle 18 minutes
    day.at(9.25)  # 09:15: idle over 30 minutes, but before 09:30: outside the schedule
    assert kube.get(Pod, "nb-act", namespace=namespace).metadata.deletionTimestamp is None  # type: ignore[union-attr]
    day.at(9.6)  # 09:36, inside the schedule
    wait_for(lambda: day.closed(namespace, "nb-act"), "the idle notebook deleted", 30)
    assert _events(kube, namespace, "nb-act", "GpuIdleDeleted")
    wait_for(
        lambda: any(
            m.startswith("dry run: would delete")
            for m in _events(kube, namespace, "nb-dry", "GpuIdle")
        ),
        "the dry-run Event",
        30,
    )
    assert not day.closed(namespace, "nb-dry")
    result = CliRunner().invoke(
        app, ["showback", "idle", "-o", "json", "--kubeconfig", str(day.kubeconfig)]
    )
    rows = [r for r in json.loads(result.stdout) if r["policy"].startswith(namespace)]
    assert {(r["policy"].split("/")[1], r["done"]) for r in rows} >= {
        ("nightly", True),
        ("nightly-dry", False),
    }
    kube.delete(Pod, "nb-dry", namespace=namespace)


def test_prometheus_unreachable_degrades_to_cluster_only_accounting(
    day: Day, kube: Client, namespace: str
) -> None:
    day.stop()  # the operator now runs with a Prometheus it cannot reach
    day.url, url = "http://127.0.0.1:9", day.url
    try:
        day.start()
        kube.apply(_policy(namespace, "watch", "Report", {}), field_manager="t", force=True)
        kube.create(
            _pod(namespace, "blind", day.team("e"), "0", "gpu-h100-8", {"nvidia.com/gpu": "1"})
        )

        def degraded() -> bool:
            status = (
                as_dict(kube.get(IdlePolicyResource, "watch", namespace=namespace)).get("status")
                or {}
            )
            return any(
                c["type"] == "MetricsAvailable"
                and c["status"] == "False"
                and c["reason"] == "PrometheusUnreachable"
                for c in status.get("conditions", [])
            )

        wait_for(degraded, "the MetricsAvailable=False condition", 30)
        wait_for(lambda: day.record(namespace, "blind") is not None, "the pod recorded anyway", 30)
        assert day.record(namespace, "blind").util[-1][1] is None  # unmeasured, not idle
        day.at(10)
        assert not _events(kube, namespace, "blind", "GpuIdle")  # never reclaimed on no data
        kube.delete(Pod, "blind", namespace=namespace)
        wait_for(lambda: day.closed(namespace, "blind"), "blind closed", 30)
        (row,) = [r for n, r in _showback(day).items() if n == day.team("e")]
        assert row["gpuHoursUnmeasured"] == row["gpuHours"] > 0 and row["gpuHoursIdle"] == 0
    finally:
        day.stop()
        day.url = url
        day.start()
