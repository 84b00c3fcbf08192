"""Poll until a condition on cluster state holds, like `kubectl wait`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None],
    what: str,
    timeout: float = 60.0,
    interval: float = 0.25,
    state: Callable[[], object] | None = None,
) -> T:
    """Call `probe` until it returns something truthy and return that; TimeoutError otherwise.

    `state`, when given, is called once on timeout and its value is put in the message, so
    a failure says what was seen instead of only what was awaited.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            seen = f": {state()}" if state is not None else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{seen}")
        time.sleep(interval)
