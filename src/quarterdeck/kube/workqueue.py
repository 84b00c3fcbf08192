"""A keyed work queue with client-go's semantics, and the worker pool that drains it.

Controllers enqueue *keys* (``namespace/name``), not events: ten updates of one object
before a worker gets to it cost one reconcile, which then reads the latest state from
the informer cache. Three sets make that safe with many workers:

- ``queue``: keys in order, each at most once;
- ``dirty``: keys that need processing (queued, or added again while being processed);
- ``processing``: keys a worker holds. A key added while it is processed is only marked
  dirty and goes back into the queue on ``done()``: one key is never handed to two
  workers at once, and an add during a reconcile is never lost.

``add_after`` keeps delayed keys in a heap; they are moved into the queue by whichever
``get()`` waits past their time, so no timer thread is needed. ``add_rate_limited``
delays by :class:`~quarterdeck.kube.ratelimit.RateLimiter` (per-key backoff plus an
overall token bucket) and ``forget`` resets a key's backoff after a success.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import structlog
from prometheus_client import Counter, Gauge, Histogram

from quarterdeck.kube.ratelimit import RateLimiter
from quarterdeck.kube.supervisor import Supervisor

K = TypeVar("K", bound=Hashable)

log = structlog.get_logger("quarterdeck.workqueue")

DEPTH = Gauge("quarterdeck_workqueue_depth", "Keys waiting in a work queue", ["name"])
ADDS = Counter("quarterdeck_workqueue_adds_total", "Keys added to a work queue", ["name"])
RETRIES = Counter("quarterdeck_workqueue_retries_total", "Rate-limited re-adds", ["name"])
WORK_SECONDS = Histogram(
    "quarterdeck_workqueue_work_duration_seconds", "Time a handler took for one key", ["name"]
)


class WorkQueue(Generic[K]):
    """Keys to process; see the module docstring for the guarantees."""

    def __init__(
        self,
        name: str = "default",
        clock: Callable[[], float] = time.monotonic,
        limiter: RateLimiter[K] | None = None,
    ) -> None:
        self.name = name
        self.clock = clock
        self.limiter: RateLimiter[K] = limiter or RateLimiter(clock)
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiting: list[tuple[float, int, K]] = []  # heap of (ready at, seq, key)
        self._ready_at: dict[K, float] = {}  # the earliest time of each waiting key
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._shutting_down = False

    # --- adding -------------------------------------------------------------------------

    def add(self, key: K) -> None:
        """Mark ``key`` for processing (a no-op if it already is, or after shutdown)."""
        with self._cond:
            self._add_locked(key)

    def _add_locked(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        ADDS.labels(self.name).inc()
        self._dirty.add(key)
        if key in self._processing:
            return  # re-queued by done()
        self._queue.append(key)
        DEPTH.labels(self.name).set(len(self._queue))
        self._cond.notify()

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` once ``delay`` seconds have passed (an earlier time wins)."""
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutting_down:
                return
            ready_at = self.clock() + delay
            if key in self._ready_at and self._ready_at[key] <= ready_at:
                return
            self._ready_at[key] = ready_at
            heapq.heappush(self._waiting, (ready_at, next(self._seq), key))
            self._cond.notify_all()  # a waiter may now need to wake sooner

    def add_rate_limited(self, key: K) -> None:
        """Retry ``key`` after its backoff (and the overall rate limit) allow."""
        RETRIES.labels(self.name).inc()
        self.add_after(key, self.limiter.when(key))

    def forget(self, key: K) -> None:
        """``key`` succeeded: its next failure starts the backoff from the beginning."""
        self.limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self.limiter.retries(key)

    # --- taking -------------------------------------------------------------------------

    def get(self, timeout: float | None = None) -> K | None:
        """The next key, which the caller must hand back with ``done()``.

        None when ``timeout`` passes first, or when the queue is shut down and drained.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._promote_locked()
                if self._queue:
                    key = self._queue.popleft()
                    DEPTH.labels(self.name).set(len(self._queue))
                    self._processing.add(key)
                    self._dirty.discard(key)
                    return key
                if self._shutting_down:
                    return None
                wait = None if deadline is None else deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    return None
                if self._waiting:
                    due = max(0.0, self._waiting[0][0] - self.clock())
                    wait = due if wait is None else min(wait, due)
                self._cond.wait(wait)

    def _promote_locked(self) -> None:
        """Move every waiting key whose time has come into the queue."""
        now = self.clock()
        while self._waiting and self._waiting[0][0] <= now:
            ready_at, _, key = heapq.heappop(self._waiting)
            if self._ready_at.get(key) != ready_at:
                continue  # superseded by an earlier add_after of the same key
            del self._ready_at[key]
            self._add_locked(key)

    def done(self, key: K) -> None:
        """The caller finished ``key``; if it was added meanwhile, it is queued again."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                DEPTH.labels(self.name).set(len(self._queue))
                self._cond.notify()

    # --- lifecycle ----------------------------------------------------------------------

    def shutdown(self) -> None:
        """Refuse new keys; ``get()`` hands out what is queued, then returns None."""
        with self._cond:
            self._shutting_down = True
            self._waiting.clear()
            self._ready_at.clear()
            self._cond.notify_all()

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        """Keys ready to be taken (not those waiting for their time, nor in processing)."""
        with self._cond:
            return len(self._queue)

    def waiting(self) -> int:
        """Keys waiting for their ``add_after`` time."""
        with self._cond:
            return len(self._ready_at)

    def processing(self) -> int:
        with self._cond:
            return len(self._processing)


def process_one(queue: WorkQueue[K], handler: Callable[[K], None], timeout: float) -> bool:
    """Take one key and handle it; False when nothing came within ``timeout``.

    A handler that raises has its key re-added rate-limited (the error is logged with the
    key); one that returns has its backoff forgotten. The key is always handed back.
    """
    key = queue.get(timeout)
    if key is None:
        return False
    started = time.monotonic()
    try:
        handler(key)
    except Exception as err:
        log.error(
            "reconcile failed",
            queue=queue.name,
            key=str(key),
            error=f"{type(err).__name__}: {err}",
            retries=queue.num_requeues(key),
            exc_info=True,
        )
        queue.add_rate_limited(key)
    else:
        queue.forget(key)
    finally:
        WORK_SECONDS.labels(queue.name).observe(time.monotonic() - started)
        queue.done(key)
    return True


def run_workers(
    queue: WorkQueue[K],
    handler: Callable[[K], None],
    workers: int,
    stop: threading.Event,
    poll: float = 0.5,
) -> None:
    """Run ``workers`` threads handling keys until ``stop`` is set; returns when they all
    finished the key in hand. No exception of a handler ends a worker; a worker that
    dies anyway (a BaseException) is restarted by the supervisor and logged."""

    def work() -> None:
        while not stop.is_set():
            if not process_one(queue, handler, poll) and queue.shutting_down:
                return

    supervisor = Supervisor(stop)
    for index in range(max(1, workers)):
        supervisor.spawn(f"{queue.name}-worker-{index}", work)
    stop.wait()
    supervisor.join()
