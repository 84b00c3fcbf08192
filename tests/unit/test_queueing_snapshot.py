"""From manifests to a snapshot and back: queues resolve, bad references become reasons."""

from __future__ import annotations

from pathlib import Path

import msgspec

from quarterdeck.api.queueing import Workload as ApiWorkload
from quarterdeck.api.queueing import load_files, load_manifests
from quarterdeck.queueing import admission_of, cycle, snapshot_from_objects

EXAMPLES = Path(__file__).parents[2] / "examples" / "queueing"
EXAMPLE = EXAMPLES / "two-teams.yaml"
PRETRAIN = EXAMPLES / "pretrain.yaml"

JOB = """
apiVersion: kueue.x-k8s.io/v1beta1
kind: Workload
metadata: {{name: {name}, namespace: {ns}, creationTimestamp: "2026-11-21T05:10:00Z"}}
spec:
  queueName: {queue}
  {extra}
  podSets:
  - name: main
    count: 1
    template:
      spec:
        containers:
        - resources: {{requests: {{nvidia.com/gpu: "{gpus}"}}}}
"""


def wl(
    name: str, ns: str = "team-a", queue: str = "training", gpus: int = 1, extra: str = ""
) -> str:
    return "---" + JOB.format(name=name, ns=ns, queue=queue, gpus=gpus, extra=extra)


def test_example_manifests_admit_through_local_queue_and_priority_class() -> None:
    snap = snapshot_from_objects(load_files([EXAMPLE, PRETRAIN]))
    (pending,) = snap.pending
    assert pending.cluster_queue == "team-a" and pending.priority == 1000
    assert pending.pod_sets[0].requests["nvidia.com/gpu"] == 4000
    d = cycle(snap)
    (adm,) = d.admitted
    status = admission_of(adm)
    assert status.cluster_queue == "team-a"
    assert status.pod_set_assignments[0].resource_usage["nvidia.com/gpu"] == 8
    assert status.pod_set_assignments[0].flavors["nvidia.com/gpu"] == "h100"


def test_bad_references_become_inadmissible_reasons() -> None:
    text = (EXAMPLE.read_text() + "---\n" + PRETRAIN.read_text()) + "".join(
        [
            wl("no-lq", queue="nope"),
            wl("no-class", extra="priorityClassName: missing"),
            wl("unset", queue='""'),
        ]
    )
    d = cycle(snapshot_from_objects(load_manifests(text)))
    why = {p.workload.key: (p.reason, p.message) for p in d.pending}
    assert why["team-a/no-lq"] == ("Inadmissible", "LocalQueue team-a/nope not found")
    assert why["team-a/no-class"] == ("Inadmissible", "WorkloadPriorityClass missing not found")
    assert why["team-a/unset"] == ("Inadmissible", "spec.queueName is not set")


def test_namespace_selector_is_enforced() -> None:
    text = (EXAMPLE.read_text() + "---\n" + PRETRAIN.read_text()).replace(
        "  namespaceSelector: {}", "  namespaceSelector: {matchLabels: {team: a}}"
    )
    objs = load_manifests(text)
    d = cycle(snapshot_from_objects(objs, namespaces={"team-a": {"team": "b"}}))
    assert d.pending[0].message == "namespace team-a is not selected by ClusterQueue team-a"
    d = cycle(snapshot_from_objects(objs, namespaces={"team-a": {"team": "a"}}))
    assert len(d.admitted) == 1
    unset = load_manifests(text.replace("  namespaceSelector: {matchLabels: {team: a}}\n", ""))
    d = cycle(snapshot_from_objects(unset))
    assert d.pending[0].message == (
        "ClusterQueue team-a has no namespaceSelector ({} admits all namespaces)"
    )


def test_admitted_workloads_in_status_count_and_finished_ones_do_not() -> None:
    objs = load_files([EXAMPLE, PRETRAIN])
    snap = snapshot_from_objects(objs)
    adm = cycle(snap).admitted[0]
    (api_wl,) = [o for o in objs if isinstance(o, ApiWorkload)]
    status = {
        "admission": msgspec.to_builtins(admission_of(adm)),
        "conditions": [{"type": "QuotaReserved", "status": "True"}],
    }
    running = msgspec.convert({**msgspec.to_builtins(api_wl), "status": status}, ApiWorkload)
    others = [o for o in objs if not isinstance(o, ApiWorkload)]
    extra = load_manifests(wl("next", gpus=4))
    rebuilt = snapshot_from_objects([*others, running, *extra])
    assert [a.workload.key for a in rebuilt.admitted] == ["team-a/llm-pretrain"]
    assert rebuilt.admitted[0].usage() == adm.admitted(0).usage()
    d = cycle(rebuilt)
    assert d.admitted[0].workload.key == "team-a/next" and d.admitted[0].borrows
    finished_status = {
        **status,
        "conditions": [*status["conditions"], {"type": "Finished", "status": "True"}],
    }
    done = msgspec.convert({**msgspec.to_builtins(api_wl), "status": finished_status}, ApiWorkload)
    assert snapshot_from_objects([*others, done]).admitted == ()


def test_cohort_objects_build_the_tree_and_cycles_are_reported() -> None:
    cohorts = (
        "---\napiVersion: kueue.x-k8s.io/v1alpha1\nkind: Cohort\nmetadata: {name: research}\n"
        "spec: {parent: org}\n"
        "---\napiVersion: kueue.x-k8s.io/v1alpha1\nkind: Cohort\nmetadata: {name: org}\n"
        "spec: {parent: research}\n"
    )
    text = EXAMPLE.read_text() + "---\n" + PRETRAIN.read_text() + cohorts
    snap = snapshot_from_objects(load_manifests(text))
    assert snap.cohorts["research"].parent == "org"
    (pending,) = cycle(snap).pending
    assert pending.message == (
        "ClusterQueue team-a is inactive: cohort cycle: research -> org -> research"
    )
