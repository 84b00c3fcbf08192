"""The operator loop survives a failed pass and retries it with backoff."""

from __future__ import annotations

from typing import Any

from quarterdeck.delivery.runner import Runner


class _FlakyController:
    """Stands in for Controller.reconcile_all: fails twice, then succeeds."""

    def __init__(self) -> None:
        self.calls = 0

    def reconcile_all(self) -> None:
        self.calls += 1
        if self.calls <= 2:
            raise RuntimeError("storage is (re)initializing")


def test_failed_passes_back_off_then_the_tick_resumes() -> None:
    runner: Any = Runner.__new__(Runner)  # only the pass logic, no cluster or watches
    runner.controller, runner.tick, runner.failures, runner.passes = _FlakyController(), 5.0, 0, 0
    delays = [runner._pass() for _ in range(3)]
    assert delays[0] < delays[1] < runner.tick  # backoff grows, capped by the tick
    assert delays[2] == runner.tick and runner.failures == 0
    assert runner.controller.calls == 3
