"""Invariants of placement under random clusters and request streams (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from quarterdeck.placement import (
    MILLI_PER_GPU,
    POLICIES,
    ClusterState,
    Gang,
    NodeSpec,
    PodPlacement,
    Request,
    TargetWorkload,
    TopologyConstraint,
    commit,
    place,
    scorer_named,
)

MODELS = ("T4", "P100", "G2")

nodes = st.lists(
    st.builds(
        lambda cpu, mem, gpus, model, rack: (cpu, mem, gpus, model, rack),
        st.integers(0, 64_000),
        st.integers(0, 262_144),
        st.sampled_from([0, 1, 2, 4, 8]),
        st.sampled_from(MODELS),
        st.sampled_from(["r1", "r2", "r3"]),
    ),
    min_size=1,
    max_size=8,
)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    cpu = draw(st.integers(0, 32_000))
    mem = draw(st.integers(0, 131_072))
    models = frozenset(draw(st.sets(st.sampled_from(MODELS), max_size=2)))
    kind = draw(st.sampled_from(["cpu", "share", "whole"]))
    if kind == "cpu":
        return Request(cpu, mem)
    if kind == "share":
        return Request(cpu, mem, 1, draw(st.integers(1, 999)), models)
    return Request(cpu, mem, draw(st.sampled_from([1, 2, 4, 8])), MILLI_PER_GPU, models)


gangs = st.builds(
    Gang,
    requests(),
    st.integers(1, 4),
    st.sampled_from([None, TopologyConstraint("rack")]),
)


def _cluster(shape: list[tuple[int, int, int, str, str]]) -> ClusterState:
    return ClusterState(
        [
            NodeSpec(f"n{i}", cpu, mem, gpus, model, (("rack", rack),))
            for i, (cpu, mem, gpus, model, rack) in enumerate(shape)
        ]
    )


@settings(max_examples=60, deadline=None)
@given(
    nodes, st.lists(gangs, min_size=1, max_size=12), st.sampled_from(POLICIES), st.integers(0, 9)
)
def test_no_overcommit_gangs_whole_models_respected(
    shape: list[tuple[int, int, int, str, str]], stream: list[Gang], policy: str, seed: int
) -> None:
    cluster = _cluster(shape)
    scorer = scorer_named(policy, TargetWorkload.from_requests(g.request for g in stream))
    rng = np.random.default_rng(seed)
    bound: list[tuple[Gang, int]] = []
    for gang in stream:
        free_before = cluster.gpu_free.copy()
        got = place(cluster, gang, scorer, rng)
        assert (cluster.gpu_free == free_before).all()  # place() decides, never acts
        if got is None:
            continue
        assert len(got.pods) == gang.count  # whole gang
        req = gang.request
        for pod in got.pods:
            spec = cluster.specs[pod.node]
            if req.gpu_count and req.gpu_models:
                assert spec.gpu_model in req.gpu_models
            if gang.topology is not None:
                assert spec.label("rack") == got.domain
        commit(cluster, gang, got)  # bind itself refuses any over-commit
        bound.append((gang, len(got.pods)))
        assert (cluster.cpu_free >= 0).all() and (cluster.mem_free >= 0).all()
        assert ((cluster.gpu_free >= 0) & (cluster.gpu_free <= MILLI_PER_GPU)).all()
    asked = sum(g.request.gpu_demand_milli * n for g, n in bound)
    assert cluster.gpu_allocated_milli == asked
    assert int((cluster.cpu_cap - cluster.cpu_free).sum()) == sum(
        g.request.cpu_milli * n for g, n in bound
    )


@settings(max_examples=40, deadline=None)
@given(nodes, gangs)
def test_refused_gang_really_does_not_fit_pod_by_pod_anywhere(
    shape: list[tuple[int, int, int, str, str]], gang: Gang
) -> None:
    cluster = _cluster(shape)
    if place(cluster, gang, scorer_named("bestfit")) is None and gang.topology is None:
        # Even the single pod or the gang count exceeds what fits (greedy is exact for
        # identical pods when whole GPUs are packed first-fit per node).
        fits_per_node = 0
        for n in range(len(cluster)):
            c = cluster.copy()
            while c.fits(gang.request)[n]:
                gpus = c.whole_gpus(n, gang.request.gpu_count)
                if gang.request.is_shared:
                    gpus = (int(np.argmax(c.gpu_free[n])),)
                c.bind(gang.request, PodPlacement(n, gpus))
                fits_per_node += 1
        assert fits_per_node < gang.count
