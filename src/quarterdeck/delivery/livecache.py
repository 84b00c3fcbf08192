"""Live state of the managed kinds, kept current by one LIST and one WATCH per kind.

Reading each Application's objects with their own GETs (and polling them for health)
made reads most of the API calls of a controller pass. Instead, the first time a
kind is needed a daemon thread lists it and then watches it; once that list is in,
reads of the kind are dictionary lookups. Like Argo CD's cluster cache, what it
holds may lag the server by the watch latency: the sync never trusts it for
safety (the dry-run of every object still precedes any change, and an object the
cache has not seen yet is caught by ``stale_absence``), and health waits take a
cached object only when it is at least as new as the one the apply returned.

``managedFields`` are dropped from cached objects: drift and plan do not read them,
and they are often half of an object's size.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from lightkube.types import on_error_raise

from quarterdeck.delivery.cluster import Cluster, UnknownKind
from quarterdeck.delivery.manifests import Key, Obj, group_of

KindRef = tuple[str, str]  # (apiVersion, kind)


def slim(ref: KindRef, obj: Mapping[str, Any]) -> Obj:
    """``obj`` without ``metadata.managedFields``, with its apiVersion and kind (which
    list items lack, and health needs)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "apiVersion": ref[0], "kind": ref[1], "metadata": meta}


def cache_key(ref: KindRef, obj: Mapping[str, Any]) -> Key:
    """The key of a listed or watched object (list items may lack apiVersion and kind)."""
    meta = obj.get("metadata") or {}
    return Key(group_of(ref[0]), ref[1], str(meta.get("namespace") or ""), str(meta["name"]))


def stale_absence(dry_run: Mapping[str, Any]) -> bool:
    """Whether a dry-run apply result shows an object that already existed.

    The API server gives a dry-run of a new object no resourceVersion, and one of an
    existing object its current one: so a planned create whose dry-run has one was
    read from a cache that was behind, and must not be trusted for ownership.
    """
    return bool((dry_run.get("metadata") or {}).get("resourceVersion"))


def generation(obj: Mapping[str, Any] | None) -> int:
    return int((obj or {}).get("metadata", {}).get("generation") or 0)


class LiveCache:
    """Objects of the kinds the controller manages, in ``namespace`` (None: all)."""

    def __init__(self, cluster: Cluster, namespace: str | None = None) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.stop = threading.Event()
        self._objects: dict[KindRef, dict[Key, Obj]] = {}
        self._synced: set[KindRef] = set()
        self._started: set[KindRef] = set()
        self._lock = threading.Lock()

    def lookup(self, api_version: str, key: Key) -> tuple[bool, Obj | None]:
        """(True, object or None if absent) when the kind is cached; (False, None) when
        it is not yet, in which case a watch is started and the caller reads directly."""
        ref = (api_version, key.kind)
        if ref in self._synced:
            if self.namespace is not None and key.namespace not in ("", self.namespace):
                return False, None
            return True, self._objects[ref].get(key)
        self._start(ref)
        return False, None

    def _start(self, ref: KindRef) -> None:
        with self._lock:
            if ref in self._started:
                return
            self._started.add(ref)
        name = f"livecache-{ref[1]}"
        threading.Thread(target=self._run, args=ref, daemon=True, name=name).start()

    def _run(self, api_version: str, kind: str) -> None:
        """List, then watch from the list's resourceVersion; relist after any failure."""
        ref = (api_version, kind)
        try:
            cls = self.cluster.resource(api_version, kind)
            namespaced = self.cluster.kind(api_version, kind).namespaced
        except UnknownKind:
            with self._lock:
                self._started.discard(ref)  # a CRD not installed yet: try on a later read
            return
        namespace = (self.namespace or "*") if namespaced else None
        client = self.cluster.client
        pause = 0.5
        while not self.stop.is_set():
            listed = False
            try:
                listing = client.list(cls, namespace=namespace)
                objects = {cache_key(ref, o): slim(ref, o) for o in (dict(i) for i in listing)}
                version = listing.resourceVersion
                self._objects[ref] = objects
                self._synced.add(ref)
                listed, pause = True, 0.5
                stream = client.watch(
                    cls, namespace=namespace, resource_version=version, on_error=on_error_raise
                )
                for event, item in stream:
                    if self.stop.is_set():
                        return
                    obj = dict(item)
                    if event == "DELETED":
                        objects.pop(cache_key(ref, obj), None)
                    else:
                        objects[cache_key(ref, obj)] = slim(ref, obj)
            except Exception:  # expired resourceVersion, lost connection: list again
                if not listed:  # cannot list (the CRD went away?): read directly meanwhile
                    self._synced.discard(ref)
                self.stop.wait(pause)
                pause = min(pause * 2, 30.0)  # a kind gone with its CRD is not hammered
