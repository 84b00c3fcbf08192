"""Poll until a condition on cluster state holds, like `kubectl wait`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None], what: str, timeout: float = 60.0, interval: float = 0.25
) -> T:
    """Call `probe` until it returns something truthy and return that; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
