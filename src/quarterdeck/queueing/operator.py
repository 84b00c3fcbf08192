"""The queueing controller as a long-running loop, for `qd operator` (beside delivery).

`QueueingLoop.start()` installs the CRDs and the admission policy (optional), reads
every kind from the shared informers (`kube.informer`; its own set unless the
operator passes the process's), and reports ready only once every cache
has synced and the API server applies the policy (a dry-run probe comes back
suspended): a Job created a moment after ready is stored suspended. Passes run on a
cache event (after a short settle, so a burst costs one pass) and every `interval`
seconds otherwise; passes never overlap and make no list call. Between passes, a
`Finisher` frees the quota of a Job whose last pod just succeeded. A failed pass is
logged and retried on the next wake-up. Stopping leaves nothing that blocks the
cluster: the policy is the API server's own and does not need us to be running.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from lightkube import Client

from quarterdeck.api.queueing import all_crds
from quarterdeck.kube.crds import install_crds
from quarterdeck.kube.events import EventRecorder
from quarterdeck.kube.informer import SharedInformers
from quarterdeck.kube.wait import wait_for
from quarterdeck.queueing import admission
from quarterdeck.queueing.controller import Controller
from quarterdeck.queueing.finisher import Finisher
from quarterdeck.queueing.jobs import gated, queue_name
from quarterdeck.queueing.live import TERMINAL, LiveView
from quarterdeck.queueing.metrics import QueueMetrics
from quarterdeck.queueing.nodes import Placer
from quarterdeck.queueing.store import Obj
from quarterdeck.queueing.writes import PassReport, Recorder

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
        ("suspended", report.suspended),
        ("resumed", report.resumed),
        ("staged", report.staged),
    ):
        lines += [f"{label:<9} {key}" for key in keys]
    return lines + [f"warning: {p}" for p in report.problems]


class JobEvents:
    """Events on Jobs through `kube.events.EventRecorder` (aggregated as client-go
    does), sent from a background thread so a pass never waits on them."""

    def __init__(self, client: Client, component: str = "quarterdeck-queueing") -> None:
        self.recorder = EventRecorder(client, component)
        self.queue: queue.Queue[tuple[Obj, str, str, str]] = queue.Queue()
        threading.Thread(target=self._send_all, name="queueing-events", daemon=True).start()

    def event(self, regarding: Obj, type_: str, reason: str, message: str) -> None:
        self.queue.put((regarding, type_, reason, message))

    def flush(self) -> None:
        """Wait until every Event recorded so far is sent."""
        self.queue.join()

    def _send_all(self) -> None:
        while True:
            item = self.queue.get()
            try:
                self.recorder.event(*item)  # logs and drops what it cannot write
            finally:
                self.queue.task_done()


class QueueingLoop:
    """Controller passes on cache events and on an interval, in threads."""

    def __init__(
        self,
        client: Client,
        interval: float = 1.0,
        settle: float = 0.05,
        metrics: QueueMetrics | None = None,
        log: Report = print,
        recorder: Recorder | None = None,
        placer: Placer | None = None,
        probe_namespace: str = "default",
        informers: SharedInformers | None = None,
    ) -> None:
        self.client = client
        self.interval = interval
        self.settle = settle
        self.log = log
        self.metrics = metrics
        self.probe_namespace = probe_namespace
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.ready = threading.Event()
        self.passes = 0
        self.last_pass_seconds = 0.0
        self.view = LiveView(client)
        self.informers = informers if informers is not None else SharedInformers(client)
        self._own_informers = informers is None
        self.controller = Controller(
            client,
            self.view,
            placer=placer,
            metrics=metrics,
            recorder=recorder if recorder is not None else JobEvents(client),
            in_background=True,  # no pass waits on its own writes (`inflight`)
            told=self._tell,
        )
        self.finisher = Finisher(self.controller.writes, log, describe)
        self.threads: list[threading.Thread] = []
        self._wire()

    def _tell(self, report: PassReport) -> None:
        """What a write sent without waiting did, logged as it answers."""
        for line in describe(report):
            self.log(line)

    def _wire(self) -> None:
        def any_change(_: str, __: Obj) -> None:
            self.wake.set()

        def job_change(_: str, job: Obj) -> None:
            if queue_name(job) is not None:
                self.wake.set()

        def pod_change(event: str, pod: Obj) -> None:
            phase = (pod.get("status") or {}).get("phase")
            if gated(pod) or event == "DELETED" or phase in TERMINAL:
                self.wake.set()
            if event != "DELETED" and self.ready.is_set():
                self.finisher.pod_changed(pod)

        def node_change(event: str, _: Obj) -> None:
            if event != "MODIFIED":  # heartbeats change nothing we decide on
                self.wake.set()

        self.view.jobs.add_handler(job_change)
        self.view.pods.add_handler(pod_change)
        self.view.nodes.add_handler(node_change)
        self.view.namespaces.add_handler(any_change)
        self.view.configs.add_handler(any_change)
        for store in self.view.queueing.values():
            store.add_handler(any_change)

    def start(self, install: bool = True, timeout: float = 60.0) -> None:
        """Install (optional), fill the caches, wait for the policy to be in force, then
        run passes in a thread; returns once ready."""
        if install:
            install_crds(self.client, all_crds())
            admission.install(self.client)
        # Only now: the process's informers may already run, and a watch on a kind not
        # yet served fails and retries with a warning.
        self.view.attach(self.informers)
        if self._own_informers:
            self.informers.start()
        wait_for(self.view.synced, "the queueing caches to sync", timeout)
        wait_for(
            lambda: admission.in_force(self.client, self.probe_namespace),
            "the API server to apply the queued-Job admission policy",
            timeout,
        )
        thread = threading.Thread(target=self.run, name="queueing-passes", daemon=True)
        thread.start()
        self.finisher.start()
        self.threads += [thread, *self.finisher.threads]
        self.ready.set()

    def run(self) -> None:
        """Run passes until `stop` is set; a failed pass is logged and retried."""
        while not self.stop.is_set():
            if self.wake.wait(self.interval):
                self.stop.wait(self.settle)  # let the rest of a burst of events arrive
            self.wake.clear()
            if self.stop.is_set():
                break
            started, cpu_started = time.monotonic(), time.thread_time()
            try:
                report = self.controller.reconcile(time.time())
            except Exception as err:  # one failed pass must not end the operator
                self.log(f"warning: queueing pass failed: {type(err).__name__}: {err}")
                continue
            self.last_pass_seconds = time.monotonic() - started
            if self.metrics is not None:
                self.metrics.pass_seconds.observe(self.last_pass_seconds)
                self.metrics.pass_cpu_seconds.inc(time.thread_time() - cpu_started)
            self.passes += 1
            for line in describe(report):
                self.log(line)

    def shutdown(self) -> None:
        self.stop.set()
        self.wake.set()
        self.finisher.stop()
        if self._own_informers:
            self.informers.stop()
        else:
            self.view.detach()


def start_beside(
    connect: Callable[[], Client],
    interval: float = 1.0,
    install: bool = True,
    metrics: QueueMetrics | None = None,
    log: Report = print,
    **options: Any,
) -> Callable[[], None]:
    """Start the queueing loop in the background once it is ready; returns its stop."""
    loop = QueueingLoop(connect(), interval, metrics=metrics, log=log, **options)
    loop.start(install=install)
    log("ready     admission policy in force, caches synced")
    return loop.shutdown
