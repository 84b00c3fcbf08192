"""A small list+watch cache of one resource kind, as plain dicts, for the queueing shell.

Stand-in with the shape of `quarterdeck.kube.informer.Informer` (`list`, `get`,
`add_handler`, `has_synced`) until the shared informer is on main, plus what the
controller needs on top: `assume(obj)` puts the answer of our own write in at once
(a pass must not decide again on the state its last write replaced, while the watch
event is still on its way), and one optional index (e.g. pods by Job name).

`fill()` lists once (what a one-shot `qd queue reconcile --once` uses); `run()` lists
and then watches from the list's resourceVersion with bookmarks, relisting on 410
Gone and after any broken watch. Objects are decoded with msgspec, never through
lightkube's typed models.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterable
from typing import Any

import httpx2
import msgspec
from lightkube import ApiError, Client

Obj = dict[str, Any]
Key = tuple[str, str]
Handler = Callable[[str, Obj], None]
IndexFunction = Callable[[Obj], Iterable[str]]

_list_decoder = msgspec.json.Decoder(dict[str, Any])


def key_of(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


def _rv(obj: Obj) -> int:
    value = (obj.get("metadata") or {}).get("resourceVersion") or "0"
    return int(value) if str(value).isdigit() else 0


class WatchStore:
    """Every object of one kind (cluster-wide), kept current by a watch."""

    def __init__(self, client: Client, resource: Any, index: IndexFunction | None = None) -> None:
        self.client = client
        self.resource = resource
        self.kind = str(resource._api_info.resource.kind)
        self._objects: dict[Key, Obj] = {}
        self._index_fn = index
        self._index: dict[str, set[Key]] = {}
        self._handlers: list[Handler] = []
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self.resource_version = ""

    # -- reading ---------------------------------------------------------------------------
    def list(self) -> list[Obj]:
        with self._lock:
            return list(self._objects.values())

    def get(self, namespace: str, name: str) -> Obj | None:
        with self._lock:
            return self._objects.get((namespace, name))

    def by_index(self, value: str) -> builtins.list[Obj]:
        with self._lock:
            return [self._objects[k] for k in self._index.get(value, ()) if k in self._objects]

    def has_synced(self) -> bool:
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    # -- writing ---------------------------------------------------------------------------
    def assume(self, obj: Obj) -> None:
        """Our own write's answer, unless the watch already brought something newer."""
        key = key_of(obj)
        with self._lock:
            old = self._objects.get(key)
            if old is not None and _rv(old) > _rv(obj):
                return
            self._put(key, obj)

    def forget(self, namespace: str, name: str) -> None:
        """The object is gone (a write answered 404)."""
        with self._lock:
            self._drop((namespace, name))

    def _put(self, key: Key, obj: Obj) -> None:
        self._drop(key)
        self._objects[key] = obj
        if self._index_fn is not None:
            for value in self._index_fn(obj):
                self._index.setdefault(value, set()).add(key)

    def _drop(self, key: Key) -> None:
        old = self._objects.pop(key, None)
        if old is not None and self._index_fn is not None:
            for value in self._index_fn(old):
                keys = self._index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._index[value]

    def _emit(self, event: str, obj: Obj) -> None:
        for handler in self._handlers:
            handler(event, obj)

    # -- list and watch --------------------------------------------------------------------
    def _url(self) -> str:
        namespace = "*" if _is_namespaced(self.resource) else None
        br = self.client._client.prepare_request(  # until kube.informer is on main
            "list", res=self.resource, namespace=namespace
        )
        return str(br.url)

    def _http(self) -> httpx2.Client:
        return self.client._client._client  # type: ignore[no-any-return]

    def fill(self) -> None:
        """List every object once (replacing what is cached), emitting what changed."""
        resp = self._http().get(self._url())
        if resp.status_code >= 400:
            raise ApiError(request=resp.request, response=resp)
        data = _list_decoder.decode(resp.content)
        fresh = {key_of(o): o for o in data.get("items") or []}
        self.resource_version = str((data.get("metadata") or {}).get("resourceVersion") or "")
        changed: builtins.list[tuple[str, Obj]] = []
        with self._lock:
            for key in [k for k in self._objects if k not in fresh]:
                changed.append(("DELETED", self._objects[key]))
                self._drop(key)
            for key, obj in fresh.items():
                old = self._objects.get(key)
                if old is None or _rv(old) != _rv(obj):
                    changed.append(("ADDED" if old is None else "MODIFIED", obj))
                    self._put(key, obj)
        self._synced.set()
        for event, obj in changed:
            self._emit(event, obj)

    def run(self, stop: threading.Event, log: Callable[[str], None] = print) -> None:
        """List, then watch until `stop`; a broken watch relists after a short pause."""
        while not stop.is_set():
            try:
                self.fill()
                self._watch(stop)
            except (ApiError, httpx2.HTTPError, OSError, ValueError, msgspec.DecodeError) as err:
                if stop.is_set():
                    return
                log(f"warning: watch of {self.kind} broke, relisting: {err}")
                stop.wait(1.0)

    def _watch(self, stop: threading.Event) -> None:
        while not stop.is_set():
            params = {
                "watch": "true",
                "resourceVersion": self.resource_version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "60",
            }
            timeout = httpx2.Timeout(10.0, read=90.0)
            with self._http().stream("GET", self._url(), params=params, timeout=timeout) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise ApiError(request=resp.request, response=resp)
                for line in resp.iter_lines():
                    if stop.is_set():
                        return
                    if not line:
                        continue
                    if not self._apply(_list_decoder.decode(line)):
                        return  # 410 Gone: the caller relists

    def _apply(self, event: Obj) -> bool:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            return False
        rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        if rv:
            self.resource_version = rv
        if kind == "BOOKMARK":
            return True
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            raise ValueError(f"unexpected watch event {kind!r} for {self.kind}")
        key = key_of(obj)
        with self._lock:
            if kind == "DELETED":
                self._drop(key)
            else:
                self._put(key, obj)
        self._emit(str(kind), obj)
        return True


def _is_namespaced(resource: Any) -> bool:
    from lightkube.core.resource import NamespacedResource

    return isinstance(resource, type) and issubclass(resource, NamespacedResource)


class Writer:
    """Creates and merge-patches as plain JSON (answers decoded with msgspec); errors are
    lightkube's `ApiError`, so callers read `err.status.code` as everywhere else."""

    def __init__(self, client: Client, field_manager: str) -> None:
        self.client = client
        self.field_manager = field_manager
        self.calls = 0

    def _send(self, method: str, url: str, body: Any, content_type: str) -> Obj:
        http: httpx2.Client = self.client._client._client
        self.calls += 1
        resp = http.request(
            method,
            url,
            content=msgspec.json.encode(body),
            params={"fieldManager": self.field_manager},
            headers={"Content-Type": content_type},
        )
        if resp.status_code >= 400:
            raise ApiError(request=resp.request, response=resp)
        return _list_decoder.decode(resp.content)

    def create(self, resource: Any, namespace: str, body: Obj) -> Obj:
        br = self.client._client.prepare_request("list", res=resource, namespace=namespace)
        return self._send("POST", str(br.url), body, "application/json")

    def patch(
        self, resource: Any, namespace: str | None, name: str, body: Obj, status: bool = False
    ) -> Obj:
        br = self.client._client.prepare_request(
            "get", res=resource, name=name, namespace=namespace
        )
        url = str(br.url) + ("/status" if status else "")
        return self._send("PATCH", url, body, "application/merge-patch+json")
