"""The work queue keeps client-go's promises: one key is never held by two workers, an add
during processing is not lost, delays and backoff follow the (injected) clock, and a
handler's exception never ends a worker."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from quarterdeck.kube.ratelimit import ItemBackoff, RateLimiter, TokenBucket
from quarterdeck.kube.supervisor import Supervisor, backoff
from quarterdeck.kube.wait import wait_for
from quarterdeck.kube.workqueue import WorkQueue, process_one, run_workers


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_a_key_is_queued_once_and_in_order() -> None:
    q: WorkQueue[str] = WorkQueue()
    for key in ["a", "b", "a", "c", "b"]:
        q.add(key)
    assert len(q) == 3
    assert [q.get(0), q.get(0), q.get(0), q.get(0)] == ["a", "b", "c", None]


def test_a_key_added_while_processing_waits_for_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert q.get(0) == "a"
    q.add("a")  # an update arrives while a worker reconciles "a"
    assert q.get(0) is None  # not handed to a second worker
    q.done("a")
    assert q.get(0) == "a"  # ... and not lost
    q.done("a")
    assert q.get(0) is None


def test_add_after_follows_the_clock_and_the_earliest_time_wins() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add_after("a", 10.0)
    q.add_after("a", 5.0)
    q.add_after("a", 20.0)  # later than what is waiting: ignored
    assert q.get(0) is None and q.waiting() == 1
    clock.advance(4.9)
    assert q.get(0) is None
    clock.advance(0.1)
    assert q.get(0) == "a"
    q.done("a")
    clock.advance(100.0)
    assert q.get(0) is None  # the superseded entries do not fire again


def test_a_waiting_key_wakes_a_blocked_get() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("a", 0.05)
    assert q.get(timeout=30.0) == "a"


def test_backoff_doubles_from_5ms_to_1000s_and_forget_resets_it() -> None:
    b: ItemBackoff[str] = ItemBackoff()
    delays = [b.when("a") for _ in range(20)]
    assert delays[:4] == pytest.approx([0.005, 0.01, 0.02, 0.04])
    assert max(delays) == 1000.0 and delays[-1] == 1000.0
    assert b.when("other") == pytest.approx(0.005)  # per key
    assert b.retries("a") == 20
    b.forget("a")
    assert b.retries("a") == 0 and b.when("a") == pytest.approx(0.005)
    assert all(b.when("x") <= 1000.0 for _ in range(200))  # no overflow past the cap


def test_token_bucket_allows_a_burst_then_qps() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=10.0, burst=100, clock=clock)
    assert all(bucket.reserve() == 0.0 for _ in range(100))
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)
    clock.advance(10.0)  # refills, but never past the burst
    assert all(bucket.reserve() == 0.0 for _ in range(97))


def test_rate_limited_adds_wait_for_the_longer_limit() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock, limiter=RateLimiter(clock, qps=1.0, burst=1))
    q.add_rate_limited("a")  # a token is there: the 5 ms backoff applies
    q.add_rate_limited("b")  # the bucket is empty: 1 s
    assert q.num_requeues("a") == 1
    clock.advance(0.005)
    assert q.get(0) == "a"
    assert q.get(0) is None
    clock.advance(1.0)
    assert q.get(0) == "b"
    q.forget("a")
    assert q.num_requeues("a") == 0


def test_shutdown_drains_then_refuses() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add_after("later", 100.0)
    q.shutdown()
    q.add("b")
    assert q.get(0) == "a"
    assert q.get(None) is None  # no block after shutdown
    assert q.waiting() == 0


class QueueModel(RuleBasedStateMachine):
    """Random add/get/done sequences against a plain model of what must hold."""

    def __init__(self) -> None:
        super().__init__()
        self.q: WorkQueue[int] = WorkQueue()
        self.held: set[int] = set()
        self.pending: set[int] = set()  # added since it was last taken

    @rule(key=st.integers(0, 4))
    def add(self, key: int) -> None:
        self.q.add(key)
        self.pending.add(key)

    @rule()
    def get(self) -> None:
        key = self.q.get(0)
        if key is None:
            assert not (self.pending - self.held)  # nothing takeable was withheld
            return
        assert key not in self.held  # never two holders
        assert key in self.pending
        self.held.add(key)
        self.pending.discard(key)

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data())
    def done(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.held)))
        self.held.discard(key)
        self.q.done(key)

    @invariant()
    def queue_holds_what_is_pending_and_free(self) -> None:
        assert len(self.q) == len(self.pending - self.held)
        assert self.q.processing() == len(self.held)


TestQueueModel = QueueModel.TestCase
TestQueueModel.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


@settings(max_examples=15, deadline=None)
@given(keys=st.lists(st.integers(0, 30), min_size=1, max_size=200), workers=st.integers(1, 6))
def test_workers_process_each_key_of_a_burst_once_and_never_concurrently(
    keys: list[int], workers: int
) -> None:
    q: WorkQueue[int] = WorkQueue()
    for key in keys:
        q.add(key)
    lock = threading.Lock()
    held: set[int] = set()
    seen: Counter[int] = Counter()
    overlaps: list[int] = []

    def handler(key: int) -> None:
        with lock:
            if key in held:
                overlaps.append(key)
            held.add(key)
            seen[key] += 1
        if key % 3 == 0:  # re-added while held: must come back, after done()
            q.add(key + 1000)
        with lock:
            held.discard(key)

    stop = threading.Event()
    pool = threading.Thread(target=run_workers, args=(q, handler, workers, stop, 0.01))
    pool.start()
    expected = set(keys) | {k + 1000 for k in keys if k % 3 == 0}
    wait_for(lambda: set(seen) == expected and len(q) == 0 and not q.processing(), "drain", 30)
    stop.set()
    pool.join(30)
    assert not pool.is_alive()
    assert not overlaps
    assert all(seen[k] == 1 for k in expected)


def test_a_failing_handler_is_retried_with_backoff_and_never_ends_the_worker() -> None:
    q: WorkQueue[str] = WorkQueue()
    calls: Counter[str] = Counter()

    def handler(key: str) -> None:
        calls[key] += 1
        if key == "bad" and calls[key] < 4:
            raise RuntimeError("conflict")

    q.add("bad")
    q.add("good")
    stop = threading.Event()
    pool = threading.Thread(target=run_workers, args=(q, handler, 2, stop, 0.01))
    pool.start()
    wait_for(lambda: calls["bad"] == 4 and calls["good"] == 1, "the retries", 30)
    wait_for(lambda: not q.processing(), "the last key handed back", 30)
    assert q.num_requeues("bad") == 0  # forgotten after the success
    stop.set()
    pool.join(30)
    assert not pool.is_alive()


def test_process_one_hands_the_key_back_when_the_handler_raises() -> None:
    clock = FakeClock()  # a real clock could pass the 5 ms between the two calls
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add("a")

    def boom(key: str) -> None:
        raise ValueError(key)

    assert process_one(q, boom, 0)
    assert q.processing() == 0 and q.num_requeues("a") == 1
    assert not process_one(q, boom, 0)  # waiting out its 5 ms, not queued at once
    clock.advance(0.005)
    assert process_one(q, boom, 0)
    assert q.num_requeues("a") == 2


def test_supervisor_restarts_a_crashed_thread_and_not_a_finished_one() -> None:
    stop = threading.Event()
    runs: Counter[str] = Counter()

    def crashy() -> None:
        runs["crashy"] += 1
        if runs["crashy"] < 3:
            raise SystemExit("a BaseException would end a bare thread")
        stop.wait()

    def once() -> None:
        runs["once"] += 1

    supervisor = Supervisor(stop)
    supervisor.spawn("crashy", crashy)
    supervisor.spawn("once", once)
    wait_for(lambda: runs["crashy"] == 3, "two restarts", 30)
    assert supervisor.restarts == {"crashy": 2}
    assert runs["once"] == 1
    stop.set()
    assert supervisor.join(30)


def test_restart_backoff_grows_and_is_capped() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == pytest.approx([0.1, 0.2, 0.4])
    assert backoff(100) == 30.0
