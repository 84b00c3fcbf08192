"""A discrete-event loop on a heap: events run in time order, ties in insertion order."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class _Entry:
    time: float
    seq: int
    action: Callable[[float], None] = field(compare=False)


class EventLoop:
    """Schedule callables at simulated times and run them in order.

    Time is simulated (an argument, never the clock), so a run is reproducible.
    """

    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self.now = 0.0

    def at(self, time: float, action: Callable[[float], None]) -> None:
        """Run `action(time)` when the simulation reaches `time` (not before `now`)."""
        heapq.heappush(self._heap, _Entry(max(time, self.now), next(self._seq), action))

    def run(self, until: float = float("inf")) -> int:
        """Process events up to `until`; returns how many ran."""
        ran = 0
        while self._heap and self._heap[0].time <= until:
            entry = heapq.heappop(self._heap)
            self.now = entry.time
            entry.action(entry.time)
            ran += 1
        return ran

    def __len__(self) -> int:
        return len(self._heap)
