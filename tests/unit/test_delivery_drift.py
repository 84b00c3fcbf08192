"""drift(): field-level differences between a dry-run result and the live object."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from quarterdeck.delivery.drift import FieldDiff, drift

LIVE: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "a",
        "resourceVersion": "10",
        "generation": 3,
        "managedFields": [{"manager": "quarterdeck-delivery"}],
        "annotations": {"deployment.kubernetes.io/revision": "3"},
    },
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {
                "containers": [
                    {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}]},
                    {"name": "sidecar", "image": "envoy"},
                ]
            }
        },
    },
    "status": {"readyReplicas": 2},
}


def test_identical_objects_have_no_drift_whatever_the_server_metadata() -> None:
    dry = copy.deepcopy(LIVE)
    dry["metadata"]["resourceVersion"] = "11"
    dry["metadata"]["managedFields"] = []
    dry["status"] = {"readyReplicas": 0}
    assert drift(dry, LIVE) == []


def test_changed_fields_are_reported_with_named_list_paths() -> None:
    dry = copy.deepcopy(LIVE)
    live = copy.deepcopy(LIVE)
    live["spec"]["replicas"] = 5
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:evil"
    live["metadata"]["labels"] = {"edited": "yes"}
    assert drift(dry, live) == [
        FieldDiff("metadata.labels", None, {"edited": "yes"}),
        FieldDiff("spec.replicas", 2, 5),
        FieldDiff("spec.template.spec.containers[name=web].image", "nginx:1", "nginx:evil"),
    ]


def test_reordered_named_lists_are_not_drift() -> None:
    live = copy.deepcopy(LIVE)
    live["spec"]["template"]["spec"]["containers"].reverse()
    assert drift(LIVE, live) == []


def test_unnamed_lists_of_other_length_compare_whole() -> None:
    live = copy.deepcopy(LIVE)
    live["spec"]["template"]["spec"]["containers"][0]["ports"].append({"containerPort": 81})
    (diff,) = drift(LIVE, live)
    assert diff.path == "spec.template.spec.containers[name=web].ports"


# Keys never include "name", so lists compare by position; null leaves are left out
# because Kubernetes treats an explicit null like an absent field.
json = st.recursive(
    st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(deadline=None)  # wall time is not what this checks (the machine may be loaded)
@given(spec=json)
def test_an_object_never_drifts_from_itself(spec: Any) -> None:
    obj = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}, "spec": spec}
    assert drift(obj, copy.deepcopy(obj)) == []


@settings(deadline=None)
@given(a=json, b=json)
def test_drift_is_empty_exactly_when_objects_are_equal(a: Any, b: Any) -> None:
    left = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}, "spec": a}
    right = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}, "spec": b}
    assert (drift(left, right) == []) == (a == b)
