"""QueueingConfig: checked with the field named, applied to snapshots, builds the placer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from quarterdeck.api.queueing import load_manifests
from quarterdeck.placement import Request
from quarterdeck.queueing.config import (
    DEFAULT,
    ConfigError,
    config_from_document,
    config_from_objects,
    configure,
    load_config_file,
    placer_from,
)
from quarterdeck.queueing.cycle import cycle
from quarterdeck.queueing.model import (
    AdmittedWorkload,
    ClusterQueue,
    Flavor,
    FlavorQuota,
    Node,
    PodSet,
    PodSetAdmission,
    Quota,
    ResourceGroup,
    Snapshot,
    Workload,
)

GPU = "nvidia.com/gpu"


def _doc(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "queueing.quarterdeck.dev/v1alpha1",
        "kind": "QueueingConfig",
        "metadata": {"name": "default"},
        "spec": spec,
    }


def test_a_full_config_is_read_as_written() -> None:
    got = config_from_document(
        _doc(
            {
                "placement": {
                    "policy": "fgd",
                    "seed": 3,
                    "targetWorkload": {
                        "recentAdmitted": 50,
                        "fallback": [{"requests": {"cpu": "4", GPU: "500m"}, "weight": 2}],
                    },
                },
                "fairSharing": {
                    "enable": True,
                    "preemptionStrategies": ["LessThanInitialShare"],
                    "weights": {"team-a": "2", "team-b": 0.5},
                },
                "staging": {"enable": True},
            }
        )
    )
    assert got.staging and not config_from_document(_doc({})).staging
    assert (got.policy, got.seed, got.recent_admitted) == ("fgd", 3, 50)
    assert got.fallback == ((Request(4000, 0, 1, 500), 2.0),)
    assert got.fair_sharing and got.preemption_strategies == ("LessThanInitialShare",)
    assert got.weights == {"team-a": 2.0, "team-b": 0.5}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"placement": {"policy": "tetris"}}, "spec.placement.policy: unknown policy 'tetris'"),
        ({"fairSharing": {"weights": {"team-a": "-1"}}}, "spec.fairSharing.weights.team-a"),
        (
            {"placement": {"targetWorkload": {"fallback": [{"requests": {}, "weight": -2}]}}},
            "spec.placement.targetWorkload.fallback[0].weight",
        ),
        (
            {"fairSharing": {"preemptionStrategies": ["Fastest"]}},
            "spec.fairSharing.preemptionStrategies",
        ),
        ({"placement": {"targetWorkload": {"recentAdmitted": 0}}}, "recentAdmitted"),
        ({"placement": {"seed": "x"}}, "spec.placement.seed"),
        ({"staging": {"enable": "yes"}}, "spec.staging.enable"),
    ],
)
def test_bad_input_is_refused_with_the_field_named(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_document(_doc(spec))
    assert field in str(err.value) and "\n" not in str(err.value)


def test_the_file_and_the_cluster_object_read_alike(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "apiVersion: queueing.quarterdeck.dev/v1alpha1\nkind: QueueingConfig\n"
        "metadata: {name: default}\nspec: {placement: {policy: fgd-bf}}\n"
    )
    assert load_config_file(path).policy == "fgd-bf"
    other = _doc({"placement": {"policy": "fgd"}}) | {"metadata": {"name": "other"}}
    assert config_from_objects([other]) == DEFAULT
    assert config_from_objects([other, _doc({"placement": {"policy": "fgd"}})]).policy == "fgd"
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_file(tmp_path / "missing.yaml")


def _quota(gpus: int) -> tuple[ResourceGroup, ...]:
    res = {"cpu": Quota(64_000), GPU: Quota(gpus * 1000)}
    return (ResourceGroup(("cpu", GPU), (FlavorQuota("f", res),)),)


def test_configure_turns_fair_sharing_on_with_the_weights() -> None:
    snap = Snapshot({"a": ClusterQueue("a", _quota(8), cohort="c")}, {"f": Flavor("f")})
    config = config_from_document(_doc({"fairSharing": {"enable": True, "weights": {"a": 3}}}))
    got = configure(snap, config)
    assert got.fair_sharing and got.cluster_queues["a"].weight == 3.0
    assert not snap.fair_sharing  # the input is not changed


def _gpu_nodes(n: int) -> tuple[Node, ...]:
    return tuple(
        Node(f"n{i}", {"nvidia.com/gpu.product": "H100"}, {"cpu": 64_000, GPU: 8000})
        for i in range(n)
    )


def test_fgd_runs_live_learning_its_target_from_admitted_workloads() -> None:
    """fgd used to raise PlacementError in the controller (no target workload)."""
    placer = placer_from(config_from_document(_doc({"placement": {"policy": "fgd"}})))
    assert placer.target().keys[0][1:3] == (1, 1000)  # fallback: one whole GPU
    queues = {"a": ClusterQueue("a", _quota(16))}
    half = Workload("ns/half", "a", (PodSet("main", 1, {"cpu": 1000, GPU: 500}),))
    running = AdmittedWorkload(
        half, (PodSetAdmission("main", 1, {"cpu": "f", GPU: "f"}, {GPU: 500}, {"n0": 1}),)
    )
    whole = Workload("ns/whole", "a", (PodSet("main", 1, {"cpu": 1000, GPU: 1000}),))
    on_n1 = AdmittedWorkload(
        whole, (PodSetAdmission("main", 1, {"cpu": "f", GPU: "f"}, {GPU: 1000}, {"n1": 1}),)
    )
    pending = Workload("ns/next", "a", (PodSet("main", 1, {"cpu": 1000, GPU: 500}),))
    snap = Snapshot(queues, {"f": Flavor("f")}, (running, on_n1), (pending,), _gpu_nodes(2))
    got = cycle(snap, placer)
    assert [a.workload.key for a in got.admitted] == ["ns/next"]
    # Learned from the admitted pods: half a GPU and a whole one, equally often.
    assert {k[2] for k in placer.target().keys} == {500, 1000}
    # FGD fills the half-used GPU: a fresh half would strand 500m for whole-GPU pods.
    devices = got.admitted[0].pod_sets[0].devices
    assert devices is not None and devices[0].node == "n0" and devices[0].gpus == (0,)


def test_kueue_spec_less_flavor_and_cohort_load() -> None:
    objs = load_manifests(
        "apiVersion: kueue.x-k8s.io/v1beta2\nkind: ResourceFlavor\n"
        "metadata: {name: default-flavor}\n"
        "---\napiVersion: kueue.x-k8s.io/v1beta2\nkind: Cohort\nmetadata: {name: org}\n"
    )
    assert [o.metadata.name for o in objs] == ["default-flavor", "org"]


def test_a_config_file_is_read_as_every_manifest_is(tmp_path: Path) -> None:
    """One YAML reader: errors say file:line:column, and an alias bomb is refused."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("spec:\n  placement: [fgd\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml:3:\d+: invalid YAML"):
        load_config_file(broken)
    bomb = tmp_path / "bomb.yaml"
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    bomb.write_text("\n".join(levels) + "\n")
    with pytest.raises(ConfigError, match=r"bomb\.yaml"):
        load_config_file(bomb)
