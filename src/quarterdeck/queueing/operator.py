"""The queueing controller as a long-running loop, for `qd operator` (beside delivery).

A pass (`controller.reconcile_once`) runs every `interval` seconds and, sooner, a
short `settle` after a Job or Workload changes: one watch thread per kind only sets a
wake-up flag, so a burst of events costs one pass and passes never overlap. Every
pass starts from the cluster (the controller keeps no memory), so a missed event
only delays work until the next interval. Optionally the Job webhook is served (dev
certificates, registered with the API server) and deregistered on stop.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from lightkube import ApiError, Client, codecs
from lightkube.resources.admissionregistration_v1 import MutatingWebhookConfiguration
from lightkube.resources.batch_v1 import Job
from lightkube.types import on_error_retry

from quarterdeck.api.queueing import all_crds
from quarterdeck.kube.crds import install_crds
from quarterdeck.queueing.controller import PassReport, WorkloadResource, reconcile_once
from quarterdeck.queueing.metrics import QueueMetrics

Report = Callable[[str], None]


def describe(report: PassReport) -> list[str]:
    """One line per thing a pass did (what `qd operator` and `qd queue reconcile` log)."""
    lines = []
    for label, keys in (
        ("created", report.created),
        ("admitted", report.admitted),
        ("preempted", report.preempted),
        ("stopped", report.stopped),
        ("finished", report.finished),
        ("released", report.released),
    ):
        lines += [f"{label:<9} {key}" for key in keys]
    return lines + [f"warning: {p}" for p in report.problems]


class QueueingLoop:
    """Controller passes on an interval and on Job/Workload watch events, in threads."""

    def __init__(
        self,
        connect: Callable[[], Client],
        interval: float = 1.0,
        settle: float = 0.1,
        metrics: QueueMetrics | None = None,
        log: Report = print,
    ) -> None:
        self.connect = connect
        self.interval = interval
        self.settle = settle
        self.metrics = metrics
        self.log = log
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.passes = 0
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the watch threads and the pass loop (daemon threads)."""
        for res in (Job, WorkloadResource):
            name = f"queueing-watch-{res.__name__}"
            self.threads.append(threading.Thread(target=self._watch, args=(res,), name=name))
        self.threads.append(threading.Thread(target=self.run, name="queueing-passes"))
        for thread in self.threads:
            thread.daemon = True
            thread.start()

    def run(self) -> None:
        """Run passes until `stop` is set; a failed pass is logged and retried."""
        client = self.connect()
        while not self.stop.is_set():
            if self.wake.wait(self.interval):
                time.sleep(self.settle)  # let the rest of a burst of events arrive
            self.wake.clear()
            if self.stop.is_set():
                break
            try:
                report = reconcile_once(client, time.time(), metrics=self.metrics)
            except Exception as err:  # one failed pass must not end the operator
                self.log(f"warning: queueing pass failed: {err}")
                continue
            self.passes += 1
            for line in describe(report):
                self.log(line)

    def _watch(self, res: Any) -> None:
        client = self.connect()
        while not self.stop.is_set():
            try:
                for _ in client.watch(res, namespace="*", on_error=on_error_retry):
                    self.wake.set()
                    if self.stop.is_set():
                        return
            except (ApiError, httpx.HTTPError, OSError) as err:
                self.log(f"warning: watch of {res.__name__} failed, retrying: {err}")
                self.stop.wait(self.interval)


def start_dev_webhook(client: Client, port: int) -> str:
    """Serve the Job webhook on 127.0.0.1:`port` with fresh dev certificates and register
    it; returns its URL. Pair with `stop_webhook` so Jobs are not rejected afterwards."""
    from quarterdeck.devcluster.pki import generate
    from quarterdeck.queueing.webhook import PATH, configuration, serve

    pki = generate(datetime.now(UTC), "queueing-webhook")
    serve("127.0.0.1", port, pki.serving.cert_pem, pki.serving.key_pem)
    url = f"https://127.0.0.1:{port}{PATH}"
    client.apply(codecs.from_dict(configuration(url, pki.ca.cert_pem)), force=True)
    return url


def stop_webhook(client: Client) -> None:
    """Deregister the Job webhook (its failurePolicy is Fail: a dead one blocks Jobs)."""
    from quarterdeck.queueing.webhook import NAME

    with contextlib.suppress(ApiError):
        client.delete(MutatingWebhookConfiguration, NAME)


def start_beside(
    connect: Callable[[], Client],
    interval: float = 1.0,
    webhook_port: int = 0,
    install: bool = True,
    metrics: QueueMetrics | None = None,
    log: Report = print,
) -> Callable[[], None]:
    """Start the queueing loop (and webhook) in the background; returns its stop function."""
    client = connect()
    if install:
        install_crds(client, all_crds())
    if webhook_port:
        log(f"webhook   {start_dev_webhook(client, webhook_port)}")
    loop = QueueingLoop(connect, interval, metrics=metrics, log=log)
    loop.start()

    def stop() -> None:
        loop.stop.set()
        loop.wake.set()
        if webhook_port:
            stop_webhook(client)

    return stop
