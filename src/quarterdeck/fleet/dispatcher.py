"""GPU Jobs sent to the worker cluster where they fit; their status mirrored back.

A Job on the management cluster labelled ``fleet.quarterdeck.dev/dispatch: "true"`` (and
created suspended, so it never runs there) is a gang of ``parallelism`` pods. The
dispatcher reads every reachable registered cluster's nodes and pods, lets
``dispatch.choose_worker`` pick the worker (whole gang, least fragmentation), creates the
Job there (unsuspended) and records the worker on the management Job. From then on the
remote Job's status is mirrored into the management Job's
``fleet.quarterdeck.dev/remote-status`` annotation (the management cluster's job
controller owns ``.status``) with an Event on each change. A worker that stays
unreachable or unregistered for ``grace`` seconds has its Jobs requeued: the worker is
forgotten and the gang is placed again over the workers that remain.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Namespace, Node, Pod
from lightkube.types import CascadeType, PatchType

from quarterdeck.delivery.cluster import ClusterError, call_api
from quarterdeck.fleet.dispatch import choose_worker, free_state, gang_of
from quarterdeck.fleet.registrar import FIELD_MANAGER, Registrar
from quarterdeck.kube.events import EventRecorder
from quarterdeck.kube.informer import SharedInformers
from quarterdeck.kube.workqueue import WorkQueue, run_workers

DISPATCH_LABEL = "fleet.quarterdeck.dev/dispatch"
WORKER = "fleet.quarterdeck.dev/worker"
REMOTE_STATUS = "fleet.quarterdeck.dev/remote-status"
REQUEUES = "fleet.quarterdeck.dev/requeues"
ORIGIN = "fleet.quarterdeck.dev/origin"
Key = tuple[str, str]
log = structlog.get_logger("quarterdeck.fleet.dispatcher")
_JOB_FIELDS = ("parallelism", "completions", "completionMode", "backoffLimit", "template")


def remote_job(job: dict[str, Any]) -> dict[str, Any]:
    """The worker's copy: the same name, namespace and pods, unsuspended, pointing back."""
    meta = job.get("metadata") or {}
    spec = job.get("spec") or {}
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != DISPATCH_LABEL}
    template = json.loads(json.dumps(spec.get("template") or {}))
    template_labels = (template.get("metadata") or {}).get("labels") or {}
    for key in (
        "controller-uid",
        "batch.kubernetes.io/controller-uid",
        "job-name",
        "batch.kubernetes.io/job-name",
    ):
        template_labels.pop(key, None)
    template.setdefault("metadata", {})["labels"] = template_labels
    (template.get("spec") or {}).pop("nodeName", None)
    body = {k: spec[k] for k in _JOB_FIELDS if k in spec}
    body["template"] = template
    body["suspend"] = False
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "labels": labels,
            "annotations": {
                ORIGIN: f"{meta.get('namespace')}/{meta.get('name')}/{meta.get('uid')}"
            },
        },
        "spec": body,
    }


def mirrored(remote: dict[str, Any]) -> str:
    """The part of a remote Job's status the management cluster shows (stable JSON)."""
    st = remote.get("status") or {}
    conds = sorted(
        c.get("type", "") for c in st.get("conditions") or [] if c.get("status") == "True"
    )
    out = {k: st.get(k, 0) for k in ("active", "ready", "succeeded", "failed")}
    return json.dumps({**out, "conditions": conds}, sort_keys=True)


class Dispatcher:
    """See the module docstring; one key per management Job."""

    def __init__(
        self,
        client: Client,
        registrar: Registrar,
        informers: SharedInformers,
        namespace: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        tick: float = 2.0,
        grace: float = 20.0,
    ) -> None:
        self.client = client
        self.registrar = registrar
        self.clock = clock
        self.tick = tick
        self.grace = grace
        self.stop = threading.Event()
        self.queue: WorkQueue[Key] = WorkQueue("fleet-dispatch")
        self.events = EventRecorder(client, FIELD_MANAGER)
        self.jobs = informers.informer(Job, namespace=namespace)
        self.jobs.add_handler(self._on_job)
        self.down_since: dict[str, float] = {}

    def _on_job(self, event: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        if (meta.get("labels") or {}).get(DISPATCH_LABEL) != "true":
            return
        if event == "DELETED":
            self._delete_remote(obj)
            return
        self.queue.add((str(meta.get("namespace", "")), str(meta.get("name", ""))))

    def run(self) -> None:
        threading.Thread(target=self._shutdown_on_stop, daemon=True).start()
        run_workers(self.queue, self.handle, 4, self.stop)

    def _shutdown_on_stop(self) -> None:
        self.stop.wait()
        self.queue.shutdown()

    def handle(self, key: Key) -> None:
        if self.reconcile(key) and not self.stop.is_set():
            self.queue.add_after(key, self.tick)

    # --- one Job -------------------------------------------------------------------------

    def reconcile(self, key: Key) -> bool:
        """Dispatch, mirror or requeue one Job; whether to look at it again."""
        job = self.jobs.get(*key)
        if job is None:
            return False
        annotations = (job.get("metadata") or {}).get("annotations") or {}
        worker = annotations.get(WORKER, "")
        if not worker:
            return self._dispatch(job)
        found = self.registrar.destination(worker)
        if found.cluster is None:
            since = self.down_since.setdefault(worker, self.clock())
            if self.clock() - since >= self.grace:
                self._requeue(job, worker, found.message)
            return True
        self.down_since.pop(worker, None)
        try:
            remote = call_api(lambda: found.cluster.client.get(Job, key[1], namespace=key[0]))  # type: ignore[union-attr]
        except ClusterError as err:
            if err.code == 404:  # deleted there (or never made it): place it again
                self._requeue(job, worker, "the Job is gone from the worker")
            return True
        except Exception:
            return True  # a hiccup: the registrar's probe decides whether it is down
        status = mirrored(remote.to_dict())
        if annotations.get(REMOTE_STATUS) != status:
            self._annotate(job, {REMOTE_STATUS: status})
            self._event(job, "Normal", "RemoteStatus", f"on {worker}: {status}")
        done = json.loads(status)["conditions"]
        return not ({"Complete", "Failed"} & set(done))

    def _dispatch(self, job: dict[str, Any]) -> bool:
        spec = job.get("spec") or {}
        gang = gang_of(spec.get("template") or {}, int(spec.get("parallelism") or 1))
        states, clients = {}, {}
        for name in self.registrar.names():
            found = self.registrar.destination(name)
            if found.cluster is None:
                continue
            client = found.cluster.client
            try:
                nodes = [n.to_dict() for n in client.list(Node)]
                pods = [p.to_dict() for p in client.list(Pod, namespace="*")]
            except Exception as err:
                log.warning("worker not read", cluster=name, error=str(err)[:200])
                continue
            states[name], clients[name] = free_state(nodes, pods), client
        choice = choose_worker(states, gang)
        if not choice.worker:
            why = "; ".join(f"{w}: {r}" for w, r in choice.reasons.items()) or "no reachable worker"
            self._event(job, "Warning", "NoWorkerFits", why)
            return True
        client = clients[choice.worker]
        body = remote_job(job)
        namespace = str(body["metadata"]["namespace"])
        with contextlib.suppress(ClusterError):  # exists already
            call_api(lambda: client.create(Namespace(metadata=ObjectMeta(name=namespace))))
        try:
            call_api(lambda: client.create(Job.from_dict(body)))  # type: ignore[call-overload]
        except ClusterError as err:
            if err.code != 409:  # a copy from an earlier attempt is there: adopt it
                raise
        self._annotate(job, {WORKER: choice.worker})
        self._event(
            job, "Normal", "Dispatched", f"to {choice.worker}: {choice.reasons[choice.worker]}"
        )
        log.info(
            "job dispatched", job=f"{namespace}/{body['metadata']['name']}", worker=choice.worker
        )
        return True

    def _requeue(self, job: dict[str, Any], worker: str, why: str) -> None:
        meta = job.get("metadata") or {}
        count = int((meta.get("annotations") or {}).get(REQUEUES, "0")) + 1
        self._annotate(job, {WORKER: None, REMOTE_STATUS: None, REQUEUES: str(count)})
        self._event(job, "Warning", "Requeued", f"worker {worker} went away ({why}); placing again")

    def _delete_remote(self, job: dict[str, Any]) -> None:
        meta = job.get("metadata") or {}
        worker = (meta.get("annotations") or {}).get(WORKER)
        found = self.registrar.destination(worker) if worker else None
        if found is None or found.cluster is None:
            return
        with contextlib.suppress(Exception):
            found.cluster.client.delete(
                Job,
                str(meta.get("name")),
                namespace=str(meta.get("namespace")),
                cascade=CascadeType.BACKGROUND,
            )

    def _annotate(self, job: dict[str, Any], values: dict[str, str | None]) -> None:
        meta = job.get("metadata") or {}
        patch = {"metadata": {"annotations": values}}
        call_api(
            lambda: self.client.patch(
                Job,
                str(meta.get("name")),
                patch,
                namespace=str(meta.get("namespace")),
                patch_type=PatchType.MERGE,
            )
        )

    def _event(self, job: dict[str, Any], type_: str, reason: str, message: str) -> None:
        regarding = {"apiVersion": "batch/v1", "kind": "Job", "metadata": job.get("metadata") or {}}
        with contextlib.suppress(Exception):
            self.events.event(regarding, type_, reason, message)
