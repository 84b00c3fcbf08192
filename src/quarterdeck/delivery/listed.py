"""A view of the cluster listed at most once per ``max_age``, shared by every sync.

Every worker asks for the view before each sync (the Projects in force, the
Guardrails). The list runs outside the lock and only one at a time: while it is in
flight the other workers go on with the view they have if it is still younger than
``max_age``, and wait for the list only when it is not. A view is listed again once
it is half ``max_age`` old, so under steady traffic no worker waits for a list at
all; no view older than ``max_age`` (counted from the start of its list) is ever
served, as when the list ran under the lock and stalled every worker each tick.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class ListedView(ABC, Generic[V]):
    """``current()`` is the view ``_list()`` returned at most ``max_age`` seconds of
    ``clock`` ago; thread-safe, one list at a time."""

    def __init__(self, clock: Callable[[], float], max_age: float = 1.0) -> None:
        self.clock = clock
        self.max_age = max_age
        self._changed = threading.Condition()
        self._view: V | None = None
        self._listed_at = 0.0  # when the list of ``_view`` started
        self._listing = False
        self._epoch = 0  # bumped by ``expire``: a list in flight then is not kept
        self.reads = 0  # cluster reads so far, for benchmarks

    @abstractmethod
    def _list(self) -> V:
        """Read the view from the cluster; an error is part of the view, never raised."""

    def current(self) -> V:
        """The view now in force (listed again when older than ``max_age``)."""
        with self._changed:
            asked = self.clock()
            while True:
                now = self.clock()
                view, age = self._view, now - self._listed_at
                if view is not None:
                    if self._listed_at > asked:  # listed since we asked: as fresh as ours
                        return view
                    if age < self.max_age and (self._listing or age < self.max_age / 2):
                        return view
                if not self._listing:
                    break
                self._changed.wait()  # the view is too old: wait for the list in flight
            self._listing, epoch = True, self._epoch
        listed: list[V] = []
        try:
            listed.append(self._list())
        finally:  # a raising list still lets the waiters go (one of them lists again)
            with self._changed:
                self._listing = False
                if listed:
                    self.reads += 1
                    if epoch == self._epoch:
                        self._view, self._listed_at = listed[0], now
                self._changed.notify_all()
        return listed[0]

    def expire(self) -> None:
        """Forget the view, so the next sync reads the cluster again (a list in flight
        now started before the change that calls this: it is not kept either)."""
        with self._changed:
            self._view = None
            self._epoch += 1
