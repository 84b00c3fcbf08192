"""The runner that plays Kueue's baseline against a live controller, the same for both.

It does what Kueue's own performance runner does (test/performance/scheduler/runner):
creates each Workload through the API at its time, watches them, marks a Workload
Finished once it has been admitted for its runtime, and finishes an eviction (quota
released, Admitted false) as a job integration would, since neither controller runs
pods here. It records what it saw (`queue_scenario.Timeline`) and counts its own API
requests, so the controller's share of the API server's requests can be told apart.

Writes carry the resourceVersion they were decided on (a conflict re-reads and decides
again), so the runner never overwrites a controller's write it has not seen.
"""

from __future__ import annotations

import heapq
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx2
from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.types import PatchType
from queue_scenario import (
    Api,
    Timeline,
    WorkloadPlan,
    condition,
    is_true,
    workload_object,
)

from quarterdeck.kube.informer import SharedInformers


def _now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cond(type_: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": _now_rfc3339()}  # fmt: skip


class Runner:
    """One run of the scenario against the cluster behind `kube` (a fresh one)."""

    def __init__(self, kube: Client, api: Api, plans: list[WorkloadPlan], workers: int = 8):
        group, version = api.api_version.split("/")
        self.kube, self.api, self.workers = kube, api, workers
        self.resource = create_namespaced_resource(group, version, "Workload", "workloads")
        self.timelines = {(p.namespace, p.name): Timeline(p) for p in plans}
        self.plans = plans
        self.calls = 0
        self.problems: list[str] = []
        self._lock = threading.Lock()
        self._admitted: set[tuple[str, str]] = set()
        self._evicted: set[tuple[str, str]] = set()
        self._due: list[tuple[float, int, str, tuple[str, str]]] = []  # (at, seq, what, key)
        self._seq = 0
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self.start = 0.0
        kube._client._client.event_hooks["request"].append(self._count)

    def _count(self, _: httpx2.Request) -> None:
        with self._lock:
            self.calls += 1

    def clock(self) -> float:
        return time.monotonic() - self.start

    # -- watch --------------------------------------------------------------------------
    def _on_event(self, event_type: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        timeline = self.timelines.get(key)
        if timeline is None or event_type == "DELETED":
            return
        now = self.clock()
        admitted = is_true(obj, "Admitted") and not is_true(obj, "Finished")
        evicted = is_true(obj, "Evicted")
        with self._lock:
            if evicted and key not in self._evicted:
                self._evicted.add(key)
                timeline.evictions.append(now)
            elif not evicted:
                self._evicted.discard(key)
            if admitted and not evicted and key not in self._admitted:
                self._admitted.add(key)
                timeline.admissions.append(now)
                self._schedule(now + timeline.plan.runtime_ms / 1000, "finish", key)
            elif not admitted or evicted:
                self._admitted.discard(key)
            if evicted and is_true(obj, "QuotaReserved"):
                self._schedule(now, "release", key)
            if is_true(obj, "Finished") and timeline.finished is None:
                timeline.finished = now

    def _schedule(self, at: float, what: str, key: tuple[str, str]) -> None:
        self._seq += 1
        heapq.heappush(self._due, (at, self._seq, what, key))
        self._wake.notify()

    # -- finishing ----------------------------------------------------------------------
    def _finisher(self, informer: Any, pool: ThreadPoolExecutor) -> None:
        while not self._stop.is_set():
            with self._lock:
                while not self._due or self._due[0][0] > self.clock():
                    wait = self._due[0][0] - self.clock() if self._due else 0.5
                    self._wake.wait(min(max(wait, 0.001), 0.5))
                    if self._stop.is_set():
                        return
                _, _, what, key = heapq.heappop(self._due)
            pool.submit(self._act, informer, what, key)

    def _act(self, informer: Any, what: str, key: tuple[str, str]) -> None:
        obj = informer.get(*key)
        for _ in range(5):
            if obj is None:
                return
            patch = self._decide(what, obj)
            if patch is None:
                return
            patch["metadata"] = {"resourceVersion": obj["metadata"]["resourceVersion"]}
            try:
                self.kube.patch(self.resource.Status, key[1], patch, namespace=key[0],
                                patch_type=PatchType.MERGE)  # fmt: skip
                return
            except ApiError as err:
                if err.status.code != 409:
                    self.problems.append(f"{what} {key[0]}/{key[1]}: {err.status.message}")
                    return
            obj = self.kube.get(self.resource, key[1], namespace=key[0]).to_dict()  # type: ignore[no-untyped-call]
        self.problems.append(f"{what} {key[0]}/{key[1]}: conflicts 5 times")

    def _decide(self, what: str, obj: dict[str, Any]) -> dict[str, Any] | None:
        conds = [c for c in (obj.get("status") or {}).get("conditions") or []]
        if is_true(obj, "Finished"):
            return None
        if what == "finish":
            admitted = condition(obj, "Admitted")
            if admitted is None or admitted["status"] != "True" or is_true(obj, "Evicted"):
                return None  # evicted since: the re-admission schedules its own finish
            done = _cond("Finished", "True", "ByTest", "finished by the bench runner")
            return {"status": {"conditions": [*conds, done]}}
        if not (is_true(obj, "Evicted") and is_true(obj, "QuotaReserved")):
            return None
        released = {
            "QuotaReserved": _cond("QuotaReserved", "False", "Pending", "evicted by the runner"),
            "Admitted": _cond("Admitted", "False", "Pending", "evicted by the runner"),
        }
        kept = [c for c in conds if c.get("type") not in released]
        return {"status": {"admission": None, "conditions": [*kept, *released.values()]}}

    # -- the run ------------------------------------------------------------------------
    def run(self, timeout: float) -> dict[tuple[str, str], Timeline]:
        informers = SharedInformers(self.kube)
        informer = informers.informer(self.resource)
        informer.add_handler(self._on_event)
        informers.start()
        informers.wait_synced(60)
        pool = ThreadPoolExecutor(self.workers)
        self.start = time.monotonic()
        finisher = threading.Thread(target=self._finisher, args=(informer, pool), daemon=True)
        finisher.start()
        creators = [threading.Thread(target=self._create, args=(i,), daemon=True)
                    for i in range(self.workers)]  # fmt: skip
        for t in creators:
            t.start()
        for t in creators:
            t.join()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(t.finished is not None for t in self.timelines.values()):
                    break
            time.sleep(0.2)
        self._stop.set()
        with self._lock:
            self._wake.notify_all()
        finisher.join(5)
        pool.shutdown(wait=True)
        informers.stop()
        return self.timelines

    def _create(self, worker: int) -> None:
        for p in self.plans[worker :: self.workers]:
            delay = p.due_ms / 1000 - self.clock()
            if delay > 0:
                time.sleep(delay)
            body = workload_object(self.api, p)
            timeline = self.timelines[(p.namespace, p.name)]
            timeline.created = self.clock()  # as sent: the wait includes the API's latency
            try:
                self.kube.create(self.resource.from_dict(body))
            except ApiError as err:
                timeline.created = None
                self.problems.append(f"create {p.namespace}/{p.name}: {err.status.message}")
