"""The queueing cycle admits through `quarterdeck.placement` (real cycle, real placer)."""

from __future__ import annotations

from quarterdeck.placement.for_queueing import GPU, QueueingPlacer
from quarterdeck.queueing.model import Node, PodSet
from quarterdeck.queueing.nodes import NodeCapacity, NodeState, Placement

GI = 1024**3 * 1000


def _nodes() -> list[Node]:
    return [
        Node(f"n{i}", {"rack": f"r{i // 2}"}, {"cpu": 32_000, "memory": 128 * GI, GPU: 4000})
        for i in range(4)
    ]


def test_gang_is_placed_whole_inside_one_rack_and_checked_by_the_cycle() -> None:
    placement = Placement(NodeState(_nodes()), QueueingPlacer())
    gang = PodSet(
        "workers", 3, {"cpu": 4000, "memory": 8 * GI, GPU: 2000}, topology_required="rack"
    )
    got, why = placement.place([], gang)
    assert why == "" and got is not None and sum(got.values()) == 3
    assert len({int(n[1:]) // 2 for n in got}) == 1  # one rack
    too_big = PodSet("big", 5, {"cpu": 4000, GPU: 2000}, topology_required="rack")
    assert placement.place([], too_big)[0] is None


def test_respects_free_capacity_reported_by_the_cycle() -> None:
    caps = [NodeCapacity("a", {}, {"cpu": 8000, GPU: 2000}, {"cpu": 8000, GPU: 1000})]
    placer = QueueingPlacer()
    assert placer(caps, PodSet("p", 1, {"cpu": 1000, GPU: 1000})) == {"a": 1}
    assert placer(caps, PodSet("p", 2, {"cpu": 1000, GPU: 1000})) is None
