"""Queueing API: Kueue manifests load, bad ones fail in one clear line, CRDs are structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from quarterdeck.api.queueing import (
    ClusterQueue,
    Cohort,
    LocalQueue,
    ManifestError,
    ResourceFlavor,
    Workload,
    WorkloadPriorityClass,
    all_crds,
    load_files,
    load_manifests,
    pod_requests,
)

EXAMPLES = Path(__file__).parents[2] / "examples" / "queueing"
EXAMPLE = EXAMPLES / "two-teams.yaml"
PRETRAIN = EXAMPLES / "pretrain.yaml"


def test_kueue_manifests_load_with_their_field_names() -> None:
    objs = load_files([EXAMPLE, PRETRAIN])
    kinds = [type(o).__name__ for o in objs]
    assert kinds.count("ClusterQueue") == 2 and "Workload" in kinds
    team_a, team_b = (o for o in objs if isinstance(o, ClusterQueue))
    assert team_a.spec.cohort_of == "research" and team_b.spec.cohort_of == "research"
    gpu = team_a.spec.resource_groups[0].flavors[0].resources[2]
    assert (gpu.name, gpu.nominal_quota, gpu.borrowing_limit) == ("nvidia.com/gpu", 8, 8)
    assert team_a.spec.preemption.within_cluster_queue == "LowerPriority"
    assert team_b.spec.flavor_fungibility.when_can_preempt == "TryNextFlavor"  # Kueue default
    flavor = next(o for o in objs if isinstance(o, ResourceFlavor))
    assert flavor.spec.node_taints[0].effect == "NoSchedule"
    wpc = next(o for o in objs if isinstance(o, WorkloadPriorityClass))
    assert wpc.value == 1000


def test_round_trip_keeps_camel_case_names() -> None:
    wl = next(o for o in load_files([EXAMPLE, PRETRAIN]) if isinstance(o, Workload))
    data = msgspec.to_builtins(wl)
    assert data["spec"]["podSets"][0]["count"] == 2
    assert data["spec"]["queueName"] == "training"
    assert msgspec.convert(data, Workload) == wl


def test_pod_requests_sum_containers_and_respect_init_containers() -> None:
    template = {
        "spec": {
            "initContainers": [{"resources": {"requests": {"cpu": "8"}}}],
            "containers": [
                {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
                {"resources": {"limits": {"nvidia.com/gpu": 2}}},
            ],
        }
    }
    assert pod_requests(template, "t") == {
        "cpu": 8000,
        "memory": 1024**3 * 1000,
        "nvidia.com/gpu": 2000,
    }


CQ = """
apiVersion: queueing.quarterdeck.dev/v1alpha1
kind: ClusterQueue
metadata: {name: q}
spec:
  resourceGroups:
  - coveredResources: [cpu]
    flavors:
    - name: f
      resources:
      - name: cpu
        nominalQuota: %s
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CQ % "-4", "resources[0].nominalQuota: negative quantity -4"),
        (CQ % "four", "nominalQuota: malformed quantity 'four'"),
        (CQ % "[1]", "Expected `int | float | str`, got `array`"),
        ("apiVersion: v1\nkind: ClusterQueue\nmetadata: {name: q}\n", "apiVersion 'v1'"),
        (
            "apiVersion: kueue.x-k8s.io/v1beta1\nkind: Queue\nmetadata: {name: q}\n",
            "unknown kind 'Queue'",
        ),
        ("a: [1\n", "<input>:2:1: invalid YAML"),
        ((CQ % "1") + "---\n" + (CQ % "2"), "duplicate ClusterQueue q"),
        (
            "apiVersion: kueue.x-k8s.io/v1beta1\nkind: ResourceFlavor\nmetadata: {}\n",
            "name is required",
        ),
        (
            "apiVersion: kueue.x-k8s.io/v1beta1\nkind: Workload\nmetadata: {name: w}\n"
            "spec: {podSets: [{name: a, count: 1}, {name: a, count: 1}]}\n",
            "duplicate pod set a",
        ),
        (
            "apiVersion: kueue.x-k8s.io/v1beta1\nkind: LocalQueue\nmetadata: {name: l}\nspec: {}\n",
            "Object missing required field `clusterQueue` - at `$.spec`",
        ),
    ],
)
def test_bad_manifests_fail_with_one_line_naming_the_place(text: str, message: str) -> None:
    with pytest.raises(ManifestError) as err:
        load_manifests(text)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_lending_limit_above_nominal_is_rejected() -> None:
    text = (CQ % "4") + "        lendingLimit: 5\n"
    with pytest.raises(ManifestError, match=r"resources\[0\]\.lendingLimit: exceeds nominalQuota"):
        load_manifests(text)


def _walk(schema: dict[str, Any], path: str) -> None:
    """Assert the structural-schema rules the API server enforces."""
    assert "$ref" not in schema and "anyOf" not in schema, path
    typed = (
        "type" in schema
        or schema.get("x-kubernetes-int-or-string")
        or schema.get("x-kubernetes-preserve-unknown-fields")
    )
    assert typed, f"{path} has no type"
    for name, child in schema.get("properties", {}).items():
        _walk(child, f"{path}.{name}")
    if "items" in schema:
        _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        _walk(schema["additionalProperties"], f"{path}{{}}")


def _covered(data: Any, schema: dict[str, Any], path: str) -> None:
    """Every field of a serialized object is declared in the schema (nothing pruned)."""
    if schema.get("x-kubernetes-preserve-unknown-fields") or not isinstance(data, dict | list):
        return
    if schema == {"type": "object"}:  # metadata: the API server owns its schema
        return
    if isinstance(data, list):
        for i, item in enumerate(data):
            _covered(item, schema["items"], f"{path}[{i}]")
        return
    for key, value in data.items():
        if "properties" in schema:
            assert key in schema["properties"], f"{path}.{key} would be pruned"
            _covered(value, schema["properties"][key], f"{path}.{key}")
        else:
            _covered(value, schema["additionalProperties"], f"{path}.{key}")


def test_generated_crds_are_structural_and_cover_the_objects() -> None:
    crds = {c["spec"]["names"]["kind"]: c for c in all_crds()}
    assert set(crds) == {
        "AdmissionCheck",
        "ProvisioningRequestConfig",
        "ResourceFlavor",
        "Topology",
        "ClusterQueue",
        "Cohort",
        "LocalQueue",
        "Workload",
        "WorkloadPriorityClass",
        "QueueingConfig",
    }
    for kind in ("ResourceFlavor", "Cohort", "ClusterQueue", "QueueingConfig"):
        # Kueue's spec-less default-flavor and Cohort must apply unchanged.
        assert crds[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["required"] == []
    for kind, c in crds.items():
        assert c["apiVersion"] == "apiextensions.k8s.io/v1"
        assert c["spec"]["group"] == "queueing.quarterdeck.dev"
        version = c["spec"]["versions"][0]
        assert version["name"] == "v1alpha1"
        _walk(version["schema"]["openAPIV3Schema"], kind)
    assert crds["LocalQueue"]["spec"]["scope"] == "Namespaced"
    assert crds["ClusterQueue"]["spec"]["scope"] == "Cluster"
    assert "status" in crds["Workload"]["spec"]["versions"][0]["subresources"]
    for obj in load_files([EXAMPLE, PRETRAIN]):
        schema = crds[obj.KIND]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        _covered(msgspec.to_builtins(obj), schema, obj.KIND)


def test_local_queue_requires_a_cluster_queue_name() -> None:
    lq = load_manifests(
        "apiVersion: queueing.quarterdeck.dev/v1alpha1\nkind: LocalQueue\n"
        "metadata: {name: l, namespace: ns}\nspec: {clusterQueue: q}\n"
    )[0]
    assert isinstance(lq, LocalQueue) and lq.spec.cluster_queue == "q"


def test_kueue_cohorts_load_in_both_spellings_and_reject_self_parents() -> None:
    text = (
        "apiVersion: kueue.x-k8s.io/v1alpha1\nkind: Cohort\nmetadata: {name: a}\n"
        "spec: {parent: org}\n---\n"
        "apiVersion: kueue.x-k8s.io/v1beta2\nkind: Cohort\nmetadata: {name: b}\n"
        "spec: {parentName: org}\n"
    )
    a, b = load_manifests(text)
    assert isinstance(a, Cohort) and isinstance(b, Cohort)
    assert a.spec.parent_of == b.spec.parent_of == "org"
    with pytest.raises(ManifestError, match="cohort a is its own parent"):
        load_manifests(text.replace("parent: org", "parent: a"))


def test_committed_crds_match_the_types() -> None:
    deploy = Path(__file__).parents[2] / "deploy" / "crds"
    for manifest in all_crds():
        path = deploy / f"{manifest['metadata']['name']}.yaml"
        hint = "regenerate: python -m quarterdeck.api.crd quarterdeck.api.queueing deploy/crds"
        assert path.exists(), hint
        assert yaml.safe_load(path.read_text()) == manifest, hint
