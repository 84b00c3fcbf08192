"""Placement: hand-checked fragmentation, scorer choices, gang and topology rules."""

from __future__ import annotations

import numpy as np
import pytest

from quarterdeck.placement import (
    POLICIES,
    ClusterState,
    FragmentationGradient,
    Gang,
    NodeSpec,
    PlacementError,
    PodPlacement,
    Request,
    TargetWorkload,
    Topology,
    TopologyConstraint,
    cluster_fragmentation,
    commit,
    place,
    release,
    scorer_named,
)
from quarterdeck.placement.fragmentation import capacity_fragmentation, fragmentation

SHARE = Request(4000, 8192, 1, 500)
WHOLE = Request(4000, 8192, 1, 1000)
TWO = Request(4000, 8192, 2, 1000)


def _put(cluster: ClusterState, request: Request, policy: str = "bestfit", seed: int = 0) -> None:
    podset = Gang(request)
    got = place(cluster, podset, scorer_named(policy), np.random.default_rng(seed))
    assert got is not None
    commit(cluster, podset, got)


def _node(name: str, gpus: int = 2, model: str = "T4", **labels: str) -> NodeSpec:
    return NodeSpec(name, 32000, 65536, gpus, model, tuple(sorted(labels.items())))


def test_fragmentation_matches_the_definition_by_hand() -> None:
    cluster = ClusterState([_node("a")])
    _put(cluster, Request(4000, 8192, 1, 700))
    # GPUs now free: [300, 1000]. A 500 share fits; GPU 0 (300 < 500) is its fragment.
    assert cluster_fragmentation(TargetWorkload.from_requests([SHARE]), cluster)[0] == 300
    # A whole GPU fits; the partly used GPU is its fragment.
    assert cluster_fragmentation(TargetWorkload.from_requests([WHOLE]), cluster)[0] == 300
    # Two whole GPUs do not fit: all 1300 free milli are fragments.
    assert cluster_fragmentation(TargetWorkload.from_requests([TWO]), cluster)[0] == 1300
    # Popularity weights: half SHARE, half TWO.
    mixed = TargetWorkload.from_requests([SHARE, TWO])
    assert cluster_fragmentation(mixed, cluster)[0] == pytest.approx(800)


def test_capacity_fragmentation_counts_gpus_left_without_cpu() -> None:
    cluster = ClusterState([NodeSpec("a", 5000, 65536, 2, "T4")])
    share = Request(2000, 1024, 1, 500)
    work = TargetWorkload.from_requests([share])
    args = (cluster.cpu_free, cluster.mem_free, cluster.gpu_free, cluster.model_idx)
    allowed = work.allowed(cluster.models)
    # One share fits, so FGD sees no fragment; CPU lets only two in: 1000 of 2000 idle.
    assert fragmentation(work, allowed, *args)[0] == 0
    assert capacity_fragmentation(work, allowed, *args)[0] == 1000


def test_fragmentation_counts_everything_when_cpu_runs_out() -> None:
    cluster = ClusterState([NodeSpec("a", 5000, 65536, 2, "T4")])
    _put(cluster, Request(2000, 0))
    assert cluster_fragmentation(TargetWorkload.from_requests([SHARE]), cluster)[0] == 2000


def test_fgd_prefers_the_gpu_that_leaves_no_sliver() -> None:
    cluster = ClusterState([_node("a"), _node("b")])
    half = Gang(Request(1000, 1024, 1, 500))
    _put(cluster, half.request)
    fgd = FragmentationGradient(TargetWorkload.from_requests([SHARE, WHOLE]))
    got = place(cluster, half, fgd)
    assert got is not None
    # Pairing the two halves on one GPU keeps three whole GPUs free.
    pod = got.pods[0]
    assert cluster.gpu_free[pod.node, pod.gpus[0]] == 500


def test_fgd_cf_breaks_fgd_ties_by_capacity_growth() -> None:
    # A CPU-only pod leaves FGD's measure unchanged on both nodes (one 8-CPU GPU task
    # still fits either way), so FGD ties and takes the first name; on the CPU-poor
    # node it also leaves a GPU no task can be fed for, on the CPU-rich one nothing.
    nodes = [NodeSpec("a", 16000, 65536, 8, "T4"), NodeSpec("b", 128000, 65536, 8, "T4")]
    workload = TargetWorkload.from_requests([Request(8000, 0, 1, 1000)])
    cpu_only = Gang(Request(8000, 0, 0, 0))
    for policy, node in (("fgd", 0), ("fgd-cf", 1)):
        got = place(ClusterState(nodes), cpu_only, scorer_named(policy, workload))
        assert got is not None and got.pods[0].node == node, policy


def test_fgd_memo_gives_the_same_answer_as_fresh_computation() -> None:
    specs = [_node(f"n{i}", gpus=4, model="V100M16") for i in range(6)]
    work = TargetWorkload.from_requests([SHARE, WHOLE, TWO, Request(1000, 1024)])
    cluster, memo = ClusterState(specs), FragmentationGradient(work)
    rng = np.random.default_rng(3)
    for req in [SHARE, WHOLE, SHARE, TWO, Request(1000, 1024, 1, 300), SHARE, WHOLE]:
        cand = cluster.fits(req)
        fresh = FragmentationGradient(work).deltas(cluster, req, cand)
        assert np.allclose(memo.deltas(cluster, req, cand), fresh)
        pod = memo.choose(cluster, req, cand, rng)
        assert pod is not None
        cluster.bind(req, pod)


def test_best_fit_picks_the_fullest_node() -> None:
    cluster = ClusterState([_node("a"), _node("b")])
    _put(cluster, WHOLE, "random", seed=1)
    used = int(np.flatnonzero(cluster.gpu_free.sum(axis=1) < 2000)[0])
    got = place(cluster, Gang(WHOLE), scorer_named("bestfit"))
    assert got is not None and got.pods[0].node == used


def test_score_ties_go_to_the_lowest_tie_rank() -> None:
    nodes = [_node("b"), _node("a"), _node("c")]
    by_name = place(ClusterState(nodes), Gang(WHOLE), scorer_named("packing"))
    assert by_name is not None and by_name.pods[0].node == 1  # "a": the smallest name
    ranked = ClusterState(nodes, tie_rank=np.array([2, 1, 0]))
    got = place(ranked, Gang(WHOLE), scorer_named("packing"))
    assert got is not None and got.pods[0].node == 2
    with pytest.raises(PlacementError, match="permutation"):
        ClusterState(nodes, tie_rank=np.array([0, 0, 1]))


def test_gang_is_whole_or_nothing_and_place_does_not_mutate() -> None:
    cluster = ClusterState([_node("a"), _node("b")])
    before = cluster.gpu_free.copy()
    assert place(cluster, Gang(WHOLE, count=5), scorer_named("bestfit")) is None
    got = place(cluster, Gang(WHOLE, count=4), scorer_named("bestfit"))
    assert got is not None and len(got.pods) == 4
    assert (cluster.gpu_free == before).all()
    commit(cluster, Gang(WHOLE, count=4), got)
    assert cluster.gpu_allocated_milli == 4000
    release(cluster, Gang(WHOLE, count=4), got)
    assert (cluster.gpu_free == before).all()


def test_required_topology_keeps_the_gang_in_one_domain() -> None:
    specs = [_node("a", rack="r1"), _node("b", rack="r1"), _node("c", rack="r2", gpus=4)]
    cluster = ClusterState(specs)
    gang = Gang(TWO, count=2, topology=TopologyConstraint("rack"))
    got = place(cluster, gang, scorer_named("bestfit"))
    assert got is not None
    assert {specs[n].label("rack") for n in got.nodes()} == {got.domain}
    too_big = Gang(TWO, count=3, topology=TopologyConstraint("rack"))
    assert place(cluster, too_big, scorer_named("bestfit")) is None
    loose = Gang(TWO, count=3, topology=TopologyConstraint("rack", Topology.PREFERRED))
    spread = place(cluster, loose, scorer_named("bestfit"))
    assert spread is not None and spread.domain is None


def test_gpu_models_and_mig_are_respected() -> None:
    cluster = ClusterState([_node("t4"), _node("p100", model="P100")])
    only_p100 = Request(1000, 1024, 1, 1000, frozenset({"P100"}))
    for name in POLICIES:
        work = TargetWorkload.from_requests([only_p100])
        got = place(cluster, Gang(only_p100, count=2), scorer_named(name, work))
        assert got is not None and set(got.nodes()) == {1}
    mig_node = NodeSpec("m", 32000, 65536, mig=(("1g.10gb", 2),))
    mig = ClusterState([mig_node, _node("x")])
    req = Request(1000, 1024, mig_profile="1g.10gb")
    assert place(mig, Gang(req, count=3), scorer_named("bestfit")) is None
    got = place(mig, Gang(req, count=2), scorer_named("bestfit"))
    assert got is not None and got.nodes() == (0, 0)


def test_bad_requests_and_nodes_are_refused() -> None:
    with pytest.raises(PlacementError):
        Request(1000, 1024, 2, 500)
    with pytest.raises(PlacementError):
        Request(-1, 1024)
    with pytest.raises(PlacementError):
        Request(1000, 1024, 0, 300)
    with pytest.raises(PlacementError, match="duplicate node"):
        ClusterState([_node("a"), _node("a")])
    with pytest.raises(PlacementError, match="unknown policy"):
        scorer_named("nope")
    with pytest.raises(PlacementError, match="needs a target workload"):
        scorer_named("fgd")
    cluster = ClusterState([_node("a")])
    with pytest.raises(PlacementError, match="does not match"):
        cluster.bind(WHOLE, PodPlacement(0, (5,)))
    cluster.bind(WHOLE, PodPlacement(0, (0,)))
    with pytest.raises(PlacementError, match="lack"):
        cluster.bind(SHARE, PodPlacement(0, (0,)))
