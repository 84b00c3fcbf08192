"""Hierarchical cohorts: borrowing across the tree, cohort quota and limits, cycles."""

from __future__ import annotations

from dataclasses import replace

from queueing_scenarios import GPU, job, queue, running, world

from quarterdeck.queueing import Cohort, FlavorQuota, Quota, ResourceGroup, cycle


def gpus(
    nominal: int, borrowing: int | None = None, lending: int | None = None
) -> tuple[ResourceGroup, ...]:
    q = Quota(
        nominal * 1000,
        None if borrowing is None else borrowing * 1000,
        None if lending is None else lending * 1000,
    )
    return (ResourceGroup((GPU,), (FlavorQuota("h100", {GPU: q}),)),)


def test_queues_borrow_across_sibling_cohorts_through_the_root() -> None:
    qs = [queue("a", 4, cohort="left"), queue("b", 4, cohort="right")]
    tree = {"left": Cohort("left", "org"), "right": Cohort("right", "org")}
    d = cycle(replace(world(qs, [job("n/1", "a", 8)]), cohorts=tree))
    assert [a.workload.key for a in d.admitted] == ["n/1"]


def test_cohort_quota_is_borrowable_and_its_borrowing_limit_caps_the_subtree() -> None:
    qs = [queue("a", 2, cohort="left"), queue("b", 6, cohort="right")]
    tree = {
        "left": Cohort("left", "org", gpus(2, borrowing=1)),
        "right": Cohort("right", "org"),
    }
    snap = replace(world(qs, [job("n/1", "a", 5)]), cohorts=tree)
    d = cycle(snap)
    assert [a.workload.key for a in d.admitted] == ["n/1"]  # 2 own + 2 of left + 1 of org
    d = cycle(replace(snap, pending=(job("n/2", "a", 6),)))
    assert d.pending[0].reason == "Inadmissible"
    assert d.pending[0].message == (
        "needs 6 nvidia.com/gpu of flavor h100 but ClusterQueue a can never hold more than 5"
    )


def test_cohort_lending_limit_keeps_quota_inside_the_subtree() -> None:
    qs = [queue("a", 0, cohort="left"), queue("b", 4, cohort="right")]
    tree = {
        "left": Cohort("left", "org"),
        "right": Cohort("right", "org", gpus(0, lending=1)),
    }
    d = cycle(replace(world(qs, [job("n/1", "a", 2)]), cohorts=tree))
    assert d.pending[0].reason == "Inadmissible"  # right lends at most 1 GPU to org
    d = cycle(replace(world(qs, [job("n/1", "a", 1)]), cohorts=tree))
    assert [a.workload.key for a in d.admitted] == ["n/1"]


def test_reclaim_reaches_borrowers_anywhere_in_the_tree() -> None:
    qs = [queue("a", 4, cohort="left", reclaim="Any"), queue("b", 4, cohort="right")]
    tree = {"left": Cohort("left", "org"), "right": Cohort("right", "org")}
    borrower = running(job("b/big", "b", 8))
    d = cycle(replace(world(qs, [job("a/own", "a", 4)], [borrower]), cohorts=tree))
    assert [(p.victim.workload.key, p.reason) for p in d.preempted] == [
        ("b/big", "InCohortReclamation")
    ]


def test_a_cohort_cycle_makes_its_queues_inactive_and_leaves_others_alone() -> None:
    qs = [queue("a", 4, cohort="x"), queue("b", 4, cohort="below"), queue("c", 4)]
    tree = {
        "x": Cohort("x", "y"),
        "y": Cohort("y", "x"),
        "below": Cohort("below", "x"),
    }
    wls = [job("n/a", "a", 1), job("n/b", "b", 1), job("n/c", "c", 1)]
    d = cycle(replace(world(qs, wls, [running(job("n/run", "a", 2))]), cohorts=tree))
    assert [a.workload.key for a in d.admitted] == ["n/c"]
    why = {p.workload.key: (p.reason, p.message) for p in d.pending}
    assert why["n/a"] == ("Inadmissible", "ClusterQueue a is inactive: cohort cycle: x -> y -> x")
    assert why["n/b"] == ("Inadmissible", "ClusterQueue b is inactive: cohort cycle: x -> y -> x")
