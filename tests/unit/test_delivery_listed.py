"""The shared listed view (Projects, Guardrails): one list at a time, never under the lock,
never older than ``max_age``. A list that blocks on an Event stands in for a slow API
server; the clock is a number the test moves."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from quarterdeck.delivery.listed import ListedView


class Counted(ListedView[int]):
    """Lists 1, 2, 3, ...; ``gate`` (when set) holds a list until released."""

    def __init__(self, clock: list[float], max_age: float = 1.0) -> None:
        super().__init__(lambda: clock[0], max_age)
        self.now = clock
        self.listed_at: dict[int, float] = {}
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self.count = 0

    def _list(self) -> int:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(timeout=30)
        self.count += 1
        self.listed_at[self.count] = self.now[0]
        return self.count


def test_a_young_view_is_served_while_it_is_listed_again() -> None:
    clock = [0.0]
    view = Counted(clock)
    assert view.current() == 1
    clock[0] = 0.6  # past half of max_age: the next caller lists ahead of time
    view.gate, view.entered = threading.Event(), threading.Event()
    with ThreadPoolExecutor(1) as pool:
        ahead = pool.submit(view.current)
        assert view.entered.wait(timeout=30)
        assert view.current() == 1  # not blocked behind the list in flight
        view.gate.set()
        assert ahead.result() == 2
    assert view.current() == 2 and view.reads == 2


def test_an_old_view_waits_for_the_one_list_in_flight() -> None:
    clock = [0.0]
    view = Counted(clock)
    view.current()
    clock[0] = 5.0  # older than max_age: nobody may use it
    view.gate, view.entered = threading.Event(), threading.Event()
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(view.current)
        assert view.entered.wait(timeout=30)
        rest = [pool.submit(view.current) for _ in range(7)]
        view.gate.set()
        assert {first.result(), *(f.result() for f in rest)} == {2}
    assert view.reads == 2  # one list served all eight


def test_a_view_is_never_served_older_than_max_age() -> None:
    clock = [0.0]
    view = Counted(clock)
    for step in range(40):
        clock[0] = step * 0.3
        served = view.current()
        assert clock[0] - view.listed_at[served] < view.max_age
    assert view.reads < 40  # the view is reused in between


def test_max_age_zero_lists_on_every_call() -> None:
    view = Counted([7.0], max_age=0)
    assert [view.current() for _ in range(3)] == [1, 2, 3]


def test_expire_drops_a_list_in_flight() -> None:
    """A list that started before the change which expired the view is not kept."""
    clock = [0.0]
    view = Counted(clock)
    view.gate = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        before = pool.submit(view.current)
        assert view.entered.wait(timeout=30)
        view.expire()
        view.gate.set()
        assert before.result() == 1  # its caller asked before the change
    assert view.current() == 2


def test_a_raising_list_lets_the_waiters_list_again() -> None:
    class Failing(Counted):
        def _list(self) -> int:
            if self.count == 0:
                self.count += 1
                raise RuntimeError("apiserver gone")
            return super()._list()

    view = Failing([0.0])
    with pytest.raises(RuntimeError):
        view.current()
    assert view.current() == 2 and view.reads == 1
