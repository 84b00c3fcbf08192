"""The ClusterSet controller: ``rollout.decide`` carried out, one ClusterSet per key.

Watches ClusterSets, ManagedClusters, Applications and Sources (shared informers);
any change wakes the ClusterSets it concerns, and every set is looked at again each
``tick`` while a rollout moves. Stamped Applications are server-side applied as
``quarterdeck-fleet``, labelled with their set and cluster and owned by the set (so
deleting the set deletes them); the delivery controller syncs them like any other.
"""

from __future__ import annotations

import threading
from typing import Any

import msgspec
import structlog
from lightkube import Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.types import PatchType

from quarterdeck.api import delivery as dapi
from quarterdeck.api import fleet as api
from quarterdeck.api.meta import Condition, ConditionStatus, set_condition
from quarterdeck.delivery.cluster import ClusterError, call_api
from quarterdeck.delivery.controller import ApplicationRes, SourceRes, rfc3339
from quarterdeck.fleet import rollout
from quarterdeck.fleet.registrar import FIELD_MANAGER, ManagedClusterRes
from quarterdeck.kube.informer import SharedInformers
from quarterdeck.kube.workqueue import WorkQueue, run_workers

ClusterSetRes = create_namespaced_resource(api.GROUP, api.VERSION, "ClusterSet", "clustersets")
Key = tuple[str, str]
log = structlog.get_logger("quarterdeck.fleet.clusterset")


def _meta(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class ClusterSets:
    """Runs ``rollout.decide`` for every ClusterSet until ``stop`` is set."""

    def __init__(
        self,
        client: Client,
        informers: SharedInformers,
        namespace: str | None = None,
        clock: Any = None,
        tick: float = 2.0,
        workers: int = 4,
    ) -> None:
        import time

        self.client = client
        self.clock = clock or time.time
        self.tick = tick
        self.workers = workers
        self.stop = threading.Event()
        self.queue: WorkQueue[Key] = WorkQueue("fleet-clustersets")
        self.sets = informers.informer(ClusterSetRes, namespace=namespace)
        self.clusters = informers.informer(ManagedClusterRes)
        self.apps = informers.informer(ApplicationRes, namespace=namespace)
        self.sources = informers.informer(SourceRes, namespace=namespace)
        self.sets.add_handler(lambda e, o: self.queue.add(_meta(o)))
        self.clusters.add_handler(lambda e, o: self.wake_all())
        self.apps.add_handler(self._on_app)
        self.sources.add_handler(self._on_source)

    def wake_all(self) -> None:
        for cs in self.sets.list():
            self.queue.add(_meta(cs))

    def _on_app(self, event: str, obj: dict[str, Any]) -> None:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if owner := labels.get(rollout.SET_LABEL):
            self.queue.add((_meta(obj)[0], owner))

    def _on_source(self, event: str, obj: dict[str, Any]) -> None:
        namespace, name = _meta(obj)
        for cs in self.sets.list():
            ref = (cs.get("spec") or {}).get("sourceRef") or {}
            ns = _meta(cs)[0]
            if (ref.get("namespace") or ns, ref.get("name")) == (namespace, name):
                self.queue.add((ns, _meta(cs)[1]))

    def run(self) -> None:
        self.wake_all()
        threading.Thread(target=self._shutdown_on_stop, daemon=True).start()
        run_workers(self.queue, self.handle, self.workers, self.stop)

    def _shutdown_on_stop(self) -> None:
        self.stop.wait()
        self.queue.shutdown()

    def handle(self, key: Key) -> None:
        again = self.reconcile(key)
        if again and not self.stop.is_set():
            self.queue.add_after(key, self.tick)

    # --- one ClusterSet ------------------------------------------------------------------

    def reconcile(self, key: Key) -> bool:
        """Decide and act for one set; whether to look again soon (a rollout moves)."""
        namespace, name = key
        raw = self.sets.get(namespace, name)
        if raw is None:
            return False
        try:
            cs = api.decode_cluster_set(raw)
        except msgspec.ValidationError as err:
            log.warning(
                "ClusterSet not understood", cluster_set=f"{namespace}/{name}", error=str(err)
            )
            return False
        if cs.spec.suspend:
            return False
        members = [
            rollout.Member(
                str((c.get("metadata") or {}).get("name", "")),
                (c.get("metadata") or {}).get("labels") or {},
            )
            for c in self.clusters.list()
        ]
        ref = cs.spec.source_ref
        src_raw = self.sources.get(ref.namespace or namespace, ref.name)
        revision = ""
        if src_raw is not None:
            src = dapi.decode_source(src_raw)
            if src.status is not None and src.status.artifact is not None:
                revision = src.status.artifact.revision
        apps: dict[str, dapi.Application] = {}
        for a in self.apps.list(namespace):
            labels = (a.get("metadata") or {}).get("labels") or {}
            if labels.get(rollout.SET_LABEL) == name and labels.get(rollout.CLUSTER_LABEL):
                apps[labels[rollout.CLUSTER_LABEL]] = dapi.decode_application(a)
        decision = rollout.decide(cs, members, revision, apps)
        for stamp in decision.stamps:
            self._apply(cs, stamp)
        for app_name in decision.delete:
            self._delete(namespace, app_name)
        self._write_status(cs, decision, revision)
        return decision.reason == "Progressing" or bool(decision.stamps)

    def _delete(self, namespace: str, name: str) -> None:
        try:
            call_api(lambda: self.client.delete(ApplicationRes, name, namespace=namespace))
        except ClusterError as err:
            if err.code != 404:
                raise

    def _apply(self, cs: api.ClusterSet, stamp: rollout.Stamp) -> None:
        meta = cs.metadata
        body = {
            "apiVersion": dapi.API_VERSION,
            "kind": "Application",
            "metadata": {
                "name": stamp.name,
                "namespace": meta.namespace,
                "labels": {rollout.SET_LABEL: meta.name, rollout.CLUSTER_LABEL: stamp.cluster},
                "annotations": {rollout.HASH_ANNOTATION: stamp.template_hash},
                "ownerReferences": [
                    {
                        "apiVersion": api.API_VERSION,
                        "kind": "ClusterSet",
                        "name": meta.name,
                        "uid": meta.uid,
                        "controller": True,
                        "blockOwnerDeletion": False,
                    }
                ],
            },
            "spec": msgspec.to_builtins(stamp.spec),
        }
        call_api(
            lambda: self.client.patch(
                ApplicationRes,
                stamp.name,
                body,
                namespace=meta.namespace,
                patch_type=PatchType.APPLY,
                field_manager=FIELD_MANAGER,
                force=True,
            )
        )
        log.info(
            "application stamped",
            cluster_set=f"{meta.namespace}/{meta.name}",
            cluster=stamp.cluster,
            revision=stamp.spec.revision[:12],
        )

    def _write_status(self, cs: api.ClusterSet, d: rollout.Decision, revision: str) -> None:
        old = cs.status or api.ClusterSetStatus()
        now = rfc3339(self.clock())
        gen = cs.metadata.generation

        def cond(type_: str, status: ConditionStatus, message: str) -> Condition:
            return Condition(
                type=type_,
                status=status,
                reason=d.reason,
                message=message[:1024],
                observed_generation=gen,
                last_transition_time=now,
            )

        conds = set_condition(list(old.conditions), cond("Ready", d.ready, d.message))
        conds = set_condition(
            conds, cond("Stalled", "True" if d.stalled else "False", d.message if d.stalled else "")
        )
        status = api.ClusterSetStatus(
            conditions=conds,
            observed_generation=gen,
            revision=revision,
            selected=len(d.clusters),
            healthy=sum(1 for c in d.clusters if c.state == "Healthy"),
            current_wave=d.current_wave,
            clusters=d.clusters,
        )
        if status == cs.status:
            return
        body: dict[str, Any] = msgspec.to_builtins(status)
        for f in msgspec.structs.fields(status):
            body.setdefault(f.encode_name, msgspec.to_builtins(getattr(status, f.name)))
        try:
            call_api(
                lambda: self.client.patch(
                    ClusterSetRes.Status,
                    cs.metadata.name,
                    {"status": body},
                    namespace=cs.metadata.namespace,
                    patch_type=PatchType.MERGE,
                )
            )
        except ClusterError as err:
            if err.code != 404:
                raise
