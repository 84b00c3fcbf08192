"""Invariants of the cycle over random worlds, checked over several cycles in a row.

- no ClusterQueue exceeds nominal + borrowingLimit, no cohort lends more than it has;
- no workload is half admitted (every pod set gets flavors for all it asks, and nodes);
- a preemption only happens when it makes the preemptor fit (its reserved room fits
  together with everything still admitted once the victims are gone);
- with a placer, no admission that cannot be placed, and nodes are never over-committed;
- every pending workload gets exactly one outcome; StrictFIFO never admits past its head.
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from queueing_scenarios import GPU, LABEL, flavors

from quarterdeck.queueing import (
    ClusterQueue,
    Cohort,
    Decisions,
    FlavorQuota,
    GpuPlacer,
    Node,
    PodSet,
    Preemption,
    Quota,
    ResourceGroup,
    Snapshot,
    Workload,
    apply,
    cycle,
)
from quarterdeck.queueing.nodes import NodeState
from quarterdeck.queueing.quota import QuotaState

FLAVORS = ("h100", "a100")


@st.composite
def cluster_queues(draw: st.DrawFn, name: str, crowded: bool) -> ClusterQueue:
    """Random queues; `crowded` ones share one cohort and always may preempt."""
    used = draw(st.lists(st.sampled_from(FLAVORS), min_size=1, max_size=2, unique=True))
    fqs = []
    for f in used:
        nominal = draw(st.integers(0, 8) | st.integers(2, 6))
        borrowing = draw(st.none() | st.integers(0, 8))
        lending = draw(st.none() | st.integers(0, nominal))
        fqs.append(
            FlavorQuota(
                f,
                {
                    GPU: Quota(
                        nominal * 1000,
                        None if borrowing is None else borrowing * 1000,
                        None if lending is None else lending * 1000,
                    )
                },
            )
        )
    return ClusterQueue(
        name=name,
        resource_groups=(ResourceGroup((GPU,), tuple(fqs)),),
        cohort="c0" if crowded else draw(st.sampled_from([None, "c0", "c0", "c1"])),
        strategy=draw(st.sampled_from(["StrictFIFO", "BestEffortFIFO"])),
        preemption=Preemption(
            within_cluster_queue=draw(
                st.sampled_from(
                    ["LowerPriority", "LowerOrNewerEqualPriority"]
                    if crowded
                    else ["Never", "LowerPriority", "LowerOrNewerEqualPriority"]
                )
            ),
            reclaim_within_cohort=draw(
                st.sampled_from(
                    ["LowerPriority", "Any"] if crowded else ["Never", "LowerPriority", "Any"]
                )
            ),
            borrow_within_cohort=draw(st.sampled_from(["Never", "LowerPriority"])),
        ),
        when_can_borrow=draw(st.sampled_from(["Borrow", "TryNextFlavor"])),
        when_can_preempt=draw(st.sampled_from(["Preempt", "TryNextFlavor"])),
        weight=draw(st.sampled_from([0.5, 1.0, 2.0])),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Snapshot, list[list[Workload]], bool]:
    crowded = draw(st.booleans())
    queues = [draw(cluster_queues(f"q{i}", crowded)) for i in range(draw(st.integers(1, 4)))]
    rounds: list[list[Workload]] = []
    serial = 0
    for r in range(3):
        arrivals = []
        for _ in range(draw(st.integers(0, 6))):
            serial += 1
            sets = []
            for j in range(draw(st.integers(1, 2))):
                count = draw(st.integers(1, 3))
                sets.append(
                    PodSet(
                        f"ps{j}",
                        count,
                        {GPU: draw(st.integers(1, 3)) * 1000},
                        min_count=draw(st.none() | st.integers(1, count)),
                    )
                )
            arrivals.append(
                Workload(
                    key=f"ns/w{serial}",
                    cluster_queue=draw(st.sampled_from([q.name for q in queues])),
                    pod_sets=tuple(sets),
                    priority=draw(st.integers(0, 3)) * (1 + r),
                    created=float(r * 10 + serial),
                )
            )
        rounds.append(arrivals)
    node_list: list[Node] = []
    placed = draw(st.booleans())
    if placed:
        for f in FLAVORS:
            for i in range(draw(st.integers(1, 4))):
                gpus = draw(st.integers(2, 8))
                node_list.append(Node(f"{f}-{i}", {LABEL: f}, {GPU: gpus * 1000}))
    snap = Snapshot(
        cluster_queues={q.name: q for q in queues},
        flavors=flavors(*FLAVORS),
        nodes=tuple(node_list),
        fair_sharing=draw(st.booleans()),
        cohorts=draw(cohort_trees()),
    )
    return snap, rounds, placed


@st.composite
def cohort_trees(draw: st.DrawFn) -> dict[str, Cohort]:
    """None (flat cohorts), or c0 and c1 under a root, with quota and limits of their own."""
    if not draw(st.booleans()):
        return {}

    def quota() -> tuple[ResourceGroup, ...]:
        nominal = draw(st.integers(0, 6))
        q = Quota(
            nominal * 1000,
            draw(st.none() | st.integers(0, 6).map(lambda v: v * 1000)),
            draw(st.none() | st.integers(0, nominal).map(lambda v: v * 1000)),
        )
        return (ResourceGroup((GPU,), (FlavorQuota("h100", {GPU: q}),)),)

    return {
        "root": Cohort("root", None, quota()),
        "c0": Cohort("c0", "root", quota()),
        "c1": Cohort("c1", "root", quota()),
    }


def check(snap: Snapshot, d: Decisions, placed: bool) -> None:
    # Every pending workload has exactly one outcome.
    outcomes = Counter([a.workload.key for a in d.admitted] + [p.workload.key for p in d.pending])
    assert outcomes == Counter(w.key for w in snap.pending)
    victims = [p.victim.workload.key for p in d.preempted]
    assert len(victims) == len(set(victims))
    assert set(victims) <= {a.workload.key for a in snap.admitted}

    # No half admission.
    for adm in d.admitted:
        assert [ps.name for ps in adm.pod_sets] == [ps.name for ps in adm.workload.pod_sets]
        for got, spec in zip(adm.pod_sets, adm.workload.pod_sets, strict=True):
            # Whole, or shrunk by partial admission but never below minCount.
            assert (spec.min_count or spec.count) <= got.count <= spec.count
            assert set(got.flavors) == {r for r, v in spec.requests.items() if v > 0}
            assert dict(got.usage) == {r: v * got.count for r, v in spec.requests.items() if v}
            if placed:
                assert got.nodes is not None and sum(got.nodes.values()) == got.count
                for node in got.nodes:
                    assert node.startswith(got.flavors[GPU] + "-")

    # Limits hold for what stays admitted + new admissions + room held by preemptors.
    quota = QuotaState(snap.cluster_queues, snap.cohorts)
    staying = [a for a in snap.admitted if a.workload.key not in set(victims)]
    for a in staying:
        quota.add(a.workload.cluster_queue, a.usage())
    for adm in d.admitted:
        quota.add(adm.cluster_queue, adm.admitted(0).usage())
    for p in d.pending:
        if p.reason == "Preempting":
            assert p.reserved
            quota.add(p.workload.cluster_queue, p.reserved)
        else:
            assert not p.reserved
    for node, parent in quota.parent.items():
        for fr, size in quota.subtree[node].items():
            used = quota.used(node, fr)
            q = quota.quotas[node].get(fr)
            if parent is None:
                assert used <= size, (node, fr)
            elif q is not None and q.borrowing_limit is not None:
                assert used <= size + q.borrowing_limit, (node, fr)

    # Nodes are never over-committed by admitted workloads.
    if placed:
        nodes = NodeState(snap.nodes, [*staying, *(a.admitted(0) for a in d.admitted)])
        assert all(v >= 0 for free in nodes.free.values() for v in free.values())

    # StrictFIFO never admits past a head it did not admit.
    admitted_keys = {a.workload.key for a in d.admitted}
    for name, cq in snap.cluster_queues.items():
        if cq.strategy != "StrictFIFO":
            continue
        order = sorted(
            (w for w in snap.pending if w.cluster_queue == name),
            key=lambda w: (-w.priority, w.created, w.key),
        )
        flags = [w.key in admitted_keys for w in order]
        assert flags == sorted(flags, reverse=True)


# QD_HYPOTHESIS_EXAMPLES=5000 for a longer hunt; the default keeps the unit run fast.
@settings(
    max_examples=int(os.environ.get("QD_HYPOTHESIS_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(scenarios(), st.data())
def test_invariants_hold_over_consecutive_cycles(
    scenario: tuple[Snapshot, list[list[Workload]], bool], data: st.DataObject
) -> None:
    snap, rounds, placed = scenario
    placer = (
        GpuPlacer(data.draw(st.sampled_from(["bestfit", "packing", "random"]))) if placed else None
    )
    for now, arrivals in enumerate(rounds):
        snap = Snapshot(
            cluster_queues=snap.cluster_queues,
            flavors=snap.flavors,
            admitted=snap.admitted,
            pending=snap.pending + tuple(arrivals),
            nodes=snap.nodes,
            fair_sharing=snap.fair_sharing,
            now=float(now),
        )
        d = cycle(snap, placer)
        check(snap, d, placed)
        for kind in {p.reason for p in d.pending} | ({"Preempted"} if d.preempted else set()):
            event(kind)
        snap = apply(snap, d, now=float(now))
        if snap.admitted:
            keys = [a.workload.key for a in snap.admitted]
            finished = data.draw(st.sets(st.sampled_from(keys)))
            snap = Snapshot(
                cluster_queues=snap.cluster_queues,
                flavors=snap.flavors,
                admitted=tuple(a for a in snap.admitted if a.workload.key not in finished),
                pending=snap.pending,
                nodes=snap.nodes,
                fair_sharing=snap.fair_sharing,
                now=snap.now,
            )
