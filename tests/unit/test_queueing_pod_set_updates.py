"""AdmissionCheck podSetUpdates merged into a Job's pods when it starts, as in Kueue."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from quarterdeck.api.queueing.check import AdmissionCheckState, PodSetUpdate
from quarterdeck.api.queueing.meta import Toleration
from quarterdeck.api.queueing.workload import Admission, PodSetAssignment
from quarterdeck.cli.queue_cluster import pod_set_update
from quarterdeck.queueing.jobs import SAVED_SCHEDULING, BatchJob, PodSetUpdateConflict

ADMISSION = Admission(
    cluster_queue="gpus",
    pod_set_assignments=[PodSetAssignment(name="main", flavors={"nvidia.com/gpu": "h100"})],
)


def job(**template_meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "train", "namespace": "a"},
        "spec": {
            "suspend": True,
            "template": {
                "metadata": template_meta,
                "spec": {"nodeSelector": {"disk": "ssd"}, "containers": [{"name": "t"}]},
            },
        },
    }


def test_updates_of_every_check_land_in_the_template_without_touching_the_jobs_own() -> None:
    region = PodSetUpdate(
        name="main",
        node_selector={"topology.kubernetes.io/zone": "b"},
        labels={"provisioned": "yes"},
        tolerations=[Toleration(key="spot", operator="Exists", effect="NoSchedule")],
    )
    audit = PodSetUpdate(name="main", annotations={"audit/ticket": "T-1"}, labels={"team": "a"})
    other = PodSetUpdate(name="workers", labels={"ignored": "yes"})  # another pod set
    patch = BatchJob().on_admit(job(labels={"team": "a"}), ADMISSION, {}, [region, audit, other])
    template = patch["spec"]["template"]
    assert template["spec"]["nodeSelector"] == {"disk": "ssd", "topology.kubernetes.io/zone": "b"}
    assert template["spec"]["tolerations"] == [
        {"key": "spot", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert template["metadata"]["labels"] == {"team": "a", "provisioned": "yes"}
    assert template["metadata"]["annotations"] == {"audit/ticket": "T-1"}
    saved = json.loads(patch["metadata"]["annotations"][SAVED_SCHEDULING])
    assert saved["labels"] == {"team": "a"} and saved["annotations"] == {}


def test_a_readmission_drops_what_the_last_admissions_updates_added() -> None:
    first = BatchJob().on_admit(
        job(), ADMISSION, {}, [PodSetUpdate(name="main", labels={"zone": "b"})]
    )
    started = job(labels={"zone": "b"})  # the template as the first admission left it
    started["metadata"]["annotations"] = first["metadata"]["annotations"]
    again = BatchJob().on_admit(started, ADMISSION, {}, [])
    assert again["spec"]["template"]["metadata"]["labels"] == {"zone": None}  # removed
    assert again["spec"]["template"]["spec"]["nodeSelector"] == {"disk": "ssd"}


def test_no_updates_no_metadata_patch() -> None:
    patch = BatchJob().on_admit(job(labels={"team": "a"}), ADMISSION, {}, [])
    assert "metadata" not in patch["spec"]["template"]


@pytest.mark.parametrize(
    ("updates", "named"),
    [
        ([PodSetUpdate(name="main", node_selector={"disk": "hdd"})], "nodeSelector disk"),
        (
            [
                PodSetUpdate(name="main", labels={"zone": "a"}),
                PodSetUpdate(name="main", labels={"zone": "b"}),
            ],
            "label zone",
        ),
    ],
)
def test_an_update_never_overrides_a_value_set_elsewhere(
    updates: list[PodSetUpdate], named: str
) -> None:
    with pytest.raises(PodSetUpdateConflict, match=named):
        BatchJob().on_admit(job(), ADMISSION, {}, updates)


def test_pod_set_updates_round_trip_as_kueue_writes_them() -> None:
    state = msgspec.convert(
        {
            "name": "prov",
            "state": "Ready",
            "podSetUpdates": [
                {
                    "name": "main",
                    "nodeSelector": {"cloud/pool": "p1"},
                    "tolerations": [{"key": "k", "operator": "Equal", "value": "v"}],
                }
            ],
        },
        AdmissionCheckState,
    )
    (update,) = state.pod_set_updates
    assert update.node_selector == {"cloud/pool": "p1"} and update.tolerations[0].value == "v"
    assert msgspec.to_builtins(state)["podSetUpdates"][0]["nodeSelector"] == {"cloud/pool": "p1"}


def test_the_check_commands_options_make_one_update_and_refuse_bad_ones() -> None:
    update = pod_set_update("main", ["zone=b"], ["team=a"], None, ["spot:NoSchedule", "k=v"])
    assert update is not None
    assert update.node_selector == {"zone": "b"} and update.labels == {"team": "a"}
    assert [(t.key, t.operator, t.value, t.effect) for t in update.tolerations] == [
        ("spot", "Exists", None, "NoSchedule"),
        ("k", "Equal", "v", None),
    ]
    assert pod_set_update("main", None, None, None, None) is None
    with pytest.raises(ValueError, match="--label: 'team' is not KEY=VALUE"):
        pod_set_update("main", None, ["team"], None, None)
    with pytest.raises(ValueError, match="--toleration"):
        pod_set_update("main", None, None, None, ["k:Never"])
