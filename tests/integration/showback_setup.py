"""Shared by the showback integration tests: a scripted day's clock, controller, webhook
receiver (behind notify's Provider and Alert) and the objects the tests make.

Import `day` (the module-scoped fixture) and `prometheus` into a test module to use them.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from lightkube import Client, codecs
from lightkube.resources.core_v1 import Event, Pod
from lightkube.types import PatchType
from prometheus_fixture import prometheus as prometheus  # the fixture, re-exported
from queueing_setup import API, ClusterQueue, Flavor, as_dict, gpu_job, gpu_queue
from queueing_setup import install_crds as install_queueing_crds
from typer.testing import CliRunner

from quarterdeck.api import notify as notify_api
from quarterdeck.api.crd import crd
from quarterdeck.api.showback import KINDS
from quarterdeck.cli.main import app
from quarterdeck.devcluster import prometheus as devprom
from quarterdeck.kube.crds import install_crds
from quarterdeck.kube.events import EventRecorder
from quarterdeck.kube.informer import SharedInformers
from quarterdeck.kube.wait import wait_for
from quarterdeck.notify.operator import AlertRes, ProviderRes
from quarterdeck.notify.sender import Notifier, secret_reader
from quarterdeck.showback.clock import FileClock
from quarterdeck.showback.controller import Showback
from quarterdeck.showback.prometheus import PrometheusSource
from quarterdeck.showback.resources import (
    BudgetResource,
    IdlePolicyResource,
    PricingResource,
    UsageRecordResource,
)

T0 = 1925424000.0  # 2031-01-06T00:00:00Z, a Monday: far from every other test's records
HOUR = 3600.0
H100, A100 = "NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB"
MIG = "1g.10gb"
WINDOW = "2031-01-06T00:00:00Z,2031-01-07T00:00:00Z"


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


def notifier(informers: SharedInformers, kube: Client) -> Notifier:
    """notify's sender on the Providers and Alerts in the cluster (as `qd operator` runs it)."""
    providers, alerts = informers.informer(ProviderRes), informers.informer(AlertRes)

    def config() -> tuple[Sequence[notify_api.Alert], Sequence[notify_api.Provider]]:
        return (
            [notify_api.decode_alert(a) for a in alerts.list()],
            [notify_api.decode_provider(p) for p in providers.list()],
        )

    sender = Notifier(config, secret_reader(kube))
    sender.start()
    return sender


def route_to(kube: Client, namespace: str, receiver: Receiver, kind: str) -> None:
    """A generic Provider for `receiver` and an Alert taking `kind`'s notices, any namespace."""
    api = f"{notify_api.GROUP}/{notify_api.VERSION}"
    for body in (
        {
            "apiVersion": api,
            "kind": "Provider",
            "metadata": {"name": "receiver", "namespace": namespace},
            "spec": {"type": "generic", "address": receiver.url},
        },
        {
            "apiVersion": api,
            "kind": "Alert",
            "metadata": {"name": f"{kind.lower()}s", "namespace": namespace},
            "spec": {
                "providerRef": {"name": "receiver"},
                "eventSources": [{"kind": kind, "namespace": "*"}],
            },
        },
    ):
        kube.apply(codecs.from_dict(body), field_manager="quarterdeck-tests", force=True)


class Day:
    def __init__(self, kube: Client, kubeconfig: Path, clock: FileClock, url: str) -> None:
        self.kube, self.kubeconfig, self.clock, self.url = kube, kubeconfig, clock, url
        self.sfx = uuid.uuid4().hex[:5]
        self.receiver = Receiver()
        self.controller: Showback | None = None
        self.informers: SharedInformers | None = None
        self.notifier: Notifier | None = None

    def team(self, t: str) -> str:
        return f"{t}-{self.sfx}"

    def start(self) -> Showback:
        """A fresh controller, as a restarted operator has: nothing in memory."""
        self.informers = SharedInformers(self.kube)
        self.notifier = notifier(self.informers, self.kube)
        self.controller = Showback(
            self.kube,
            self.informers,
            EventRecorder(self.kube, "quarterdeck-showback"),
            self.clock,
            PrometheusSource(self.url),
            interval=0.2,
            trust_pod_times=False,
            publish=self.notifier.publish,
        )
        self.informers.start()
        self.controller.start()
        return self.controller

    def stop(self) -> None:
        assert self.controller is not None and self.informers is not None
        assert self.notifier is not None
        self.controller.stop()
        self.notifier.stop()
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


@contextlib.contextmanager
def unreachable_url() -> Iterator[str]:
    """A loopback URL where nothing answers: its port is held bound but never listening,
    so a connection is refused and no other process can take the port meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


def price_list(kube: Client, priced: Sequence[str] = (H100, A100)) -> None:
    """Pricing/default: H100 2.50/h; A100 1.75/h and its MIG 1g.10gb instance 0.40/h
    (only the models in `priced`)."""
    gpus = [
        {"model": H100, "perHour": "2.50"},
        {"model": A100, "perHour": "1.75", "mig": {"1g.10gb": "0.40"}},
    ]
    kube.apply(
        PricingResource.from_dict(
            {
                "apiVersion": "showback.quarterdeck.dev/v1alpha1",
                "kind": "Pricing",
                "metadata": {"name": "default"},
                "spec": {
                    "currency": "USD",
                    "gpus": [g for g in gpus if g["model"] in priced],
                },
            }
        ),
        field_manager="quarterdeck-tests",
        force=True,
    )


def apply_budget(kube: Client, name: str, team: str, **spec: Any) -> None:
    """A daily Budget for `team`, with the rest of its spec from `spec`."""
    body = {
        "apiVersion": "showback.quarterdeck.dev/v1alpha1",
        "kind": "Budget",
        "metadata": {"name": name},
        "spec": {"team": team, "period": "daily", **spec},
    }
    kube.apply(BudgetResource.from_dict(body), field_manager="quarterdeck-tests", force=True)


def install_showback_crds(kube: Client) -> None:
    install_queueing_crds(kube)
    install_crds(kube, [crd(k) for k in (*KINDS, *notify_api.KINDS)])


def forget_records(kube: Client, sfx: str) -> None:
    """Delete the UsageRecords of this run's teams (suffix `sfx`)."""
    for r in kube.list(UsageRecordResource):
        if r.metadata is not None and r.metadata.name and sfx in json.dumps(as_dict(r)):
            kube.delete(UsageRecordResource, r.metadata.name)


@pytest.fixture(scope="module")
def day(
    kube: Client,
    dev_cluster: Any,
    prometheus: devprom.PrometheusState,
) -> Iterator[Day]:
    install_showback_crds(kube)
    clock = FileClock(Path(prometheus.root) / "clock")
    clock.set(T0)
    price_list(kube)
    d = Day(kube, dev_cluster.kubeconfig, clock, prometheus.url)
    d.start()
    yield d
    d.stop()
    forget_records(kube, d.sfx)


def job(
    ns: str,
    name: str,
    gpus: int,
    team: str,
    util: str,
    share: str | None = None,
    mig: str | None = None,
    **labels: str,
) -> Any:
    """A queued Job of one pod: `gpus` whole GPUs, or a `share` of one in milli-GPUs (the
    annotation queueing and showback read), or one `mig` instance of that profile."""
    body = gpu_job(ns, name, gpus=gpus, duration="10h")
    template = body["spec"]["template"]
    meta = template["metadata"]
    meta["labels"] = {"team": team, **labels}
    meta["annotations"]["quarterdeck.dev/gpu-util"] = util
    if share is not None or mig is not None:
        asked = {f"nvidia.com/mig-{mig}": "1"} if mig else {}
        template["spec"]["containers"][0]["resources"] = {"requests": asked, "limits": asked}
    if share is not None:
        meta["annotations"]["quarterdeck.dev/gpu-milli"] = share
    return codecs.from_dict(body)


@contextlib.contextmanager
def day_queue(kube: Client, namespace: str) -> Iterator[str]:
    """`gpu_queue`'s ClusterQueue (8 H100s, whole or shared) with a second resource
    group: 7 MIG 1g.10gb instances on the A100 MIG pool, a flavor of its own."""
    flavor = f"a100-mig-{namespace}"
    labels = {"quarterdeck.dev/pool": "a100-mig"}
    body = {"metadata": {"name": flavor}, "spec": {"nodeLabels": labels}}
    kube.apply(Flavor.from_dict({"apiVersion": API, "kind": "ResourceFlavor", **body}), force=True)
    mig = {"name": flavor, "resources": [{"name": f"nvidia.com/mig-{MIG}", "nominalQuota": 7}]}
    try:
        with gpu_queue(kube, namespace, nominal=8) as cq:
            groups = as_dict(kube.get(ClusterQueue, cq))["spec"]["resourceGroups"]
            group = {"coveredResources": [f"nvidia.com/mig-{MIG}"], "flavors": [mig]}
            patch = {"spec": {"resourceGroups": [*groups, group]}}
            kube.patch(ClusterQueue, cq, patch, patch_type=PatchType.MERGE)
            yield cq
    finally:
        kube.delete(Flavor, flavor)


def pod(
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


def running(kube: Client, ns: str, names: set[str]) -> bool:
    pods = {p.metadata.name: p for p in kube.list(Pod, namespace=ns) if p.metadata}
    started = set()
    for p in pods.values():
        job = (p.metadata.labels or {}).get("batch.kubernetes.io/job-name", p.metadata.name)  # type: ignore[union-attr]
        if p.status is not None and p.status.phase == "Running":
            started.add(job)
    return names <= started


def pod_of(kube: Client, ns: str, job: str) -> str:
    (name,) = [
        p.metadata.name
        for p in kube.list(Pod, namespace=ns, labels={"batch.kubernetes.io/job-name": job})
        if p.metadata and p.metadata.name
    ]
    return name


def showback(kubeconfig: Path, clock: FileClock, by: str = "team") -> dict[str, Any]:
    """`qd showback` over the scripted day, as JSON rows by name."""
    args = ["showback", "--window", WINDOW, "--by", by, "-o", "json"]
    args += ["--clock-file", str(clock.path), "--kubeconfig", str(kubeconfig)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return {r["name"]: r for r in json.loads(result.stdout)}


def events(kube: Client, ns: str, name: str, reason: str) -> list[str]:
    return [
        e.message or ""
        for e in kube.list(Event, namespace=ns)
        if e.involvedObject.name == name and e.reason == reason
    ]


def policy(ns: str, name: str, action: str, selector: dict[str, str], **spec: Any) -> Any:
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


def allocation_api(day: Day, query: str, window: bool = True) -> dict[str, Any]:
    """`/allocation/compute` as the operator serves it: its health server and route."""
    from quarterdeck.kube.health import ROUTES, HealthServer
    from quarterdeck.showback import operator as showback_operator

    showback_operator.attach(day.controller)
    ROUTES["/allocation/compute"] = showback_operator.allocation_route
    server = HealthServer("127.0.0.1", 0, lambda: (True, "ok"))
    server.start()
    try:
        span = f"window={WINDOW}&" if window else ""
        url = f"http://127.0.0.1:{server.port}/allocation/compute?{span}{query}"
        return dict(httpx.get(url, timeout=10).json())
    finally:
        server.stop()
        showback_operator.attach(None)
