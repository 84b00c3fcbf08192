"""Answers of `/allocation/compute` kept per query until the usage they came from changes.

Accounting 30 days of 100,000 records takes seconds; the records change only when a
showback pass runs (every `interval` seconds, or on pod events). So each answer is
computed once per query and *state version* (bumped by every pass: new or changed
UsageRecords, prices, and the pass's time, which moves open records' hours) and served
from here until the next pass. "Now" is the last pass's time, so a relative window
(`30d`) means the same span for every request between two passes, and the answer is
exactly what accounting the records as of that pass gives.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

if TYPE_CHECKING:
    from quarterdeck.showback.controller import ShowbackState

JSON = "application/json"


def cache_key(query: str) -> str:
    """The query with its parameters in one order (the last value of each wins, as
    `compute` reads them), so `a=1&b=2` and `b=2&a=1` share an entry."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    return urlencode(sorted(params.items()))


class ResponseCache:
    """At most `size` answers of the current state version, least recently used dropped."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self.hits = self.misses = 0
        self._version = -1
        self._entries: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._compute = threading.Lock()  # one accounting at a time: two cold requests
        # for the same query cost one accounting, and the second is a hit

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._version = -1

    def _get(self, key: str, version: int) -> tuple[int, bytes] | None:
        with self._lock:
            if version != self._version:
                self._entries.clear()
                self._version = version
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def answer(self, query: str, state: ShowbackState) -> tuple[int, bytes, str]:
        from quarterdeck.showback.opencost import compute

        key = cache_key(query)
        found = self._get(key, state.version)
        if found is None:
            with self._compute:
                view = state.view()
                found = self._get(key, view.version)
                if found is None:
                    self.misses += 1
                    if not view.now:
                        body = {"code": 503, "status": "error", "message": "no pass yet"}
                        return 503, json.dumps(body).encode(), JSON
                    code, out = compute(query, view.records, view.prices, view.now, view.degraded)
                    found = (code, json.dumps(out).encode())
                    with self._lock:
                        if view.version == self._version:
                            self._entries[key] = found
                            while len(self._entries) > self.size:
                                self._entries.popitem(last=False)
                    return found[0], found[1], JSON
        self.hits += 1
        return found[0], found[1], JSON
