"""Placement-aware admission: quota is not enough, the gang must fit on real nodes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from queueing_scenarios import GPU, LABEL, job, nodes, queue, running, world

from quarterdeck.queueing import (
    FlavorQuota,
    FunctionPlacer,
    GpuPlacer,
    Node,
    NodeCapacity,
    PodSet,
    Quota,
    ResourceGroup,
    apply,
    cycle,
)

BEST_FIT = GpuPlacer("bestfit")


def test_gang_that_fits_quota_but_not_nodes_is_not_admitted_and_says_why() -> None:
    # 16 GPUs of quota, 8 nodes with 2 GPUs each: 4 pods x 4 GPUs never fit on a node.
    snap = world([queue("a", 16)], [job("n/gang", "a", 4, count=4)], node_list=nodes("h100", 8, 2))
    assert [a.workload.key for a in cycle(snap).admitted] == ["n/gang"]  # quota alone: admitted
    d = cycle(snap, placer=BEST_FIT)
    assert d.admitted == ()
    (p,) = d.pending
    assert p.reason == "Pending"
    assert p.message == (
        "flavor h100 has quota but 8 matching nodes hold 0 of 4 pods (at most 0 on one node)"
    )


def test_admission_carries_pods_per_node_and_respects_free_capacity() -> None:
    snap = world(
        [queue("a", 16)],
        [job("n/1", "a", 4, count=2), job("n/2", "a", 4, count=2, created=1)],
        node_list=nodes("h100", 3, 4),
    )
    d = cycle(snap, placer=BEST_FIT)
    assert [a.workload.key for a in d.admitted] == ["n/1"]
    placed = d.admitted[0].pod_sets[0].nodes
    assert placed is not None and sum(placed.values()) == 2
    assert "3 matching nodes hold 1 of 2 pods" in d.pending[0].message


def test_next_flavor_is_tried_when_the_first_cannot_be_placed() -> None:
    snap = world(
        [queue("a", {"h100": 8, "a100": 8})],
        [job("n/1", "a", 4)],
        node_list=[*nodes("h100", 4, 2), *nodes("a100", 1, 8)],
    )
    d = cycle(snap, placer=BEST_FIT)
    (adm,) = d.admitted
    assert adm.pod_sets[0].flavors[GPU] == "a100"
    assert adm.pod_sets[0].nodes == {"a100-0": 1}


def test_existing_pods_and_other_users_take_node_capacity() -> None:
    node_list = nodes("h100", 2, 4)
    busy = running(job("n/run", "a", 4), nodes={"h100-0": 1})
    snap = world([queue("a", 16)], [job("n/1", "a", 4, count=2)], [busy], node_list=node_list)
    assert cycle(snap, placer=BEST_FIT).admitted == ()


def test_required_topology_keeps_the_gang_in_one_rack() -> None:
    node_list = nodes("h100", 4, 2, rack_size=2)  # two racks of two 2-GPU nodes
    snap = world(
        [queue("a", 8)], [job("n/1", "a", 2, count=2, topology="rack")], node_list=node_list
    )
    (adm,) = cycle(snap, placer=BEST_FIT).admitted
    placed = adm.pod_sets[0].nodes or {}
    racks = {next(n for n in node_list if n.name == name).labels["rack"] for name in placed}
    assert len(racks) == 1
    three = world(
        [queue("a", 8)], [job("n/1", "a", 2, count=3, topology="rack")], node_list=node_list
    )
    assert cycle(three, placer=BEST_FIT).admitted == ()


def test_preemption_frees_the_nodes_the_victims_used() -> None:
    node_list = nodes("h100", 1, 8)
    low = running(job("n/low", "a", 8), nodes={"h100-0": 1})
    snap = world(
        [queue("a", 8, within="LowerPriority")],
        [job("n/high", "a", 8, priority=5)],
        [low],
        node_list=node_list,
    )
    d = cycle(snap, placer=BEST_FIT)
    assert [p.victim.workload.key for p in d.preempted] == ["n/low"]
    nxt = cycle(apply(snap, d, now=1), placer=BEST_FIT)
    assert [a.workload.key for a in nxt.admitted] == ["n/high"]
    assert nxt.admitted[0].pod_sets[0].nodes == {"h100-0": 1}


def test_a_placer_that_lies_cannot_overcommit_nodes() -> None:
    def greedy(nodes: Sequence[NodeCapacity], pod_set: PodSet) -> Mapping[str, int] | None:
        return {nodes[0].name: pod_set.count} if nodes else None

    snap = world([queue("a", 16)], [job("n/1", "a", 4, count=2)], node_list=nodes("h100", 2, 4))
    d = cycle(snap, placer=FunctionPlacer(greedy))
    assert d.admitted == ()
    assert "placer returned an invalid placement" in d.pending[0].message


def test_untolerated_flavor_taint_rules_the_flavor_out() -> None:
    from quarterdeck.api.queueing.meta import Taint

    snap = world([queue("a", 8)], [job("n/1", "a", 1)])
    tainted = dict(snap.flavors)
    tainted["h100"] = replace(tainted["h100"], taints=(Taint(key="gpu", effect="NoSchedule"),))
    d = cycle(replace(snap, flavors=tainted))
    assert d.pending[0].reason == "Inadmissible"
    assert d.pending[0].message == "flavor h100: untolerated taint gpu=:NoSchedule"
    assert LABEL in snap.flavors["h100"].node_labels


def _gpu_node(name: str, alloc: dict[str, int], used: dict[str, int] | None = None) -> Node:
    return Node(name, {LABEL: "h100"}, alloc, used or {})


def test_shares_of_one_gpu_pack_onto_the_same_device() -> None:
    node_list = [_gpu_node("n0", {GPU: 1000, "cpu": 8000})]
    half = [
        job(f"n/half{i}", "a", pod_sets=[PodSet("main", 1, {GPU: 500})], created=i)
        for i in range(3)
    ]
    d = cycle(world([queue("a", 8)], half, node_list=node_list), placer=BEST_FIT)
    assert [a.workload.key for a in d.admitted] == ["n/half0", "n/half1"]
    assert "1 matching nodes hold 0 of 1 pods" in d.pending[0].message


def test_mig_instances_are_counted_per_profile() -> None:
    mig = "nvidia.com/mig-1g.10gb"
    node_list = [_gpu_node("n0", {mig: 2000})]
    q = replace(
        queue("a", 8),
        resource_groups=(ResourceGroup((mig,), (FlavorQuota("h100", {mig: Quota(8000)}),)),),
    )
    wls = [
        job(f"n/m{i}", "a", pod_sets=[PodSet("main", 1, {mig: 1000})], created=i) for i in range(3)
    ]
    d = cycle(world([q], wls, node_list=node_list), placer=BEST_FIT)
    assert len(d.admitted) == 2


def test_pods_outside_queueing_take_their_gpus() -> None:
    node_list = [_gpu_node("n0", {GPU: 8000}, used={GPU: 6000})]
    d = cycle(world([queue("a", 8)], [job("n/1", "a", 4)], node_list=node_list), placer=BEST_FIT)
    assert d.admitted == ()
    d = cycle(world([queue("a", 8)], [job("n/1", "a", 2)], node_list=node_list), placer=BEST_FIT)
    assert d.admitted[0].pod_sets[0].nodes == {"n0": 1}


def test_pod_sets_of_one_gang_see_each_others_pods() -> None:
    node_list = nodes("h100", 2, 8)
    gang = job(
        "n/gang",
        "a",
        pod_sets=[PodSet("driver", 1, {GPU: 4000}), PodSet("workers", 3, {GPU: 4000})],
    )
    (adm,) = cycle(world([queue("a", 16)], [gang], node_list=node_list), placer=BEST_FIT).admitted
    per_node: dict[str, int] = {}
    for ps in adm.pod_sets:
        for node, pods in (ps.nodes or {}).items():
            per_node[node] = per_node.get(node, 0) + pods
    assert per_node == {"h100-0": 2, "h100-1": 2}
    bigger = replace(gang, pod_sets=(gang.pod_sets[0], PodSet("workers", 4, {GPU: 4000})))
    d = cycle(world([queue("a", 20)], [bigger], node_list=node_list), placer=BEST_FIT)
    assert d.admitted == () and d.pending[0].message.startswith("pod set workers:")
