"""Keeps the operator's long-running threads alive: a watch or worker that dies is
restarted, and the restart is logged, so no single failure silently stops a controller.

Every thread of the runtime (informer watches, queue workers, the lease loop) runs under
a :class:`Supervisor`. A target that *returns* has finished its job (it saw the stop
event, or its queue shut down); one that *raises* — anything, even a BaseException that
would otherwise end just that thread unseen — is logged with its traceback and started
again after a backoff that grows with consecutive crashes (0.1 s .. 30 s) and resets once
the target has run for a minute.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog
from prometheus_client import Counter

log = structlog.get_logger("quarterdeck.supervisor")

RESTARTS = Counter(
    "quarterdeck_runtime_thread_restarts_total",
    "Runtime threads restarted after a crash",
    ["thread"],
)

#: A target that ran this long before crashing starts its backoff over.
HEALTHY_AFTER = 60.0


def backoff(crashes: int, base: float = 0.1, cap: float = 30.0) -> float:
    """Seconds to wait before restart number ``crashes`` (1, 2, ...)."""
    return min(cap, base * float(2 ** min(crashes - 1, 20)))


class Supervisor:
    """Threads that are restarted when they crash, until ``stop`` is set."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.threads: list[threading.Thread] = []
        self.restarts: dict[str, int] = {}

    def spawn(self, name: str, target: Callable[[], None]) -> threading.Thread:
        """Run ``target`` in a daemon thread named ``name``, restarting it on a crash."""
        thread = threading.Thread(target=self._keep, args=(name, target), name=name, daemon=True)
        self.threads.append(thread)
        thread.start()
        return thread

    def _keep(self, name: str, target: Callable[[], None]) -> None:
        crashes = 0
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                target()
                return
            except BaseException as err:  # a dead thread is restarted, whatever killed it
                if self.stop.is_set():
                    return
                if time.monotonic() - started > HEALTHY_AFTER:
                    crashes = 0
                crashes += 1
                delay = backoff(crashes)
                self.restarts[name] = self.restarts.get(name, 0) + 1
                RESTARTS.labels(name).inc()
                log.error(
                    "thread died; restarting",
                    thread=name,
                    error=f"{type(err).__name__}: {err}",
                    restart_in=round(delay, 2),
                    exc_info=True,
                )
                self.stop.wait(delay)

    def alive(self) -> bool:
        """Whether every thread is still running (or restarting)."""
        return all(t.is_alive() for t in self.threads)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for every thread to end (at most ``timeout`` in all); True if they did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self.threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
        return not any(t.is_alive() for t in self.threads)
