"""The delivery operator loop on the runtime: keys on a work queue, woken by watches.

Sources and Applications are keys (``kind``, namespace, name) of one
:class:`~quarterdeck.kube.workqueue.WorkQueue`; informers on both kinds wake the key
of whatever changed, a Source's change wakes the Applications that use it, an
Application's change wakes those that depend on it (``DependencyIndex``, which also
finds dependsOn cycles once per change of the graph), and an edit of an applied
object (seen by ``SelfHeal``) wakes its owner for a self-heal. After each reconcile
a key is put back for its next due time (its interval, or its retry backoff), so
nothing lists the cluster per pass and an idle Application costs nothing.

A key is never handled by two workers at once. An exception in a reconcile is
logged and its key retried with the queue's per-key backoff; it never leaves the
queue and never stops the process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any, Protocol

from quarterdeck.api import delivery as api
from quarterdeck.api.duration import parse_duration
from quarterdeck.delivery.controller import (
    ApplicationRes,
    Controller,
    SourceRes,
    describe,
    get_application,
)
from quarterdeck.delivery.dependencies import DependencyIndex
from quarterdeck.delivery.inventory import Owner
from quarterdeck.delivery.metrics import RECONCILE_SECONDS
from quarterdeck.delivery.selfheal import SelfHeal, repair
from quarterdeck.kube.informer import SharedInformers
from quarterdeck.kube.workqueue import WorkQueue, run_workers

Key = tuple[str, str, str]  # ("Source" | "Application", namespace, name)
SOURCE, APPLICATION = "Source", "Application"


class Store(Protocol):
    """What the loop reads objects from: an informer's cache."""

    def list(self) -> list[dict[str, Any]]: ...

    def get(self, namespace: str, name: str) -> dict[str, Any] | None: ...


def _meta(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def uses_source(app: dict[str, Any], source: Owner) -> bool:
    """Whether the Application object ``app`` takes its revision from ``source``."""
    namespace, _ = _meta(app)
    ref = (app.get("spec") or {}).get("sourceRef") or {}
    return Owner(ref.get("namespace") or namespace, str(ref.get("name", ""))) == source


def is_ready(raw: dict[str, Any] | None) -> bool:
    conds = ((raw or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


class Runner:
    """Runs a Controller on a work queue until ``stop`` is set."""

    def __init__(
        self,
        controller: Controller,
        tick: float = 1.0,
        workers: int = 16,
        informers: SharedInformers | None = None,
    ) -> None:
        self.controller = controller
        self.tick = tick  # every key is looked at again at least this often
        self.workers = workers
        self.stop = threading.Event()
        self.queue: WorkQueue[Key] = WorkQueue("delivery")
        self._own_informers = informers is None
        self.informers = informers or SharedInformers(controller.client)
        self._lock = threading.Lock()
        self.dependencies = DependencyIndex()  # kept by _on_application, under _lock
        namespace = controller.namespace
        self.sources = self.informers.informer(SourceRes, namespace=namespace)
        self.apps = self.informers.informer(ApplicationRes, namespace=namespace)
        self.sources.add_handler(self._on_source)
        self.apps.add_handler(self._on_application)
        self.selfheal = SelfHeal(controller.cluster, self._on_edit)
        controller.on_synced = lambda owner, objs: self.selfheal.watch(objs)
        self._heal: set[Owner] = set()
        self.healed: list[tuple[Owner, float]] = []  # (owner, monotonic time) for benchmarks
        self.passes = 0  # keys handled and self-heals attempted, for tests
        self.heal_attempts = 0

    # --- wake-ups ------------------------------------------------------------------------

    def _on_source(self, event: str, obj: dict[str, Any]) -> None:
        namespace, name = _meta(obj)
        self.queue.add((SOURCE, namespace, name))
        source = Owner(namespace, name)
        for app in self.apps.list():  # a new revision, or the Source back after an outage
            if uses_source(app, source):
                self.queue.add((APPLICATION, *_meta(app)))

    def _on_application(self, event: str, obj: dict[str, Any]) -> None:
        namespace, name = _meta(obj)
        owner = Owner(namespace, name)
        with self._lock:
            if event == "DELETED":
                self.dependencies.remove(owner)
            else:
                self.dependencies.set(owner, _deps(obj))
            dependents = self.dependencies.dependents(owner)
        self.queue.add((APPLICATION, namespace, name))
        for dependent in dependents:  # they wait for this one to be Ready
            self.queue.add((APPLICATION, dependent.namespace, dependent.name))

    def _on_edit(self, owner: Owner) -> None:
        with self._lock:
            self._heal.add(owner)
        self.queue.add((APPLICATION, owner.namespace, owner.name))

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> None:
        """Start the informers and workers; return once ``stop`` is set and work in hand
        is finished."""
        if self._own_informers:
            self.informers.start()
        try:
            self.informers.wait_synced(timeout=60.0)
        except Exception as err:  # keep going: keys come in as the informers sync
            self.controller.log(f"informers not synced: {describe(err)}")
        for src in self.sources.list():
            self.queue.add((SOURCE, *_meta(src)))
        for app in self.apps.list():
            self.queue.add((APPLICATION, *_meta(app)))
        stopper = threading.Thread(target=self._shutdown_on_stop, daemon=True)
        stopper.start()
        try:
            run_workers(self.queue, self.handle, self.workers, self.stop)
        finally:
            self.selfheal.stop.set()
            self.controller.cache.stop.set()
            if self._own_informers:
                self.informers.stop()
            else:  # shared caches outlive this leadership: stop being woken by them
                self.sources.remove_handler(self._on_source)
                self.apps.remove_handler(self._on_application)

    def _shutdown_on_stop(self) -> None:
        self.stop.wait()
        self.queue.shutdown()

    def handle(self, key: Key) -> None:
        """Reconcile one key and put it back for its next due time. Raises on errors
        (the queue retries the key with backoff)."""
        self.passes += 1
        kind, namespace, name = key
        owner = Owner(namespace, name)
        if kind == SOURCE:
            with RECONCILE_SECONDS.labels("source").time():
                wake = self.reconcile_source(owner)
        else:
            with self._lock:
                heal = owner in self._heal
                self._heal.discard(owner)
            if heal:
                with RECONCILE_SECONDS.labels("selfheal").time():
                    self._heal_guarded(owner)
            with RECONCILE_SECONDS.labels("application").time():
                wake = self.reconcile_application(owner)
        if wake is not None and not self.stop.is_set():
            self.queue.add_after(key, min(max(wake, 0.0), self.tick))

    def reconcile_source(self, owner: Owner) -> float | None:
        """Fetch the Source when due; seconds until it is due again (None: it is gone)."""
        raw = self.sources.get(owner.namespace, owner.name)
        ctl = self.controller
        if raw is None:
            ctl.forget_source(owner)
            return None
        src = ctl.reconcile_source(raw)
        return ctl.source_wake(owner, src)

    def reconcile_application(self, owner: Owner) -> float | None:
        """Sync the Application when due; seconds until it is due again (None: gone)."""
        raw = self.apps.get(owner.namespace, owner.name)
        ctl = self.controller
        if raw is None:
            ctl.apps.pop(owner, None)
            return None
        app = api.decode_application(raw)
        deps = [Owner(d.namespace or owner.namespace, d.name) for d in app.spec.depends_on]
        graph = {owner: deps}
        if deps:  # only an Application with dependencies can be part of a cycle
            with self._lock:
                cycle = self.dependencies.cycles().get(owner)
            if cycle is not None:
                path = " -> ".join(o.name for o in cycle)
                ctl.block(app, "DependencyCycle", f"dependsOn cycle: {path}", stalled=True)
                return None
        ready = [d for d in deps if is_ready(self.apps.get(d.namespace, d.name))]
        ref = app.spec.source_ref
        src_owner = Owner(ref.namespace or owner.namespace, ref.name)
        src_raw = self.sources.get(src_owner.namespace, src_owner.name)
        sources = {src_owner: api.decode_source(src_raw)} if src_raw is not None else {}
        memory = ctl.apps.get(owner)
        seen = str((raw.get("metadata") or {}).get("resourceVersion", ""))
        behind = memory is not None and memory.written not in ("", seen)
        # the cache may not hold our last status write yet: a sync then reads afresh
        fresh = (lambda o: get_application(ctl.client, o)) if behind else None
        ctl.reconcile_application(app, sources, graph, ready, fresh=fresh)
        memory = ctl.apps.get(owner)
        return memory.wake if memory is not None else parse_duration(app.spec.interval)

    # --- self-heal -----------------------------------------------------------------------

    def _heal_guarded(self, owner: Owner) -> None:
        """``heal``, reporting instead of raising: the Application may be gone, its
        namespace terminating, the API server paused; its next reconcile sees to it."""
        self.heal_attempts += 1
        try:
            self.heal(owner)
        except Exception as err:
            self.controller.log(f"self-heal {owner} failed: {describe(err)}")

    def heal(self, owner: Owner) -> None:
        """Re-apply the last rendered set of ``owner`` if it asks for self-heal
        (``selfheal.repair``: as its ServiceAccount, with an Event)."""
        if repair(self.controller, owner):
            self.healed.append((owner, time.monotonic()))  # after its status is written


def _deps(raw: dict[str, Any]) -> list[Owner]:
    namespace, _ = _meta(raw)
    deps: Iterable[dict[str, Any]] = (raw.get("spec") or {}).get("dependsOn") or []
    return [Owner(d.get("namespace") or namespace, str(d.get("name", ""))) for d in deps]
