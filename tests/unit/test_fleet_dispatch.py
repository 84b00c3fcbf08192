"""Choosing the worker cluster for a GPU gang: whole or not at all, least fragmentation."""

from __future__ import annotations

from typing import Any

from quarterdeck.fleet.dispatch import choose_worker, free_state, gang_of


def node(name: str, gpus: int, cpu: str = "64", product: str = "NVIDIA-H100") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"nvidia.com/gpu.product": product}},
        "status": {
            "allocatable": {"cpu": cpu, "memory": "512Gi", "nvidia.com/gpu": str(gpus)},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pod(node_name: str, gpus: int, phase: str = "Running") -> dict[str, Any]:
    res = {"requests": {"cpu": "1", "nvidia.com/gpu": str(gpus)}}
    return {
        "spec": {"nodeName": node_name, "containers": [{"resources": res}]},
        "status": {"phase": phase},
    }


TEMPLATE = {
    "spec": {
        "containers": [
            {"resources": {"requests": {"cpu": "2", "memory": "1Gi", "nvidia.com/gpu": "4"}}}
        ]
    }
}


def test_the_gang_goes_where_it_fits_whole() -> None:
    busy = free_state([node("a0", 8)], [pod("a0", 6), pod("a0", 2, phase="Succeeded")])
    idle = free_state([node("b0", 8)], [])
    choice = choose_worker({"a": busy, "b": idle}, gang_of(TEMPLATE, 2))
    assert choice.worker == "b"
    assert "does not fit whole" in choice.reasons["a"] and choice.reasons["b"].startswith("fits")


def test_a_gang_split_across_too_small_nodes_is_refused() -> None:
    split = free_state([node("c0", 3), node("c1", 3)], [])
    choice = choose_worker({"c": split}, gang_of(TEMPLATE, 2))
    assert choice.worker == "" and "does not fit whole" in choice.reasons["c"]


def test_the_least_fragmenting_worker_wins_not_the_first() -> None:
    # "a" would be left with 4 GPUs on a node (room for another gang pod) and 3 odd ones
    # elsewhere; "b" fits exactly. Both accept the gang; b leaves nothing stranded.
    a = free_state([node("a0", 8), node("a1", 3)], [])
    b = free_state([node("b0", 4), node("b1", 4)], [])
    choice = choose_worker({"a": a, "b": b}, gang_of(TEMPLATE, 2))
    assert choice.worker == "b"


def test_cordoned_and_not_ready_nodes_offer_nothing() -> None:
    cordoned = {**node("d0", 8), "spec": {"unschedulable": True}}
    down = node("d1", 8)
    down["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    assert len(free_state([cordoned, down], [])) == 0
