"""Paginated LIST and streaming WATCH as raw bytes, decoded with msgspec into plain dicts.

lightkube's ``Client.list``/``watch`` build a typed model (or a generic resource) for
every object, which dominates the CPU of a cache that sees every change in the cluster.
The informer needs only dicts, so it asks lightkube for the request's path (its
``prepare_request`` knows the URL of every resource, namespaced or not) and sends it on
the client's own HTTP session (same auth, TLS and timeouts), decoding each page or
watch line straight from bytes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import httpx2
import msgspec
from lightkube import ApiError, Client
from lightkube.core import resource as lkr
from lightkube.models.meta_v1 import Status

PAGE_SIZE = 500

_decode_list = msgspec.json.Decoder(dict[str, Any]).decode


class WatchEvent(msgspec.Struct):
    """One line of a watch stream: ADDED, MODIFIED, DELETED, BOOKMARK or ERROR."""

    type: str
    object: dict[str, Any]


_decode_event = msgspec.json.Decoder(WatchEvent).decode


class Expired(Exception):
    """410 Gone: the resourceVersion to resume from is older than the server keeps."""


@dataclass(frozen=True)
class Target:
    """What one informer lists and watches."""

    resource: Any  # a lightkube resource class
    namespace: str | None  # None: all namespaces (or a cluster-scoped kind)
    field_selector: str | None = None  # e.g. "metadata.name=x": one object, not the kind

    @property
    def api_version(self) -> str:
        return str(lkr.api_info(self.resource).resource.api_version)

    @property
    def kind(self) -> str:
        return str(lkr.api_info(self.resource).resource.kind)

    @property
    def namespaced(self) -> bool:
        return issubclass(self.resource, lkr.NamespacedResource)

    def selector(self) -> dict[str, str]:
        return {"fieldSelector": self.field_selector} if self.field_selector else {}

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        which = f" ({self.field_selector})" if self.field_selector else ""
        return f"{self.kind}.{self.api_version}{where}{which}"


def session_of(client: Client) -> httpx2.Client:
    return client._client._client  # type: ignore[no-any-return]


def _path(client: Client, target: Target, watch: bool) -> str:
    namespace = (target.namespace or "*") if target.namespaced else None
    request = client._client.prepare_request(
        "list", target.resource, namespace=namespace, watch=watch
    )
    return str(request.url)


def _raise_for_status(response: httpx2.Response) -> None:
    if response.status_code < 400:
        return
    if response.status_code == 410:
        raise Expired(response.text[:200])
    if "json" in response.headers.get("Content-Type", ""):
        raise ApiError(request=response.request, response=response)
    response.raise_for_status()


def list_all(client: Client, target: Target, page_size: int = PAGE_SIZE) -> tuple[list[Any], str]:
    """Every object of ``target`` (pages of ``page_size``) and the list's resourceVersion.

    An expired ``continue`` token (410 mid-list) raises :class:`Expired`: the caller
    lists again from the start, as client-go's pager does.
    """
    session = session_of(client)
    url = _path(client, target, watch=False)
    items: list[Any] = []
    params: dict[str, str | int] = {"limit": page_size, **target.selector()}
    while True:
        response = session.get(url, params=params)
        _raise_for_status(response)
        body = _decode_list(response.content)
        items.extend(body.get("items") or [])
        meta = body.get("metadata") or {}
        if not meta.get("continue"):
            return items, str(meta.get("resourceVersion") or "")
        params = {"limit": page_size, "continue": meta["continue"], **target.selector()}


class WatchStream:
    """One WATCH request from ``resource_version``, with bookmarks; closable from
    another thread (to stop promptly)."""

    def __init__(
        self, client: Client, target: Target, resource_version: str, timeout_seconds: int
    ) -> None:
        self.client = client
        self.target = target
        self.params = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout_seconds),
            **target.selector(),
        }
        # a server that goes silent (paused, partitioned) is noticed after the watch's
        # own timeout plus a margin, never waited on forever
        self.timeout = httpx2.Timeout(10.0, read=timeout_seconds + 30.0)
        self._response: httpx2.Response | None = None
        self._lock = threading.Lock()  # close() never touches a response being released
        self.closed = False

    def events(self) -> Iterator[WatchEvent]:
        """The stream's events until the server ends it; ERROR 410 raises Expired."""
        session = session_of(self.client)
        url = _path(self.client, self.target, watch=True)
        request = session.build_request("GET", url, params=self.params, timeout=self.timeout)
        response = session.send(request, stream=True)
        with self._lock:
            self._response = response
        if self.closed:  # close() came while the request was being sent
            self._release(response)
            return
        try:
            if response.status_code >= 400:
                response.read()
                _raise_for_status(response)
            for line in response.iter_lines():
                if not line:
                    continue
                event = _decode_event(line)
                if event.type == "ERROR":
                    if event.object.get("code") == 410:
                        raise Expired(str(event.object.get("message") or "too old"))
                    raise ApiError(status=cast(Status, Status.from_dict(event.object)))
                yield event
        finally:
            self._release(response)

    def _release(self, response: httpx2.Response) -> None:
        """Close the response in the reading thread (a connection that ended cleanly goes
        back to the pool), and forget it first, so close() cannot shut down a pooled
        connection that another request has taken."""
        with self._lock:
            self._response = None
        response.close()

    def close(self) -> None:
        """End the stream from another thread; the reader sees the end or an error.

        Only shuts the socket down, which wakes a read blocked in the reading thread;
        that thread then closes the response itself. Closing it from here would free the
        socket's file descriptor while the reader may still be inside a TLS read on it, and
        a new connection given the same number would have its TLS stream corrupted."""
        self.closed = True
        with self._lock:
            response = self._response
            if response is None:
                return
            with contextlib.suppress(Exception):
                stream = response.extensions["network_stream"]
                stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
