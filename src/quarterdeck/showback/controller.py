"""The showback controller: records GPU usage, acts on idle GPUs, tracks budgets and SLOs.

One pass (on pod events and every `interval` seconds, through a WorkQueue with one key,
so passes never overlap) reads everything from the shared informers, asks Prometheus
once for each pod's GPU utilisation, lets the pure cores decide (`observe`, `idle`,
`budget`, `objectives`), then writes: UsageRecords (server-side apply), statuses, Events,
webhooks. Usage lives in UsageRecord objects in the cluster: a restarted operator
reloads them and continues, so no usage is lost (see docs/showback.md for why records
and not Prometheus). Prometheus unreachable: utilisation is unmeasured, GPU-hours
still counted from the cluster, and every policy and budget says so in a condition.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import structlog
from lightkube import Client
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import Node, Pod

from quarterdeck.api.showback import PricingSpec
from quarterdeck.kube.errors import NotFound, classify
from quarterdeck.kube.informer import Informer, SharedInformers
from quarterdeck.kube.workqueue import WorkQueue, run_workers
from quarterdeck.notify.notice import Notice
from quarterdeck.showback import actions
from quarterdeck.showback.actions import Recorder
from quarterdeck.showback.clock import Clock
from quarterdeck.showback.metrics import ShowbackMetrics
from quarterdeck.showback.objectives import QueueWaits
from quarterdeck.showback.observe import observe
from quarterdeck.showback.prices import Prices, PricingError, from_pricing
from quarterdeck.showback.prometheus import PrometheusSource
from quarterdeck.showback.records import expired, from_object, record_name, to_object
from quarterdeck.showback.resources import (
    BudgetResource,
    ClusterQueueResource,
    IdlePolicyResource,
    ObjectiveResource,
    PricingResource,
    UsageRecordResource,
    WorkloadResource,
)
from quarterdeck.showback.usage import UsageRecord

log = structlog.get_logger("quarterdeck.showback")
FIELD_MANAGER = "quarterdeck-showback"
PASS = "pass"


@dataclass(frozen=True)
class View:
    """The state as of one moment, with the version it had then."""

    records: list[UsageRecord]
    prices: Prices
    degraded: str
    now: float
    version: int


@dataclass
class ShowbackState:
    """What the API route and the CLI read: the records and prices as of the last pass.
    `version` goes up with every change (a record written or deleted, a pass's time), so
    answers computed from one version (`cache`) stay right until it moves."""

    records: dict[str, UsageRecord] = field(default_factory=dict)  # by pod uid
    prices: Prices = field(default_factory=Prices)
    degraded: str = ""  # why utilisation is unmeasured ("" when Prometheus answers)
    now: float = 0.0
    version: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> tuple[list[UsageRecord], Prices, str, float]:
        with self.lock:
            return list(self.records.values()), self.prices, self.degraded, self.now

    def view(self) -> View:
        with self.lock:
            return View(
                list(self.records.values()), self.prices, self.degraded, self.now, self.version
            )


class Showback:
    def __init__(
        self,
        client: Client,
        informers: SharedInformers,
        recorder: Recorder,
        clock: Clock,
        source: PrometheusSource | None,
        interval: float = 15.0,
        trust_pod_times: bool = True,
        metrics: ShowbackMetrics | None = None,
        publish: Callable[[Notice], object] | None = None,
        namespace: str | None = None,
        retention: float = 0.0,
    ) -> None:
        self.client = client
        self.recorder = recorder
        self.clock = clock
        self.source = source
        self.interval = interval
        self.trust_pod_times = trust_pod_times
        self.metrics = metrics
        self.namespace = namespace
        self.retention = retention  # seconds a closed UsageRecord is kept (0: for ever)
        self.state = ShowbackState()
        self.pods = informers.informer(Pod, namespace)
        self.nodes = informers.informer(Node)
        self.usage = informers.informer(UsageRecordResource)
        self.pricing = informers.informer(PricingResource)
        self.policies = informers.informer(IdlePolicyResource, namespace)
        self.budgets = informers.informer(BudgetResource)
        self.objectives = informers.informer(ObjectiveResource)
        self.informers = informers
        self.workloads: Informer | None = None  # made once queueing's CRD is served
        self.cluster_queues: Informer | None = None  # with it
        self.queue: WorkQueue[str] = WorkQueue()
        self.stop_event = threading.Event()
        self.ready = threading.Event()  # records loaded, passes running
        self.acts = actions.Actions(
            client, recorder, publish, metrics.budget if metrics is not None else None
        )
        self.waits = QueueWaits()  # queue waits per ClusterQueue, updated each pass
        self.passes = 0

    # --- lifecycle ------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Run passes in the background, once the caches are in and the records the
        cluster holds are loaded; returns at once, so a cluster without showback's CRDs
        or RBAC never holds up the operator's other controllers."""
        threading.Thread(target=self._run, args=(timeout,), name="showback", daemon=True).start()

    def _run(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        # Workloads are optional (queueing may not be installed): never waited for.
        for inf in (self.pods, self.nodes, self.usage, self.pricing):
            inf.wait_synced(max(0.1, deadline - time.monotonic()))
        if self.stop_event.is_set():
            return
        with self.state.lock:
            for obj in self.usage.list():
                try:
                    record = from_object(obj)
                except msgspec.ValidationError as err:
                    log.warning("ignoring a malformed UsageRecord", error=str(err))
                    continue
                if self.namespace and record.namespace != self.namespace:
                    continue  # another namespace's pods: not ours to close or expire
                self.state.records[record.uid] = record
        # a burst of pod events costs one pass, half a second after it starts
        self.pods.add_handler(lambda _e, _o: self.queue.add_after(PASS, 0.5))
        for inf in (self.policies, self.budgets, self.pricing):
            inf.add_handler(lambda _e, _o: self.queue.add(PASS))
        self.ready.set()
        self.queue.add(PASS)
        run_workers(self.queue, self._handle, 1, self.stop_event)

    def stop(self) -> None:
        self.stop_event.set()
        self.queue.shutdown()

    def _handle(self, key: str) -> None:
        try:
            self.reconcile()
        finally:
            if not self.stop_event.is_set():
                self.queue.add_after(PASS, self.interval)

    # --- one pass -------------------------------------------------------------------

    def reconcile(self) -> None:
        now = self.clock.now()
        pods = self.pods.list()
        nodes = {n["metadata"]["name"]: n for n in self.nodes.list()}
        utils = self.source.utilisation() if self.source is not None else None
        degraded = self.source.error if self.source is not None else "no Prometheus configured"
        records = list(self.state.records.values())
        writes = observe(records, pods, nodes, self._queues(), utils, now, self.trust_pod_times)
        for record in writes:
            self._write(record)
        if self.retention:
            for record in expired(list(self.state.records.values()), now, self.retention):
                self._delete(record)
        prices = self._prices()
        with self.state.lock:
            self.state.prices, self.state.degraded, self.state.now = prices, degraded, now
            self.state.version += 1
        records = list(self.state.records.values())
        for policy in self.policies.list():
            self.acts.idle_policy(policy, records, now, degraded)
        held = {self.acts.budget(b, records, prices, now, degraded) for b in self.budgets.list()}
        queues = self.cluster_queues
        if queues is not None and self.budgets.has_synced() and queues.has_synced():
            self.acts.release_orphans(queues.list(), held)  # a Budget gone, even while down
        self.waits.update(self._workloads())
        for objective in self.objectives.list():
            self.acts.objective(objective, self.waits, records, now, time.time())
        if self.metrics is not None:
            self.metrics.update(records, prices, now, self.waits, degraded)
        self.passes += 1

    WORKLOAD_CRD = "workloads.queueing.quarterdeck.dev"

    def _workloads(self) -> list[dict[str, Any]]:
        """Queueing's Workloads; none while its CRD is not served. An informer on a kind
        the server does not serve never syncs, and would keep the whole operator from
        reporting ready (`qd operator --no-queueing` on a cluster without queueing)."""
        if self.workloads is None:
            try:
                self.client.get(CustomResourceDefinition, self.WORKLOAD_CRD)
            except Exception as err:
                if isinstance(classify(err), NotFound):
                    return []
                raise
            self.workloads = self.informers.informer(WorkloadResource, self.namespace)
            self.cluster_queues = self.informers.informer(ClusterQueueResource)
        return self.workloads.list()

    def _queues(self) -> dict[tuple[str, str], str]:
        """(namespace, Job name) -> the ClusterQueue its Workload was admitted to."""
        out = {}
        for wl in self._workloads():
            meta = wl.get("metadata") or {}
            admission = (wl.get("status") or {}).get("admission") or {}
            cq = admission.get("clusterQueue")
            if cq and str(meta.get("name", "")).startswith("job-"):
                out[(meta.get("namespace", ""), meta["name"][4:])] = str(cq)
        return out

    def _write(self, record: UsageRecord) -> None:
        body = to_object(record)
        try:
            self.client.apply(
                UsageRecordResource.from_dict(body), field_manager=FIELD_MANAGER, force=True
            )
        except Exception as err:  # one failed write must not end the pass; retried next pass
            log.warning(
                "cannot write UsageRecord",
                name=record_name(record.namespace, record.pod, record.uid),
                error=str(err),
            )
            return
        with self.state.lock:
            self.state.records[record.uid] = record
            self.state.version += 1

    def _delete(self, record: UsageRecord) -> None:
        """A record past retention: gone from the cluster, then from memory."""
        name = record_name(record.namespace, record.pod, record.uid)
        try:
            self.client.delete(UsageRecordResource, name)
        except Exception as err:
            if not isinstance(classify(err), NotFound):  # someone deleted it already: fine
                log.warning("cannot delete an expired UsageRecord", name=name, error=str(err))
                return
        with self.state.lock:
            self.state.records.pop(record.uid, None)
            self.state.version += 1

    def _prices(self) -> Prices:
        obj = self.pricing.get(None, "default")
        if obj is None:
            return Prices()
        try:
            return from_pricing(msgspec.convert(obj.get("spec") or {}, PricingSpec))
        except (msgspec.ValidationError, PricingError) as err:
            log.warning("Pricing/default is not usable; every model is unpriced", error=str(err))
            return Prices()
