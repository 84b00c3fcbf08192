"""Preemption: within the queue by priority, reclaim in the cohort, fair sharing."""

from __future__ import annotations

from dataclasses import replace

from queueing_scenarios import job, queue, running, world

from quarterdeck.queueing import Decisions, Snapshot, apply, cycle


def victims(d: Decisions) -> list[tuple[str, str]]:
    return [(p.victim.workload.key, p.reason) for p in d.preempted]


def outcome(d: Decisions, key: str) -> str:
    if any(a.workload.key == key for a in d.admitted):
        return "Admitted"
    return next(p.reason for p in d.pending if p.workload.key == key)


def test_high_priority_preempts_lower_in_the_same_queue_then_is_admitted() -> None:
    low = running(job("n/low", "a", 4, priority=0))
    snap = world(
        [queue("a", 4, within="LowerPriority")], [job("n/high", "a", 4, priority=10)], [low]
    )
    d = cycle(snap)
    assert victims(d) == [("n/low", "InClusterQueue")]
    assert outcome(d, "n/high") == "Preempting"
    after = cycle(apply(snap, d, now=1))
    assert [a.workload.key for a in after.admitted] == ["n/high"]
    assert outcome(after, "n/low") == "Pending"  # requeued, waits for quota


def test_equal_priority_is_not_preempted_unless_newer_and_allowed() -> None:
    old = running(job("n/run", "a", 4, priority=5, created=10))
    wl = job("n/new", "a", 4, priority=5, created=5)
    d = cycle(world([queue("a", 4, within="LowerPriority")], [wl], [old]))
    assert victims(d) == [] and outcome(d, "n/new") == "Pending"
    assert "preemption cannot make room" in d.pending[0].message
    d = cycle(world([queue("a", 4, within="LowerOrNewerEqualPriority")], [wl], [old]))
    assert victims(d) == [("n/run", "InClusterQueue")]


def test_minimal_victim_set_prefers_lowest_priority_then_newest() -> None:
    running_wls = [
        running(job("n/p1", "a", 2, priority=1), at=1),
        running(job("n/p0-old", "a", 2, priority=0), at=1),
        running(job("n/p0-new", "a", 2, priority=0), at=2),
    ]
    snap = world(
        [queue("a", 6, within="LowerPriority")], [job("n/hi", "a", 2, priority=9)], running_wls
    )
    assert victims(cycle(snap)) == [("n/p0-new", "InClusterQueue")]


def test_lender_reclaims_borrowed_quota_in_the_cohort() -> None:
    qs = [
        queue("team-a", 4, cohort="research", reclaim="Any"),
        queue("team-b", 4, cohort="research"),
    ]
    borrower = running(job("b/borrow", "team-b", 8, priority=100))
    snap = world(qs, [job("a/own", "team-a", 4)], [borrower])
    d = cycle(snap)
    assert victims(d) == [("b/borrow", "InCohortReclamation")]
    nxt = cycle(apply(snap, d, now=1))
    assert [a.workload.key for a in nxt.admitted] == ["a/own"]


def test_reclaim_never_and_lower_priority_policies() -> None:
    borrower = running(job("b/borrow", "team-b", 8, priority=100))
    for policy in ("Never", "LowerPriority"):
        qs = [queue("team-a", 4, cohort="c", reclaim=policy), queue("team-b", 4, cohort="c")]
        d = cycle(world(qs, [job("a/own", "team-a", 4, priority=1)], [borrower]))
        assert victims(d) == []
        assert outcome(d, "a/own") == "Pending"


def test_reclaim_does_not_touch_workloads_within_their_nominal_quota() -> None:
    qs = [queue("team-a", 4, cohort="c", reclaim="Any"), queue("team-b", 4, cohort="c")]
    own = running(job("b/own", "team-b", 4))
    d = cycle(world(qs, [job("a/x", "team-a", 5)], [own]))
    assert victims(d) == []


def test_preemptor_reserves_what_it_freed() -> None:
    low = running(job("n/low", "a", 4, priority=0))
    wls = [job("n/high", "a", 4, priority=10), job("n/after", "a", 4, priority=5, created=1)]
    d = cycle(world([queue("a", 4, within="LowerPriority")], wls, [low]))
    assert outcome(d, "n/high") == "Preempting"
    assert outcome(d, "n/after") == "Pending"  # not allowed to grab the room being freed


def test_fair_sharing_orders_heads_by_dominant_share_and_weight() -> None:
    qs = [
        queue("a", 2, cohort="c", weight=1.0),
        queue("b", 2, cohort="c", weight=1.0),
        queue("idle", 8, cohort="c"),
    ]
    busy = running(job("a/running", "a", 6))  # a already borrows 4 of 10 lendable
    wls = [job("a/more", "a", 3, created=0), job("b/first", "b", 6, created=5)]
    d = cycle(world(qs, wls, [busy], fair_sharing=True))
    assert [a.workload.key for a in d.admitted] == ["b/first"]
    assert outcome(d, "a/more") == "Pending"


def test_fair_sharing_preempts_the_queue_far_above_its_share() -> None:
    qs = [
        queue("a", 3, cohort="c", reclaim="Any"),
        queue("b", 3, cohort="c", reclaim="Any"),
        queue("lender", 6, cohort="c"),
    ]
    hog = [running(job(f"b/hog{i}", "b", 3, priority=0), at=i) for i in range(4)]
    d = cycle(world(qs, [job("a/x", "a", 6)], hog, fair_sharing=True))
    # b borrows 9 of 12 lendable (share 750); a with a/x would borrow 3 (250). Taking two
    # hogs leaves b at 250, still >= a's share, and a/x fits.
    assert victims(d) == [("b/hog3", "InCohortFairSharing"), ("b/hog2", "InCohortFairSharing")]
    assert outcome(d, "a/x") == "Preempting"


def test_fair_sharing_stops_preempting_once_shares_would_invert() -> None:
    qs = [
        queue("a", 3, cohort="c", reclaim="Any"),
        queue("b", 3, cohort="c", reclaim="Any"),
        queue("lender", 6, cohort="c"),
    ]
    hog = [running(job(f"b/hog{i}", "b", 3), at=i) for i in range(2)]  # b borrows 3 (250)
    d = cycle(world(qs, [job("a/x", "a", 12)], hog, fair_sharing=True))
    assert victims(d) == []  # a would borrow 9 (750): never fair to take from b


def _finished(snap: Snapshot, key: str) -> Snapshot:
    return replace(snap, admitted=tuple(a for a in snap.admitted if a.workload.key != key))


def test_a_head_that_lost_its_room_this_pass_neither_evicts_nor_lets_lower_work_in() -> None:
    """Kueue skips a head that fitted when the cycle began but lost the room to heads
    before it; ours also holds its unused nominal quota, so its queue's small work is
    not admitted into the room only to be evicted for it the pass after."""
    qs = [queue(n, 4, cohort="c", within="LowerPriority", reclaim="Any") for n in ("a", "b", "x")]
    ran = [running(job("x/full", "x", 4)), running(job("a/run", "a", 2))]
    wls = [
        job("b/large", "b", 4, priority=10),  # not borrowing: goes first, leaves 2 free
        job("a/large", "a", 4, priority=10, created=1),  # fitted at the start, borrowing
        job("a/small-1", "a", 1, created=2),
        job("a/small-2", "a", 1, created=3),
    ]
    snap = world(qs, wls, ran)
    first = cycle(snap)
    assert victims(first) == []
    assert [a.workload.key for a in first.admitted] == ["b/large"]
    assert "heads before it took the room" in (first.why("a/large") or "")
    assert outcome(first, "a/small-1") == outcome(first, "a/small-2") == "Pending"
    second = cycle(_finished(apply(snap, first, now=1), "a/run"))  # it ends meanwhile
    assert victims(second) == []
    assert "a/large" in [a.workload.key for a in second.admitted]


def test_the_next_pass_takes_the_victims_already_stopping_not_fresh_ones() -> None:
    stopping = [replace(running(job(f"a/old{i}", "a", 2), at=1), evicting=True) for i in (1, 2)]
    fresh = running(job("a/fresh", "a", 2), at=2)  # most recently admitted
    snap = world(
        [queue("a", 6, within="LowerPriority")], [job("a/high", "a", 4, priority=9)],
        [*stopping, fresh],
    )  # fmt: skip
    d = cycle(snap)
    assert victims(d) == []  # nothing new to evict: both victims are already stopping
    assert outcome(d, "a/high") == "Preempting"
    assert "a/old1" in (d.why("a/high") or "") and "a/fresh" not in (d.why("a/high") or "")


def test_victims_hold_their_room_and_are_not_taken_twice_in_one_pass() -> None:
    qs = [
        queue("a", 2, cohort="c", reclaim="Any"),
        queue("b", 2, cohort="c", reclaim="Any"),
        queue("x", 0, cohort="c"),
    ]
    borrower = running(job("x/w", "x", 4))
    wls = [job("a/h", "a", 2, priority=10), job("b/h", "b", 2, priority=10, created=1)]
    d = cycle(world(qs, wls, [borrower]))
    assert victims(d) == [("x/w", "InCohortReclamation")]
    assert outcome(d, "a/h") == "Preempting"
    assert outcome(d, "b/h") == "Pending"  # as Kueue: overlapping targets wait a cycle
    assert "taken in this pass: x/w" in (d.why("b/h") or "")
