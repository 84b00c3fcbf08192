"""The controller's writes: each answer goes back into the view, a failure is one line.

A pass decides on the caches and then writes; `Writes` sends those writes (several at
once: on a loaded API server one request takes tens of milliseconds and a pass may
write thousands), puts every answer into the view at once (so the next decision
already sees it, before the watch event arrives), and turns a refused or timed-out
write into one line of `PassReport.problems` while the rest of the pass goes on (a
timed-out write may have landed; the watch tells the next pass). Events go to the
`Recorder`, which sends them off the pass's path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar

import httpx2
from lightkube import ApiError, Client
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod

from quarterdeck.api.queueing import GROUP, VERSION
from quarterdeck.queueing.live import LiveView
from quarterdeck.queueing.store import Cache, Obj, Writer

WorkloadResource = create_namespaced_resource(GROUP, VERSION, "Workload", "workloads")
ClusterQueueResource = create_global_resource(GROUP, VERSION, "ClusterQueue", "clusterqueues")
AdmissionCheckResource = create_global_resource(GROUP, VERSION, "AdmissionCheck", "admissionchecks")
T = TypeVar("T")


class Recorder(Protocol):
    """Where Events go (`kube.events.EventRecorder` has this shape)."""

    def event(self, regarding: Obj, type_: str, reason: str, message: str) -> None: ...


@dataclass
class PassReport:
    """What one pass did, by workload or pod key."""

    created: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    admitted: list[str] = field(default_factory=list)
    preempted: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # evicted, pods gone, quota released
    suspended: list[str] = field(default_factory=list)  # ran without an admitted Workload
    resumed: list[str] = field(default_factory=list)  # admitted, Job was still suspended
    staged: list[str] = field(default_factory=list)  # Jobs whose pods wait gated (`staging`)
    problems: list[str] = field(default_factory=list)

    def extend(self, other: PassReport) -> None:
        """Add what `other` did (writes that answered after their pass)."""
        for name, value in vars(other).items():
            getattr(self, name).extend(value)


def job_ref(job: Obj) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": job.get("metadata") or {}}


class Writes:
    """Creates and patches through one client, `writers` at a time, into `view`."""

    def __init__(
        self,
        client: Client,
        view: LiveView,
        field_manager: str,
        recorder: Recorder | None = None,
        writers: int = 16,
    ) -> None:
        self.view = view
        self.writer = Writer(client, field_manager)
        self.recorder = recorder
        self.pool = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="queueing-write")

    def each(self, fn: Callable[[T], object], items: Iterable[T]) -> None:
        """`fn` on every item, concurrently; returns when all are done."""
        for _ in self.pool.map(fn, items):
            pass

    def write(
        self,
        store: Cache | None,
        what: str,
        report: PassReport,
        call: Callable[[], Obj],
        guarded: bool = False,
    ) -> Obj | None:
        """`call()`'s answer, put into `store`; None (and one problem line) if refused.
        A `guarded` write (one that carries the resourceVersion it was decided on) that
        meets a newer object is dropped without a line: the next pass decides again."""
        try:
            obj = call()
        except ApiError as err:
            if guarded and err.status.code == 409:
                return None
            report.problems.append(f"{what}: {err.status.message or err.status.reason}")
            if err.status.code == 404 and store is not None:
                ns, _, name = what.partition(" ")[2].rpartition("/")
                store.forget(ns, name)
            return None
        except httpx2.TransportError as err:
            # A loaded API server may not answer in time: the write may or may not have
            # landed, and the watch will tell. One line; the rest of the pass goes on.
            report.problems.append(f"{what}: {type(err).__name__}: {err}")
            return None
        if store is not None:
            store.assume(obj)
        return obj

    def patch_job(self, job: Obj, patch: Obj, report: PassReport) -> bool:
        meta = job["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        call = partial(self.writer.patch, Job, ns, name, patch)
        return self.write(self.view.jobs, f"job {ns}/{name}", report, call) is not None

    def create_workload(self, ns: str, body: Obj, report: PassReport) -> bool:
        what = f"workload {ns}/{body['metadata']['name']}"
        call = partial(self.writer.create, WorkloadResource, ns, body)
        return self.write(self.view.workloads, what, report, call) is not None

    def patch_status(
        self,
        ns: str,
        name: str,
        status: Mapping[str, Any],
        report: PassReport,
        resource_version: str | None = None,
    ) -> bool:
        """Merge-patch a Workload's status (a key set to None clears it); with a
        `resource_version`, only if the Workload is still at it."""
        body: Obj = {"status": dict(status)}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        call = partial(self.writer.patch, WorkloadResource, ns, name, body, status=True)
        what = f"workload {ns}/{name}"
        guarded = bool(resource_version)
        return self.write(self.view.workloads, what, report, call, guarded) is not None

    def patch_workload(self, ns: str, name: str, patch: Obj, report: PassReport) -> bool:
        call = partial(self.writer.patch, WorkloadResource, ns, name, patch)
        return self.write(self.view.workloads, f"workload {ns}/{name}", report, call) is not None

    def patch_pod(self, ns: str, name: str, patch: Obj, report: PassReport) -> bool:
        call = partial(self.writer.patch, Pod, ns, name, patch)
        return self.write(self.view.pods, f"pod {ns}/{name}", report, call) is not None

    def patch_queue_status(self, name: str, status: Obj, report: PassReport) -> bool:
        call = partial(
            self.writer.patch, ClusterQueueResource, None, name, {"status": status}, status=True
        )
        store = self.view.queueing["ClusterQueue"]
        return self.write(store, f"clusterqueue /{name}", report, call) is not None

    def patch_check_status(self, name: str, status: Obj, report: PassReport) -> bool:
        call = partial(
            self.writer.patch, AdmissionCheckResource, None, name, {"status": status}, status=True
        )
        store = self.view.queueing["AdmissionCheck"]
        return self.write(store, f"admissioncheck /{name}", report, call) is not None

    def event(self, job: Obj | None, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None and job is not None:
            self.recorder.event(job_ref(job), type_, reason, message)
