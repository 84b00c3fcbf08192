"""Cache changes fanned out to the open pages' event streams.

The informers' handlers (one per cached kind, running in the watch threads) hand each
change to every open :class:`Stream`; a stream keeps a set of changes not yet sent, so
a burst of updates to one object is one entry, and wakes its reader on the server's
event loop. Nothing here lists the API server: a stream only says *what* changed; the
page re-reads its own fragment from the same cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from functools import partial
from typing import Any

from quarterdeck.dashboard.live import Change, event
from quarterdeck.kube.informer import Informer

KEEPALIVE = 15.0  # seconds between comments on a quiet stream (proxies close idle ones)


class Stream:
    """One open page's pending changes, read on the event loop it was opened on."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._pending: set[Change] = set()
        self._wake = asyncio.Event()
        self.ended = False

    def _signal(self) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody reads any more
            self._loop.call_soon_threadsafe(self._wake.set)

    def push(self, change: Change) -> None:
        """Called from a watch thread; wakes the reader only on the first pending change."""
        with self._lock:
            first = not self._pending
            self._pending.add(change)
        if first:
            self._signal()

    def end(self) -> None:
        self.ended = True
        self._signal()

    async def next(self, timeout: float) -> set[Change]:
        """The changes since the last call (empty after `timeout` seconds of quiet)."""
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            return set()
        self._wake.clear()
        with self._lock:
            out, self._pending = self._pending, set()
        return out


class Hub:
    """The open streams, fed by handlers on the dashboard's informers."""

    def __init__(self, informers: Mapping[str, Informer]) -> None:
        self._streams: set[Stream] = set()
        self._lock = threading.Lock()
        for kind, informer in informers.items():
            informer.add_handler(partial(self._on_event, kind))

    def _on_event(self, kind: str, _event_type: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        self.push(Change(kind, str(meta.get("namespace") or ""), str(meta.get("name") or "")))

    def push(self, change: Change) -> None:
        """Tell every open stream that `change` happened (from any thread); the informers'
        handlers call it, and so does a pending commit's diff when it is ready."""
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.push(change)

    def open(self) -> Stream:
        """A new stream on the running event loop (call it from the request handler)."""
        stream = Stream(asyncio.get_running_loop())
        with self._lock:
            self._streams.add(stream)
        return stream

    def close(self, stream: Stream) -> None:
        with self._lock:
            self._streams.discard(stream)

    def end_all(self) -> None:
        """End every stream (the server is stopping: an open stream would hold it up)."""
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.end()

    def __len__(self) -> int:
        with self._lock:
            return len(self._streams)


async def events(hub: Hub, stream: Stream,
                 visible: Callable[[set[Change]], list[Change] | None],
                 keepalive: float = KEEPALIVE,
                 gone: Callable[[], Awaitable[bool]] | None = None,
                 ) -> AsyncGenerator[str, None]:
    """The text of one page's stream: `ready` once subscribed, then a `change` event for
    each batch of changes `visible` lets through (it runs the access checks off the
    loop's thread), and `signin` (then the end) once `visible` says the session is gone.
    It ends when `gone()` says the page went away (asked at each wake: the server does
    not fail a write to a closed connection, so the stream would live on otherwise)."""
    try:
        yield event("ready")
        while not stream.ended:
            changes = await stream.next(keepalive)
            if stream.ended or (gone is not None and await gone()):
                return
            shown = await asyncio.to_thread(visible, changes)
            if shown is None:
                yield event("signin")
                return
            if shown:
                yield event("change", shown)
            elif not changes:  # quiet: a comment, never a hint that something hidden changed
                yield ": keepalive\n\n"
    finally:
        hub.close(stream)
