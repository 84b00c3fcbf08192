"""Quota freed the moment a Job's last pod succeeds, not at the next pass.

A pass marks a Workload Finished once every pod its Job needs has succeeded
(`jobsync`), but a pod that ends while a pass runs waits for that pass to end and
the next to reach it: half a pass and more in which its GPUs count as reserved and
sit idle. `Finisher` takes the operator's pod events and, off the pass thread,
writes Finished for a Workload whose Job's pods are now all done, with the
Workload's resourceVersion, so a write that meets a newer Workload (say one the
pass just evicted) is refused and left to the next pass, which decides again.

Several threads write at once: at 25 Jobs ending per second on a loaded API server
(a write takes 50-100 ms there) one thread fell behind and the passes freed two
thirds of the quota instead. A Job already waiting to be looked at is not queued
twice.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from quarterdeck.queueing.controller import rfc3339
from quarterdeck.queueing.jobs import JOB_NAME_LABEL, queue_name
from quarterdeck.queueing.jobsync import PODS_SUCCEEDED, all_pods_done, status_of, write_finished
from quarterdeck.queueing.store import Obj
from quarterdeck.queueing.writes import PassReport, Writes


class Finisher:
    """Threads writing Finished for Workloads whose Job's pods all succeeded."""

    def __init__(
        self,
        writes: Writes,
        log: Callable[[str], None],
        describe: Callable[[PassReport], list[str]],
        workers: int = 4,
    ) -> None:
        self.writes = writes
        self.log = log
        self.describe = describe
        self.todo: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._queued: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, name=f"queueing-finisher-{i}", daemon=True)
            for i in range(workers)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        for _ in self.threads:
            self.todo.put(None)

    def pod_changed(self, pod: Obj) -> None:
        """A pod event (informer thread): a Job's pod that succeeded may end its Job."""
        meta = pod.get("metadata") or {}
        job = (meta.get("labels") or {}).get(JOB_NAME_LABEL)
        if job and (pod.get("status") or {}).get("phase") == "Succeeded":
            item = (meta.get("namespace") or "", job)
            with self._lock:
                if item in self._queued:
                    return
                self._queued.add(item)
            self.todo.put(item)

    def _run(self) -> None:
        while (item := self.todo.get()) is not None:
            with self._lock:  # an event from now on queues the Job again
                self._queued.discard(item)
            report = PassReport()
            try:
                self.finish(*item, report)
            except Exception as err:  # one bad object must not end the thread
                report.problems.append(f"finishing job {item[0]}/{item[1]}: {err}")
            for line in self.describe(report):
                self.log(f"{line}  (on its last pod's success)")

    def finish(self, ns: str, name: str, report: PassReport) -> None:
        view = self.writes.view
        job = view.jobs.get(ns, name)
        if job is None or queue_name(job) is None:
            return
        doc = view.workloads.get(ns, f"job-{name}")
        if doc is None:
            return
        status = status_of(doc)
        if not all_pods_done(job, view.job_pods(ns, name), status):
            return
        rv = str((doc.get("metadata") or {}).get("resourceVersion") or "") or None
        write_finished(
            self.writes, ns, f"job-{name}", status, "PodsSucceeded", PODS_SUCCEEDED,
            rfc3339(time.time()), report, rv,
        )  # fmt: skip
