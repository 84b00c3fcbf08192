"""Shared informers: one LIST+WATCH per (resource, namespace) for the whole process.

Every controller reads the cluster from here instead of listing it: the informer lists
once (paginated), then watches from the list's resourceVersion with bookmarks, so it
costs one long-lived request per kind however many controllers and passes read it.

- A dropped connection or a watch the server ended resumes from the last
  resourceVersion seen (an event's or a bookmark's): nothing is listed again.
- 410 Gone (the server no longer keeps that version) lists again; the new list is
  compared with the cache and handlers get the ADDED / MODIFIED / DELETED that were
  missed, as client-go's Replace does, so a controller converges without a resync.
- Objects are plain dicts decoded by msgspec (``watchstream``), without
  ``metadata.managedFields`` (half of a typical object, never read by a controller).
  They are shared, not copied: callers must not mutate them.
- Handlers run in the watch thread, in event order; a handler that raises is logged
  and does not stop the watch (handlers should only enqueue keys).
"""

from __future__ import annotations

import gc
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from lightkube import Client
from lightkube.core import resource as lkr
from prometheus_client import Counter, Gauge

from quarterdeck.kube.supervisor import Supervisor
from quarterdeck.kube.watchstream import Expired, Target, WatchStream, list_all

log = structlog.get_logger("quarterdeck.informer")

Handler = Callable[[str, dict[str, Any]], None]
ObjKey = tuple[str, str]  # (namespace or "", name)

OBJECTS = Gauge("quarterdeck_informer_objects", "Objects in an informer's cache", ["resource"])
EVENTS = Counter("quarterdeck_informer_events_total", "Watch events applied", ["resource", "type"])
RELISTS = Counter(
    "quarterdeck_informer_lists_total", "Full lists (first, or after 410)", ["resource"]
)
RECONNECTS = Counter(
    "quarterdeck_informer_watch_restarts_total", "Watches resumed after they ended", ["resource"]
)


def resource_namespaced(resource: Any) -> bool:
    return issubclass(resource, lkr.NamespacedResource)


def key_of(obj: Mapping[str, Any]) -> ObjKey:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def version_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def slim(obj: dict[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    """``obj`` without managedFields, with apiVersion and kind (list items lack them)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        meta.pop("managedFields")
    obj["apiVersion"] = api_version
    obj["kind"] = kind
    return obj


def replace_events(
    old: Mapping[ObjKey, Mapping[str, Any]], new: Mapping[ObjKey, Mapping[str, Any]]
) -> list[tuple[str, Mapping[str, Any]]]:
    """What a relist changed: ADDED/MODIFIED for new or changed objects, DELETED (with the
    last known state) for those gone; unchanged objects are not reported."""
    changes: list[tuple[str, Mapping[str, Any]]] = []
    for key, obj in new.items():
        before = old.get(key)
        if before is None:
            changes.append(("ADDED", obj))
        elif version_of(before) != version_of(obj):
            changes.append(("MODIFIED", obj))
    changes += [("DELETED", obj) for key, obj in old.items() if key not in new]
    return changes


class Informer:
    """The cache of one (resource, namespace), kept by :meth:`run` in a thread."""

    def __init__(
        self,
        client: Client,
        resource: Any,
        namespace: str | None = None,
        watch_timeout: tuple[int, int] = (300, 600),
        field_selector: str | None = None,
    ) -> None:
        self.client = client
        ns = namespace if resource_namespaced(resource) else None
        self.target = Target(resource, ns, field_selector)
        self.watch_timeout = watch_timeout  # seconds, drawn per watch as client-go does
        self.resource_version = ""
        self.lists = 0  # full lists: the first, and one after each 410 Gone
        self.watches = 0  # watch requests started
        self.bookmarks = 0
        self._objects: dict[ObjKey, dict[str, Any]] = {}
        self._handlers: list[Handler] = []
        self._lock = threading.RLock()
        self._synced = threading.Event()
        self._stream: WatchStream | None = None
        self._label = str(self.target)

    # --- reading ------------------------------------------------------------------------

    def list(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every cached object (of ``namespace`` only, if given)."""
        with self._lock:
            objects = list(self._objects.values())
        if namespace is None:
            return objects
        return [o for o in objects if key_of(o)[0] == namespace]

    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._objects.get((namespace or "", name))

    def has_synced(self) -> bool:
        """Whether the first list is in (reads before that see an empty cache)."""
        return self._synced.is_set()

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    def add_handler(self, handler: Handler) -> None:
        """Call ``handler(event_type, obj)`` on every change; objects already cached are
        replayed to it as ADDED first, so a late handler misses nothing."""
        with self._lock:
            self._handlers.append(handler)
            existing = list(self._objects.values())
        for obj in existing:
            self._call(handler, "ADDED", obj)

    def remove_handler(self, handler: Handler) -> None:
        """Stop calling ``handler`` (a controller that stops leading leaves the cache)."""
        with self._lock:
            if handler in self._handlers:
                self._handlers.remove(handler)

    # --- keeping it current -------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """List, then watch and resume, until ``stop``; lists again only after 410."""
        pause = 0.2
        need_list = not self.resource_version
        while not stop.is_set():
            try:
                if need_list:
                    self._relist()
                    need_list = False
                self._watch(stop)
                pause = 0.2
            except Expired as err:
                log.info(
                    "resourceVersion expired; listing again",
                    resource=self._label,
                    resource_version=self.resource_version,
                    reason=str(err),
                )
                need_list = True
                continue
            except Exception as err:
                if stop.is_set():
                    return
                log.warning(
                    "watch failed; resuming",
                    resource=self._label,
                    error=f"{type(err).__name__}: {err}",
                    retry_in=round(pause, 2),
                )
                stop.wait(pause)
                pause = min(pause * 2, 30.0)
            if not stop.is_set():
                RECONNECTS.labels(self._label).inc()

    def interrupt(self) -> None:
        """Close the live watch connection (to stop promptly, or to test a resume)."""
        stream = self._stream
        if stream is not None:
            stream.close()

    def _relist(self) -> None:
        items, version = list_all(self.client, self.target)
        api_version, kind = self.target.api_version, self.target.kind
        fresh = {key_of(o): slim(o, api_version, kind) for o in items}
        with self._lock:
            changes = replace_events(self._objects, fresh)
            self._objects = fresh
            self.resource_version = version
            self.lists += 1
            handlers = list(self._handlers)
        RELISTS.labels(self._label).inc()
        OBJECTS.labels(self._label).set(len(fresh))
        self._synced.set()
        for event_type, obj in changes:
            for handler in handlers:
                self._call(handler, event_type, dict(obj))

    def _watch(self, stop: threading.Event) -> None:
        timeout = random.randint(*self.watch_timeout)
        stream = WatchStream(self.client, self.target, self.resource_version, timeout)
        self._stream = stream
        self.watches += 1
        if stop.is_set():  # stopped before the stream could be interrupted
            return
        api_version, kind = self.target.api_version, self.target.kind
        try:
            for event in stream.events():
                if stop.is_set():
                    return
                obj = event.object
                if event.type == "BOOKMARK":
                    # counted before the version moves: whoever sees the new version
                    # (a test waiting on it) also sees the bookmark that brought it
                    self.bookmarks += 1
                    self.resource_version = version_of(obj) or self.resource_version
                    continue
                obj = slim(obj, api_version, kind)
                self._apply(event.type, obj)
        finally:
            self._stream = None

    def _apply(self, event_type: str, obj: dict[str, Any]) -> None:
        key = key_of(obj)
        with self._lock:
            if event_type == "DELETED":
                self._objects.pop(key, None)
            else:
                self._objects[key] = obj
            self.resource_version = version_of(obj) or self.resource_version
            handlers = list(self._handlers)
            size = len(self._objects)
        EVENTS.labels(self._label, event_type).inc()
        OBJECTS.labels(self._label).set(size)
        for handler in handlers:
            self._call(handler, event_type, obj)

    def _call(self, handler: Handler, event_type: str, obj: dict[str, Any]) -> None:
        try:
            handler(event_type, obj)
        except Exception as err:
            log.error(
                "informer handler failed",
                resource=self._label,
                watch_event=event_type,
                object="/".join(key_of(obj)),
                error=f"{type(err).__name__}: {err}",
                exc_info=True,
            )


class SharedInformers:
    """The process's informers: one per (resource, namespace), shared by all controllers."""

    def __init__(self, client: Client, stop: threading.Event | None = None) -> None:
        self.client = client
        self.stop_event = stop or threading.Event()
        self.supervisor = Supervisor(self.stop_event)
        self._informers: dict[tuple[Any, str | None], Informer] = {}
        self._started = False
        self._lock = threading.Lock()

    def informer(self, resource: Any, namespace: str | None = None) -> Informer:
        """The informer of ``resource`` in ``namespace`` (None: all), made on first ask;
        one asked for after ``start()`` starts at once."""
        ns = namespace if resource_namespaced(resource) else None
        with self._lock:
            found = self._informers.get((resource, ns))
            if found is not None:
                return found
            informer = self._informers[(resource, ns)] = Informer(self.client, resource, ns)
            started = self._started
        if started:
            self._spawn(informer)
        return informer

    def start(self) -> None:
        with self._lock:
            self._started = True
            informers = list(self._informers.values())
        for informer in informers:
            self._spawn(informer)

    def _spawn(self, informer: Informer) -> None:
        self.supervisor.spawn(f"informer {informer.target}", lambda: informer.run(self.stop_event))

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        with self._lock:
            informers = list(self._informers.values())
        for informer in informers:
            informer.interrupt()
        self.supervisor.join(timeout)

    def has_synced(self) -> bool:
        with self._lock:
            informers = list(self._informers.values())
        return all(i.has_synced() for i in informers)

    def wait_synced(self, timeout: float | None = None) -> bool:
        """Whether every informer made so far has its first list in, within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            informers = list(self._informers.values())
        for informer in informers:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not informer.wait_synced(left):
                return False
        return True


def freeze_filled_caches() -> None:
    """Take what the process holds now (filled caches) out of the collector's full passes.

    The cached objects live as long as the process, and without this every full collection
    walks all of them: with 1,000 Applications and 5,000 Workloads cached, a full pass took
    about 110 ms and landed in every few dashboard views (their p95). Cached objects are
    plain JSON (no cycles), so reference counting still frees a replaced one. Called by
    the long-running processes (operator, dashboard) once their caches are filled; a later
    call freezes only what arrived since.
    """
    gc.collect()
    gc.freeze()
