"""Preemption: within the queue by priority, reclaim in the cohort, fair sharing."""

from __future__ import annotations

from queueing_scenarios import job, queue, running, world

from quarterdeck.queueing import Decisions, apply, cycle


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
