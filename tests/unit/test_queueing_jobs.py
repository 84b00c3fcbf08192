"""batch/v1 Job integration as pure patches: suspend, Workload, admit, gate, evict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quarterdeck.api.queueing import ResourceFlavor, load_files
from quarterdeck.api.queueing.workload import (
    Admission,
    PodSetAssignment,
    TopologyAssignment,
    TopologyDomainAssignment,
)
from quarterdeck.queueing import GpuPlacer, admission_of, cycle, snapshot_from_objects
from quarterdeck.queueing.jobs import (
    GATE,
    BatchJob,
    pinned_node,
    pods_to_nodes,
    queue_name,
    release_gate,
)
from quarterdeck.queueing.snapshot import node_from_object

EXAMPLES = Path(__file__).parents[2] / "examples" / "queueing"


def kueue_job(parallelism: int = 2, gpus: int = 4) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "train",
            "namespace": "team-a",
            "labels": {"kueue.x-k8s.io/queue-name": "training"},
        },
        "spec": {
            "parallelism": parallelism,
            "completions": parallelism,
            "template": {
                "spec": {
                    "nodeSelector": {"disk": "ssd"},
                    "tolerations": [
                        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                    ],
                    "containers": [
                        {"name": "t", "resources": {"requests": {"nvidia.com/gpu": str(gpus)}}}
                    ],
                }
            },
        },
    }


def test_a_job_with_kueues_label_is_queued_unchanged() -> None:
    job = kueue_job()
    assert queue_name(job) == "training"
    assert queue_name({"metadata": {"labels": {}}}) is None
    assert BatchJob().on_create(job) == {"spec": {"suspend": True}}
    wl = BatchJob().workload(job)
    assert wl.metadata.name == "job-train" and wl.spec.queue_name == "training"
    assert wl.spec.pod_sets[0].count == 2


def test_admission_unsuspends_with_flavor_labels_gate_and_then_pins_pods() -> None:
    objs = load_files([EXAMPLES / "two-teams.yaml"])
    job = kueue_job()
    wl = BatchJob().workload(job)
    nodes_yaml = [
        {
            "metadata": {
                "name": f"h100-{i}",
                "labels": {"gpu.quarterdeck.dev/model": "h100", "disk": "ssd"},
            },
            "spec": {
                "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
            },
            "status": {"allocatable": {"nvidia.com/gpu": "8"}},
        }
        for i in range(2)
    ]
    nodes = [node_from_object(n, "test") for n in nodes_yaml]
    snap = snapshot_from_objects([*objs, wl], nodes=nodes)
    (admit,) = cycle(snap, GpuPlacer()).admitted
    admission = admission_of(admit)
    flavors = {o.metadata.name: o for o in objs if isinstance(o, ResourceFlavor)}
    patch = BatchJob().on_admit(job, admission, flavors)
    pod_spec = patch["spec"]["template"]["spec"]
    assert patch["spec"]["suspend"] is False and patch["spec"]["parallelism"] == 2
    assert pod_spec["nodeSelector"] == {"disk": "ssd", "gpu.quarterdeck.dev/model": "h100"}
    placed = admit.pod_sets[0].nodes or {}
    # Both pods on one node: the template is pinned there, no gate to lift per pod.
    assert list(placed) == [pinned_node({"spec": pod_spec})]
    assert pod_spec["schedulingGates"] == []
    assert len(pod_spec["tolerations"]) == 1  # the flavor's toleration was already there
    spread = Admission(
        cluster_queue=admission.cluster_queue,
        pod_set_assignments=[
            PodSetAssignment(
                name="main",
                flavors=admission.pod_set_assignments[0].flavors,
                count=2,
                topology_assignment=TopologyAssignment(
                    levels=["kubernetes.io/hostname"],
                    domains=[
                        TopologyDomainAssignment(values=["h100-0"], count=1),
                        TopologyDomainAssignment(values=["h100-1"], count=1),
                    ],
                ),
            )
        ],
    )
    gated = BatchJob().on_admit(job, spread, flavors)["spec"]["template"]["spec"]
    assert gated["schedulingGates"] == [{"name": GATE}] and gated["affinity"] is None

    pinned = pods_to_nodes(["train-b", "train-a"], placed)
    assert sorted(pinned) == ["train-a", "train-b"] and set(pinned.values()) <= set(placed)
    pod = {"spec": {"schedulingGates": [{"name": GATE}, {"name": "other"}]}}
    release = release_gate(pod, pinned["train-a"])
    assert release["spec"]["schedulingGates"] == [{"name": "other"}]
    assert pinned_node({"spec": {**pod["spec"], **release["spec"]}}) == pinned["train-a"]
    narrowed = release_gate(
        {
            "spec": {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": "zone", "operator": "In", "values": ["a"]}
                                    ]
                                }
                            ]
                        }
                    }
                }
            }
        },
        "n1",
    )
    (term,) = narrowed["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert term["matchExpressions"][0]["key"] == "zone"
    assert term["matchFields"] == [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]

    assert BatchJob().on_evict(job) == {"spec": {"suspend": True}}
    # Readmitted later (say on another flavor): built from the saved original, so
    # the labels of the first admission do not pile up.
    readmitted = {
        **job,
        "metadata": {**job["metadata"], **patch["metadata"]},
        "spec": {**job["spec"], "template": {"spec": {**pod_spec, "nodeSelector": {"x": "y"}}}},
    }
    again = BatchJob().on_admit(readmitted, admission, flavors)
    assert again["spec"]["template"]["spec"]["nodeSelector"] == {
        "disk": "ssd",
        "gpu.quarterdeck.dev/model": "h100",
    }


def test_finished_jobs_release_their_quota() -> None:
    job = kueue_job()
    assert not BatchJob().finished(job)
    done = {**job, "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    assert BatchJob().finished(done)


def _container(name: str, cpu: str, gpu: str | None = None, **extra: Any) -> dict[str, Any]:
    requests = {"cpu": cpu} | ({"nvidia.com/gpu": gpu} if gpu else {})
    return {"name": name, "resources": {"requests": requests}, **extra}


def test_native_sidecars_and_overhead_count_as_kubernetes_counts_them() -> None:
    """KEP-753: sidecars add to the containers; an init container runs beside the
    sidecars started before it; the larger wins; overhead on top."""
    template = {
        "spec": {
            "initContainers": [
                _container("setup", "1"),  # alone: 1 CPU
                _container("proxy", "500m", restartPolicy="Always"),  # sidecar
                _container("migrate", "3"),  # beside proxy: 3.5 CPU
                _container("logs", "250m", restartPolicy="Always"),  # sidecar
            ],
            "containers": [_container("trainer", "2", "1")],
            "overhead": {"cpu": "100m"},
        }
    }
    wl = BatchJob().workload({"metadata": {"name": "j"}, "spec": {"template": template}})
    (pod_set,) = snapshot_workload_pod_sets(wl)
    # containers + sidecars = 2 + 0.5 + 0.25 = 2.75 < 3.5 (migrate beside proxy); +0.1
    assert pod_set.requests == {"cpu": 3_600, "nvidia.com/gpu": 1_000}
    template["spec"]["initContainers"][2] = _container("migrate", "1")
    (pod_set,) = snapshot_workload_pod_sets(wl)
    assert pod_set.requests == {"cpu": 2_850, "nvidia.com/gpu": 1_000}  # 2.75 + 0.1


def snapshot_workload_pod_sets(wl: Any) -> tuple[Any, ...]:
    from quarterdeck.queueing.snapshot import workload as to_model

    return to_model(wl, {}, {}, {}, {}).pod_sets


def test_the_admission_policy_suspends_jobs_with_either_queue_label() -> None:
    from quarterdeck.queueing.admission import manifests, probe_job

    policy, binding = manifests()
    (condition,) = policy["spec"]["matchConditions"]
    for label in ("queueing.quarterdeck.dev/queue-name", "kueue.x-k8s.io/queue-name"):
        assert f"'{label}' in object.metadata.labels" in condition["expression"]
    (mutation,) = policy["spec"]["mutations"]
    assert (
        mutation["applyConfiguration"]["expression"] == "Object{spec: Object.spec{suspend: true}}"
    )
    assert policy["spec"]["matchConstraints"]["resourceRules"][0]["operations"] == ["CREATE"]
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert queue_name(probe_job("default")) is not None  # the probe is a queued Job
