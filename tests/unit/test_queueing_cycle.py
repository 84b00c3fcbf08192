"""Rules of the cycle: quota, cohorts, flavors, gangs, FIFO strategies, priority, reasons."""

from __future__ import annotations

from dataclasses import replace

from queueing_scenarios import GPU, job, queue, running, world

from quarterdeck.queueing import Decisions, PodSet, apply, cycle


def admitted(d: Decisions) -> list[str]:
    return [a.workload.key for a in d.admitted]


def reason(d: Decisions, key: str) -> tuple[str, str]:
    p = next(p for p in d.pending if p.workload.key == key)
    return p.reason, p.message


def test_admits_within_nominal_and_says_why_the_rest_waits() -> None:
    d = cycle(world([queue("a", 4)], [job("n/1", "a", 3), job("n/2", "a", 2, created=1)]))
    assert admitted(d) == ["n/1"]
    assert reason(d, "n/2") == (
        "Pending",
        "needs 2 nvidia.com/gpu of flavor h100 in ClusterQueue a; 1 free; nominal quota exhausted",
    )
    assert d.admitted[0].pod_sets[0].flavors == {GPU: "h100"}


def test_a_reason_found_on_a_same_shaped_workload_ahead_is_marked_deduced() -> None:
    """Only the first of three same-shaped workloads that cannot fit is tried; the
    others share its reason, marked `deduced` (the controller writes none for a
    Workload never tried), and the decision compares equal either way."""
    wls = [job(f"n/{i}", "a", 3, created=i) for i in range(3)]
    d = cycle(world([queue("a", 4)], wls, [running(job("n/run", "a", 2))]))
    assert [(p.workload.key, p.deduced) for p in d.pending] == [
        ("n/0", False), ("n/1", True), ("n/2", True)
    ]  # fmt: skip
    assert reason(d, "n/1") == reason(d, "n/0")
    assert d.pending[1] == replace(d.pending[1], deduced=False)


def test_borrowing_limit_reached_reads_like_the_issue() -> None:
    snap = world(
        [queue("a", 8, cohort="research", borrowing=0), queue("b", 8, cohort="research")],
        [job("n/big", "a", 16)],
    )
    d = cycle(snap)
    assert reason(d, "n/big") == (
        "Inadmissible",
        "needs 16 nvidia.com/gpu of flavor h100 but ClusterQueue a can never hold more than 8",
    )
    snap = world(
        [queue("a", 8, cohort="research", borrowing=8), queue("b", 16, cohort="research")],
        [job("n/big", "a", 16)],
        [running(job("n/other", "a", 8)), running(job("n/b", "b", 0))],
    )
    assert reason(cycle(snap), "n/big") == (
        "Pending",
        "needs 16 nvidia.com/gpu of flavor h100 in cohort research; 8 free; "
        "borrowing limit reached",
    )


def test_borrows_idle_quota_of_the_cohort_and_marks_it() -> None:
    snap = world([queue("a", 4, cohort="c"), queue("b", 4, cohort="c")], [job("n/1", "a", 6)])
    d = cycle(snap)
    assert admitted(d) == ["n/1"] and d.admitted[0].borrows


def test_lending_limit_keeps_part_of_nominal_for_the_owner() -> None:
    snap = world(
        [queue("a", 4, cohort="c"), queue("b", 4, cohort="c", lending=1)],
        [job("n/1", "a", 6), job("n/2", "a", 5, created=1)],
    )
    d = cycle(snap)
    assert admitted(d) == ["n/2"]  # 4 own + 1 lendable: 6 never fits
    assert reason(d, "n/1")[0] == "Inadmissible"


def test_cohort_total_is_shared_not_duplicated() -> None:
    snap = world(
        [queue("a", 4, cohort="c"), queue("b", 4, cohort="c")],
        [job("n/1", "a", 6), job("n/2", "b", 3, created=1)],
    )
    d = cycle(snap)
    assert admitted(d) == ["n/2"]  # heads that do not borrow go first
    assert reason(d, "n/1") == (
        "Pending",
        "needs 6 nvidia.com/gpu of flavor h100 in cohort c; 5 free; cohort quota exhausted",
    )


def test_flavors_in_order_and_fungibility() -> None:
    q = queue("a", {"h100": 2, "a100": 4})
    d = cycle(world([q], [job("n/1", "a", 3)]))
    assert d.admitted[0].pod_sets[0].flavors[GPU] == "a100"
    # whenCanBorrow=Borrow stops at the first flavor that fits by borrowing ...
    qs = [queue("a", {"h100": 2, "a100": 4}, cohort="c"), queue("b", {"h100": 4}, cohort="c")]
    d = cycle(world(qs, [job("n/1", "a", 3)]))
    assert d.admitted[0].pod_sets[0].flavors[GPU] == "h100" and d.admitted[0].borrows
    # ... TryNextFlavor prefers a later flavor that fits without borrowing.
    qs[0] = replace(qs[0], when_can_borrow="TryNextFlavor")
    d = cycle(world(qs, [job("n/1", "a", 3)]))
    assert d.admitted[0].pod_sets[0].flavors[GPU] == "a100" and not d.admitted[0].borrows


def test_gang_is_all_or_nothing_and_a_failed_gang_takes_nothing() -> None:
    gang = job(
        "n/gang",
        "a",
        pod_sets=[PodSet("driver", 1, {GPU: 2000}), PodSet("workers", 2, {GPU: 2000})],
    )
    d = cycle(world([queue("a", 5)], [gang, job("n/small", "a", 5, created=1)]))
    assert admitted(d) == ["n/small"]
    msg = reason(d, "n/gang")[1]
    assert msg.startswith("pod set workers: needs 6 nvidia.com/gpu of flavor h100")


def test_strict_fifo_blocks_behind_its_head_best_effort_does_not() -> None:
    wls = [job("n/head", "a", 4), job("n/next", "a", 1, created=1)]
    base = [running(job("n/run", "a", 2))]
    strict = cycle(world([queue("a", 4, strategy="StrictFIFO")], wls, base))
    assert admitted(strict) == []
    assert reason(strict, "n/next") == (
        "Blocked",
        "waiting behind n/head at the head of StrictFIFO ClusterQueue a",
    )
    best_effort = cycle(world([queue("a", 4)], wls, base))
    assert admitted(best_effort) == ["n/next"]


def test_higher_priority_first_then_older() -> None:
    wls = [
        job("n/old-low", "a", 2, priority=0, created=0),
        job("n/new-high", "a", 2, priority=10, created=5),
        job("n/mid", "a", 2, priority=0, created=1),
    ]
    d = cycle(world([queue("a", 4)], wls))
    assert admitted(d) == ["n/new-high", "n/old-low"]


def test_inadmissible_inputs_do_not_stop_other_queues() -> None:
    wls = [
        job("n/lost", "nope", 1),
        replace(job("n/bad", "a", 1), error="LocalQueue n/q not found"),
        job("n/cpu", "a", pod_sets=[PodSet("main", 1, {"cpu": 1000})]),
        job("n/ok", "a", 1),
    ]
    d = cycle(world([queue("a", 4)], wls))
    assert admitted(d) == ["n/ok"]
    assert reason(d, "n/lost") == ("Inadmissible", "ClusterQueue nope not found")
    assert reason(d, "n/bad") == ("Inadmissible", "LocalQueue n/q not found")
    assert reason(d, "n/cpu") == ("Inadmissible", "resource cpu is not covered by ClusterQueue a")


def test_missing_flavor_makes_the_queue_inactive() -> None:
    d = cycle(world([queue("a", {"tpu": 4})], [job("n/1", "a", 1)]))
    assert reason(d, "n/1") == ("Inadmissible", "ClusterQueue a is inactive: flavor tpu not found")


def test_stop_policies_hold_and_drain() -> None:
    wl = job("n/1", "a", 1)
    d = cycle(world([queue("a", 4, stop_policy="Hold")], [wl], [running(job("n/0", "a", 1))]))
    assert reason(d, "n/1") == ("Stopped", "ClusterQueue a is stopped (Hold)") and not d.preempted
    d = cycle(
        world([queue("a", 4, stop_policy="HoldAndDrain")], [wl], [running(job("n/0", "a", 1))])
    )
    assert [p.victim.workload.key for p in d.preempted] == ["n/0"]
    assert d.preempted[0].reason == "ClusterQueueStopped"


def test_finished_workload_frees_quota_for_the_next_cycle() -> None:
    first = world([queue("a", 4)], [job("n/1", "a", 4), job("n/2", "a", 4, created=1)])
    d = cycle(first)
    after = apply(first, d, now=1)
    assert admitted(cycle(after)) == []
    finished = replace(after, admitted=())
    assert admitted(cycle(finished)) == ["n/2"]


def test_every_pending_workload_gets_exactly_one_outcome() -> None:
    wls = [job(f"n/{i}", "a", i % 3 + 1, created=i) for i in range(10)]
    d = cycle(world([queue("a", 6)], wls))
    keys = admitted(d) + [p.workload.key for p in d.pending]
    assert sorted(keys) == sorted(w.key for w in wls)


def test_partial_admission_shrinks_to_what_fits_but_not_below_min_count() -> None:
    elastic = job("n/elastic", "a", pod_sets=[PodSet("workers", 8, {GPU: 1000}, min_count=3)])
    d = cycle(world([queue("a", 5)], [elastic]))
    (adm,) = d.admitted
    assert (adm.pod_sets[0].count, adm.pod_sets[0].usage[GPU]) == (5, 5000)
    d = cycle(world([queue("a", 2)], [elastic]))
    assert d.admitted == () and d.pending[0].reason == "Inadmissible"  # 3 never fit in 2
    d = cycle(world([queue("a", 5)], [elastic], [running(job("n/run", "a", 3))]))
    assert d.admitted == () and d.pending[0].reason == "Pending"  # 3 fit once n/run ends
    rigid = job("n/rigid", "a", pod_sets=[PodSet("workers", 8, {GPU: 1000})])
    assert cycle(world([queue("a", 5)], [rigid])).admitted == ()
