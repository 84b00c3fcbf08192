"""Writes a pass sends without waiting for them (the operator's passes).

On a loaded API server the operator's pass spent nine tenths of its time waiting on
its own writes (2,000 one-GPU Jobs on two cores: staging patches, admissions, their
Job and pod patches), while nothing it decided next depended on most of them.
`InFlight` runs each write in a pool and remembers its key until it has answered,
so the next pass neither sends it again nor acts on what it leaves half done (a
caller `wait`s for the key first), and tells what each write did and met as it
answers (or keeps it for the report of the pass after).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future

from quarterdeck.queueing.writes import PassReport


class InFlight:
    """Writes by key, sent through `pool`, until each has answered."""

    def __init__(self, pool: Executor, told: Callable[[PassReport], None] | None = None) -> None:
        self.pool = pool
        self.told = told  # what each write did, as it answers (else `collect` has it)
        self._lock = threading.Lock()
        self._sent: dict[str, Future[None]] = {}
        self._late = PassReport()

    def send(self, key: str, write: Callable[[PassReport], object]) -> bool:
        """Run `write(report)` in the pool; False (nothing sent) while `key` is in flight."""
        with self._lock:
            if key in self._sent:
                return False
            # registered before it can run, so its own `finally` finds it
            future: Future[None] = Future()
            self._sent[key] = future

        def run() -> None:
            told = PassReport()
            try:
                write(told)
            except Exception as err:  # one bad object must not lose the others' news
                told.problems.append(f"{key}: {type(err).__name__}: {err}")
            finally:
                with self._lock:
                    self._sent.pop(key, None)
                    if self.told is None:
                        self._late.extend(told)
                future.set_result(None)
            if self.told is not None:
                self.told(told)

        self.pool.submit(run)
        return True

    def busy(self) -> set[str]:
        """Keys whose write has not answered yet."""
        with self._lock:
            return set(self._sent)

    def wait(self, key: str) -> None:
        """Return once the write of `key` (if any is in flight) has answered."""
        with self._lock:
            future = self._sent.get(key)
        if future is not None:
            future.result()

    def collect(self, report: PassReport) -> None:
        """Move what the writes that answered did and met into `report`."""
        with self._lock:
            late, self._late = self._late, PassReport()
        report.extend(late)
