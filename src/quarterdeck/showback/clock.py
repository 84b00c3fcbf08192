"""The time showback and the fake GPU metrics run on.

Production uses the system clock. A dev cluster or a test may hand both the operator
(`qd operator --showback-clock-file PATH`), `qd showback --clock-file PATH` and the dcgm
source a *file clock* (a file holding Unix seconds), so a scripted day of GPU jobs runs
in seconds and its GPU-hours come out exact. Pure code never reads a clock: the shell
passes `now` in.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class FileClock:
    """Unix seconds read from a file on every call; a missing or half-written file
    keeps the last value read (and the system clock before the first read)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last: float | None = None

    def now(self) -> float:
        with contextlib.suppress(OSError, ValueError):
            self._last = float(self.path.read_text().strip())
        return self._last if self._last is not None else time.time()

    def set(self, when: float) -> None:
        """Move the clock (tests and demos): written whole, then renamed into place."""
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(repr(float(when)))
        tmp.replace(self.path)


def clock_for(path: Path | None) -> Clock:
    """The file clock at `path`, else the system clock."""
    return FileClock(path) if path is not None else SystemClock()
