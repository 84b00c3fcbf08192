"""One kind as the queueing controller reads it: the shared informer's objects, plus
the answers of our own writes, plus one index.

The objects come from `quarterdeck.kube.informer` (one list+watch per kind for the
whole process): `attach(informer)` mirrors its events. `assume(obj)` puts the answer of
our own write in at once: a pass must not decide again on the state its last write
replaced while the watch event is still on its way (the newer resourceVersion wins
either way). The optional index (e.g. pods by Job name) is kept on every event, so a
pass reads a Job's pods without looking at all pods. `fill()` lists once instead (a
one-shot `qd queue reconcile --once`). Objects are plain dicts shared with the
informer: never mutated here. With `track_changes`, the cache also remembers which keys
changed since its reader last asked (`drain_changed`), so the view decodes only those.

`Writer` creates and merge-patches as plain JSON, answers decoded with msgspec.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterable
from typing import Any

import httpx2
import msgspec
from lightkube import ApiError, Client

from quarterdeck.kube.informer import Informer, slim
from quarterdeck.kube.watchstream import Target, list_all

Obj = dict[str, Any]
Key = tuple[str, str]
IndexFunction = Callable[[Obj], Iterable[str]]
Handler = Callable[[str, Obj], None]

_decoder = msgspec.json.Decoder(dict[str, Any])


def key_of(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


def _rv(obj: Obj) -> int:
    value = (obj.get("metadata") or {}).get("resourceVersion") or "0"
    return int(value) if str(value).isdigit() else 0


class Cache:
    """Every object of one kind (cluster-wide), fed by an informer or by one list."""

    def __init__(
        self, resource: Any, index: IndexFunction | None = None, track_changes: bool = False
    ) -> None:
        self.resource = resource
        self.target = Target(resource, None)
        self.kind = self.target.kind
        self._objects: dict[Key, Obj] = {}
        self._index_fn = index
        self._index: dict[str, set[Key]] = {}
        self._handlers: list[Handler] = []
        self._lock = threading.Lock()
        self._informer: Informer | None = None
        self._filled = False
        # with `track_changes`: keys put or dropped since the last `drain_changed`, in the
        # order of the change (a dict: a key changed twice moves to the end, as in `_objects`)
        self._changed: dict[Key, None] | None = {} if track_changes else None

    # -- reading ---------------------------------------------------------------------------
    def list(self) -> builtins.list[Obj]:
        with self._lock:
            return list(self._objects.values())

    def get(self, namespace: str, name: str) -> Obj | None:
        with self._lock:
            return self._objects.get((namespace, name))

    def by_index(self, value: str) -> builtins.list[Obj]:
        with self._lock:
            return [self._objects[k] for k in self._index.get(value, ()) if k in self._objects]

    def drain_changed(self) -> builtins.list[Key]:
        """Keys put or dropped since the last call, oldest change first: one reader
        (the view's decoder) re-reads only these instead of every object per pass."""
        with self._lock:
            if self._changed is None:
                raise RuntimeError(f"{self.kind} cache does not track changes")
            changed, self._changed = builtins.list(self._changed), {}
        return changed

    def has_synced(self) -> bool:
        return self._filled or (self._informer is not None and self._informer.has_synced())

    def add_handler(self, handler: Handler) -> None:
        """Called after the cache applied each event (never for our own `assume`)."""
        self._handlers.append(handler)

    # -- feeding ---------------------------------------------------------------------------
    def attach(self, informer: Informer) -> None:
        """Mirror `informer` from now on (its cached objects are replayed as ADDED)."""
        self._informer = informer
        informer.add_handler(self._on_event)

    def detach(self) -> None:
        """Stop mirroring the informer (a loop that stops while the process's informers,
        shared with other controllers, go on)."""
        if self._informer is not None:
            self._informer.remove_handler(self._on_event)
            self._informer = None

    def fill(self, client: Client) -> None:
        """List every object once (a view without watches)."""
        items, _ = list_all(client, self.target)
        api_version = self.target.api_version
        with self._lock:
            for obj in items:
                self._put(key_of(obj), slim(obj, api_version, self.kind))
        self._filled = True

    def _on_event(self, event: str, obj: Obj) -> None:
        key = key_of(obj)
        with self._lock:
            if event == "DELETED":
                self._drop(key)
            else:
                old = self._objects.get(key)
                if old is None or _rv(obj) >= _rv(old):
                    self._put(key, obj)
        for handler in self._handlers:
            handler(event, obj)

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
        if self._changed is not None:
            self._changed[key] = None
        if self._index_fn is not None:
            for value in self._index_fn(obj):
                self._index.setdefault(value, set()).add(key)

    def _drop(self, key: Key) -> None:
        old = self._objects.pop(key, None)
        if self._changed is not None:  # re-marked last, so the order follows `_objects`
            self._changed.pop(key, None)
            self._changed[key] = None
        if old is not None and self._index_fn is not None:
            for value in self._index_fn(old):
                keys = self._index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._index[value]


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
        return _decoder.decode(resp.content)

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
