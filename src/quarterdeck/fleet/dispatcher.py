"""GPU Jobs sent to the worker cluster where they fit; their status mirrored back.

The way in is a ClusterQueue on the management cluster (MultiKueue's shape): it lists
an AdmissionCheck whose ``controllerName`` is ``fleet.quarterdeck.dev/dispatch``, and
the Job carries that name in ``spec.managedBy`` (so the management cluster's job
controller never runs its pods). Queueing reserves the gang's quota there as for any
Job; the Workload then waits on the fleet's check. The dispatcher reads every reachable
registered cluster's nodes and pods, lets ``dispatch.choose_worker`` pick the worker
(whole gang, least fragmentation), creates the Job there (unsuspended), records the
worker on the management Job and sets the check Ready, which admits the Workload; until
a worker fits, the check stays Pending and says why. From then on the remote Job's
status is mirrored into the management Job's ``.status`` (and, compact, into the
``fleet.quarterdeck.dev/remote-status`` annotation) with an Event on each change, so
queueing sees it finish and frees the quota.

A worker that stays unreachable or unregistered for ``grace`` seconds has its Jobs
requeued: the worker is forgotten (and remembered under ``fleet.quarterdeck.dev/left-on``)
and the gang is placed again over the workers that remain, on the quota it holds. When
the forgotten worker answers again, the copy left there is deleted, unless the Job went
back to that same worker (then the copy is the Job).
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
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Namespace, Node, Pod
from lightkube.types import CascadeType, PatchType

from quarterdeck.api.queueing import GROUP as QUEUEING
from quarterdeck.api.queueing import VERSION as QUEUEING_VERSION
from quarterdeck.api.queueing.check import FLEET
from quarterdeck.delivery.cluster import ClusterError, call_api
from quarterdeck.fleet.dispatch import (
    check_states,
    choose_worker,
    fleet_check,
    free_state,
    gang_of,
    mirrored_status,
)
from quarterdeck.fleet.registrar import FIELD_MANAGER, Registrar
from quarterdeck.kube.events import EventRecorder
from quarterdeck.kube.informer import Informer, SharedInformers
from quarterdeck.kube.workqueue import WorkQueue, run_workers
from quarterdeck.queueing.jobs import GATE, QUEUE_LABELS, SAVED_SCHEDULING

MANAGED_BY = FLEET  # the Job's spec.managedBy and the AdmissionCheck's controllerName
LEFT_ON = "fleet.quarterdeck.dev/left-on"
WORKER = "fleet.quarterdeck.dev/worker"
REMOTE_STATUS = "fleet.quarterdeck.dev/remote-status"
REQUEUES = "fleet.quarterdeck.dev/requeues"
ORIGIN = "fleet.quarterdeck.dev/origin"
Key = tuple[str, str]
WorkloadRes = create_namespaced_resource(QUEUEING, QUEUEING_VERSION, "Workload", "workloads")
WORKLOAD_CRD = f"workloads.{QUEUEING}"
CheckRes = create_global_resource(QUEUEING, QUEUEING_VERSION, "AdmissionCheck", "admissionchecks")
log = structlog.get_logger("quarterdeck.fleet.dispatcher")
_JOB_LABELS = (
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
)
_JOB_FIELDS = ("parallelism", "completions", "completionMode", "backoffLimit", "template")


def remote_job(job: dict[str, Any]) -> dict[str, Any]:
    """The worker's copy: the same name, namespace and pods, unsuspended, pointing back."""
    meta = job.get("metadata") or {}
    spec = job.get("spec") or {}
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in QUEUE_LABELS}
    template = json.loads(json.dumps(spec.get("template") or {}))
    template_labels = (template.get("metadata") or {}).get("labels") or {}
    for key in _JOB_LABELS:
        template_labels.pop(key, None)
    template.setdefault("metadata", {})["labels"] = template_labels
    pod_spec = template.setdefault("spec", {})
    pod_spec.pop("nodeName", None)
    # what queueing added for the management cluster's nodes is not the worker's: the
    # user's own scheduling is restored and the placement gate (lifted there) dropped
    saved = (meta.get("annotations") or {}).get(SAVED_SCHEDULING)
    if saved:
        original = json.loads(saved)
        for key in ("nodeSelector", "tolerations", "affinity"):
            pod_spec[key] = original.get(key) or None
        for key in ("labels", "annotations"):  # saved too by newer admissions
            if key in original:
                kept = dict(original[key] or {})
                if key == "labels":
                    kept = {k: v for k, v in kept.items() if k not in _JOB_LABELS}
                template["metadata"][key] = kept
    gates = [g for g in pod_spec.get("schedulingGates") or [] if g.get("name") != GATE]
    pod_spec["schedulingGates"] = gates or None
    pod_spec = {k: v for k, v in pod_spec.items() if v is not None}
    template["spec"] = pod_spec
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


def managed_here(job: dict[str, Any]) -> bool:
    return (job.get("spec") or {}).get("managedBy") == MANAGED_BY


def left_on(annotations: dict[str, Any]) -> list[str]:
    return [w for w in str(annotations.get(LEFT_ON) or "").split(",") if w]


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
        self.informers = informers
        self.namespace = namespace
        self.jobs = informers.informer(Job, namespace=namespace)
        self.jobs.add_handler(self._on_job)
        # made once a Job asks for dispatch and queueing's CRDs are served: an informer
        # that never syncs would hold every controller that waits for the shared caches
        self.workloads: Informer | None = None
        self.checks: Informer | None = None
        self._queueing_lock = threading.Lock()
        registrar.returned.append(self._on_return)
        self.down_since: dict[str, float] = {}

    # --- wake-ups ------------------------------------------------------------------------

    def _on_job(self, event: str, obj: dict[str, Any]) -> None:
        if not managed_here(obj):
            return
        if event == "DELETED":
            self._delete_remote(obj)
            return
        meta = obj.get("metadata") or {}
        self.queue.add((str(meta.get("namespace", "")), str(meta.get("name", ""))))

    def _on_workload(self, event: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        name = str(meta.get("name", ""))
        if name.startswith("job-"):  # queueing's name for a Job's Workload
            self.queue.add((str(meta.get("namespace", "")), name.removeprefix("job-")))

    def _on_return(self, cluster: str) -> None:
        """A worker answers again: look at the Jobs that left a copy there."""
        for job in self.jobs.list():
            annotations = (job.get("metadata") or {}).get("annotations") or {}
            if managed_here(job) and cluster in left_on(annotations):
                meta = job.get("metadata") or {}
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

    def _queueing(self) -> tuple[Informer, Informer] | None:
        """The Workload and AdmissionCheck informers; None while queueing's CRDs are
        not served (then nothing can be admitted, so nothing is dispatched)."""
        with self._queueing_lock:
            if self.workloads is None or self.checks is None:
                try:
                    call_api(lambda: self.client.get(CustomResourceDefinition, WORKLOAD_CRD))
                except ClusterError as err:
                    if err.code == 404:
                        return None
                    raise
                self.workloads = self.informers.informer(WorkloadRes, namespace=self.namespace)
                self.checks = self.informers.informer(CheckRes)
                self.workloads.add_handler(self._on_workload)
            workloads, checks = self.workloads, self.checks
        for informer in (workloads, checks):
            informer.wait_synced(timeout=30.0)
        if not (workloads.has_synced() and checks.has_synced()):
            raise RuntimeError("Workloads and AdmissionChecks not listed yet")
        return workloads, checks

    @staticmethod
    def fleet_checks(checks: Informer) -> set[str]:
        """The AdmissionChecks this controller answers."""
        return {
            str((c.get("metadata") or {}).get("name", ""))
            for c in checks.list()
            if (c.get("spec") or {}).get("controllerName") == FLEET
        }

    # --- one Job -------------------------------------------------------------------------

    def reconcile(self, key: Key) -> bool:
        """Dispatch, mirror or requeue one Job; whether to look at it again."""
        job = self.jobs.get(*key)
        if job is None or not managed_here(job):
            return False
        annotations = (job.get("metadata") or {}).get("annotations") or {}
        worker = annotations.get(WORKER, "")
        self._remove_stale(job, worker, left_on(annotations))
        if not worker:
            queueing = self._queueing()
            if queueing is None:
                return True  # no queueing here (yet)
            workload = queueing[0].get(key[0], f"job-{key[1]}")
            check = fleet_check(workload, self.fleet_checks(queueing[1]))
            if check is None or workload is None:
                return True  # no quota yet: queueing decides first
            placed, why = self._dispatch(job)
            self._set_check(workload, str(check.get("name")), "Ready" if placed else "Pending", why)
            return True
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
        remote_obj = remote.to_dict()
        status = mirrored(remote_obj)
        if annotations.get(REMOTE_STATUS) != status:
            self._annotate(job, {REMOTE_STATUS: status})
            self._event(job, "Normal", "RemoteStatus", f"on {worker}: {status}")
        self._mirror_status(job, remote_obj)
        done = json.loads(status)["conditions"]
        return not ({"Complete", "Failed"} & set(done))

    def _dispatch(self, job: dict[str, Any]) -> tuple[str, str]:
        """Create the Job on the worker where it fits; (worker or "", why)."""
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
            return "", f"no worker fits: {why}"
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
        why = f"dispatched to {choice.worker}: {choice.reasons[choice.worker]}"
        self._event(job, "Normal", "Dispatched", why)
        log.info(
            "job dispatched", job=f"{namespace}/{body['metadata']['name']}", worker=choice.worker
        )
        return choice.worker, why

    def _set_check(self, workload: dict[str, Any], name: str, state: str, message: str) -> None:
        """The fleet check's verdict on the Workload (queueing admits on Ready). The
        patch names the resourceVersion it read: a Workload queueing rewrote meanwhile
        is looked at again, never overwritten."""
        meta = workload.get("metadata") or {}
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        entries = ((workload.get("status") or {}).get("admissionChecks")) or []
        states = check_states(entries, name, state, message[:1024], now)
        if states is None:
            return
        body = {
            "metadata": {"resourceVersion": meta.get("resourceVersion")},
            "status": {"admissionChecks": states},
        }
        try:
            call_api(
                lambda: self.client.patch(
                    WorkloadRes.Status,  # type: ignore[attr-defined]
                    str(meta.get("name")),
                    body,
                    namespace=str(meta.get("namespace")),
                    patch_type=PatchType.MERGE,
                )
            )
        except ClusterError as err:
            if err.code not in (404, 409):  # 409: changed meanwhile; its event wakes us
                raise

    def _mirror_status(self, job: dict[str, Any], remote: dict[str, Any]) -> None:
        """The remote Job's status as the management Job's, once queueing let it run."""
        if (job.get("spec") or {}).get("suspend"):
            return
        want = mirrored_status(remote)
        have = mirrored_status(job)
        if not want or want == have:
            return
        meta = job.get("metadata") or {}
        try:
            call_api(
                lambda: self.client.patch(
                    Job.Status,
                    str(meta.get("name")),
                    {"status": want},
                    namespace=str(meta.get("namespace")),
                    patch_type=PatchType.MERGE,
                )
            )
        except ClusterError as err:
            log.warning("job status not mirrored", job=meta.get("name"), error=str(err)[:300])

    def _requeue(self, job: dict[str, Any], worker: str, why: str) -> None:
        meta = job.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        count = int(annotations.get(REQUEUES, "0")) + 1
        stale = ",".join(sorted({*left_on(annotations), worker}))
        values = {WORKER: None, REMOTE_STATUS: None, REQUEUES: str(count), LEFT_ON: stale}
        self._annotate(job, values)
        self._event(job, "Warning", "Requeued", f"worker {worker} went away ({why}); placing again")

    def _remove_stale(self, job: dict[str, Any], worker: str, stale: list[str]) -> None:
        """Delete the copies left on workers this Job was requeued from, once they answer;
        the worker it runs on now keeps its copy (the same Job, adopted)."""
        if not stale:
            return
        keep = []
        for name in stale:
            if name == worker:
                continue
            found = self.registrar.destination(name)
            if found.cluster is None or not self._delete_copy(found.cluster.client, job):
                keep.append(name)
        left = ",".join(keep) or None
        if left != ",".join(stale):
            self._annotate(job, {LEFT_ON: left})

    def _delete_copy(self, client: Client, job: dict[str, Any]) -> bool:
        """Delete this Job's copy on a worker; whether it is gone (never another's Job)."""
        meta = job.get("metadata") or {}
        name, namespace = str(meta.get("name")), str(meta.get("namespace"))
        origin = f"{namespace}/{name}/{meta.get('uid')}"
        try:
            copy = call_api(lambda: client.get(Job, name, namespace=namespace))
            if (copy.metadata.annotations or {}).get(ORIGIN) != origin:  # type: ignore[union-attr]
                return True  # not ours: leave it
            call_api(
                lambda: client.delete(
                    Job, name, namespace=namespace, cascade=CascadeType.BACKGROUND
                )
            )
        except ClusterError as err:
            return err.code == 404
        except Exception:
            return False  # a hiccup: try again on the next look
        log.info("stale job copy deleted", job=f"{namespace}/{name}")
        self._event(job, "Normal", "StaleCopyDeleted", "the copy left on a returning worker")
        return True

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
