"""The cluster's QueueingConfig changes live decisions exactly as the offline cycle says.

Both tests read the live snapshot, compute what the pure `cycle()` decides under each
configuration (the same functions the simulator runs), and check that the controller's
passes on the dev cluster do what the configuration in force predicts:
- `placement: fgd` admits a gang that best-fit leaves fragmented, and `qd queue why`
  names the policy, the nodes and GPUs, and the measure behind the choice;
- with fair sharing on, the GPUs a finished Job frees go to the queue with the lower
  share; with it off, to the workload of higher priority (of the queue already
  borrowing). The Job
  is ended by its deadline, set once both waiting Workloads exist, so the order of
  events is the test's, not the clock's.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from lightkube import Client, codecs
from lightkube.generic_resource import create_global_resource
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType
from queueing_setup import (
    API,
    ClusterQueue,
    Flavor,
    LocalQueue,
    as_dict,
    clean_up,
    gpu_job,
    h100_flavor,
    install_crds,
    passes_until,
)
from typer.testing import CliRunner

from quarterdeck.api.queueing import GROUP, VERSION
from quarterdeck.cli.main import app
from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.queueing import Snapshot, apply, cycle
from quarterdeck.queueing.config import config_from_document, configure, placer_from
from quarterdeck.queueing.live import read_snapshot
from quarterdeck.queueing.writes import PassReport

pytestmark = pytest.mark.integration

Config = create_global_resource(GROUP, VERSION, "QueueingConfig", "queueingconfigs")
PriorityClass = create_global_resource(
    GROUP, VERSION, "WorkloadPriorityClass", "workloadpriorityclasses"
)
GPU = "nvidia.com/gpu"


def _config(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "QueueingConfig",
        "metadata": {"name": "default"},
        "spec": spec,
    }


@contextlib.contextmanager
def queues(
    kube: Client, namespace: str, nominal: dict[str, dict[str, int]], config: dict[str, Any]
) -> Iterator[dict[str, str]]:
    """The QueueingConfig, a flavor on the H100 pool, and one ClusterQueue (in one
    cohort) with a LocalQueue of the same name per entry; yields LocalQueue -> CQ."""
    install_crds(kube)
    kube.apply(codecs.from_dict(_config(config)), force=True)
    flavor = h100_flavor(kube, namespace)
    names = {lq: f"{lq}-{namespace}" for lq in nominal}
    for lq, quota in nominal.items():
        spec = {
            "cohort": f"co-{namespace}",
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "resourceGroups": [
                {
                    "coveredResources": sorted(quota),
                    "flavors": [
                        {
                            "name": flavor,
                            "resources": [
                                {"name": r, "nominalQuota": v} for r, v in sorted(quota.items())
                            ],
                        }
                    ],
                }
            ],
        }
        cq = {"apiVersion": API, "kind": "ClusterQueue", "metadata": {"name": names[lq]}}
        kube.apply(ClusterQueue.from_dict(cq | {"spec": spec}), force=True)
        local: dict[str, Any] = {"apiVersion": API, "kind": "LocalQueue"}
        local["metadata"] = {"name": lq, "namespace": namespace}
        local["spec"] = {"clusterQueue": names[lq]}
        kube.apply(LocalQueue.from_dict(local), force=True)
    try:
        yield names
    finally:
        clean_up(kube, namespace)
        for cq_name in names.values():
            kube.delete(ClusterQueue, cq_name)
        kube.delete(Flavor, flavor)
        kube.delete(Config, "default")


def _job(namespace: str, name: str, queue: str, **shape: Any) -> Any:
    """`gpu_job` with a CPU request beside the GPUs (`cpu=` cores per pod)."""
    cpu = shape.pop("cpu", None)
    body = gpu_job(namespace, name, queue=queue, **shape)
    if cpu is not None:
        for c in body["spec"]["template"]["spec"]["containers"]:
            for part in ("requests", "limits"):
                c["resources"][part]["cpu"] = str(cpu)
    return codecs.from_dict(body)


def _only(snapshot: Snapshot, namespace: str) -> Snapshot:
    """The part of the live snapshot this test made (the H100 nodes stay shared)."""
    mine = {k: q for k, q in snapshot.cluster_queues.items() if k.endswith(namespace)}
    return replace(
        snapshot,
        cluster_queues=mine,
        cohorts={k: c for k, c in snapshot.cohorts.items() if k.endswith(namespace)},
        admitted=tuple(a for a in snapshot.admitted if a.workload.cluster_queue in mine),
        pending=tuple(w for w in snapshot.pending if w.cluster_queue in mine),
    )


def _admitted(key: str) -> Any:
    def check(reports: list[PassReport]) -> bool | None:
        return True if key in reports[-1].admitted else None

    return check


def test_fgd_admits_a_gang_live_where_bestfit_fragments_and_why_names_its_choice(
    kube: Client, namespace: str, dev_cluster: RunningCluster
) -> None:
    config = {"placement": {"policy": "fgd"}}
    quota = {"training": {GPU: 16, "cpu": 448}}
    with queues(kube, namespace, quota, config):
        before = _only(read_snapshot(kube, time.time())[0], namespace)
        # Two Jobs of 1 GPU and half a node's CPU, then a gang of 2 pods x 6 GPUs.
        for name in ("a", "b"):
            kube.create(_job(namespace, name, "training", gpus=1, cpu=112, duration="10m"))
            passes_until(kube, _admitted(f"{namespace}/job-{name}"), f"job {name} admitted")
        kube.create(_job(namespace, "gang", "training", pods=2, gpus=6, cpu=8, duration="10m"))
        passes_until(kube, _admitted(f"{namespace}/job-gang"), "the gang admitted")
        live = _only(read_snapshot(kube, time.time())[0], namespace)
        placed = {a.workload.key: a for a in live.admitted}
        gang = placed[f"{namespace}/job-gang"]
        assert sorted(gang.pod_sets[0].nodes or {}) == sorted(
            n.name for n in before.nodes if n.labels.get("quarterdeck.dev/pool") == "gpu-h100-8"
        )

        # Offline, the same three workloads one after another through the pure cycle.
        predicted = {}
        for policy in ("bestfit", "fgd"):
            cfg = config_from_document(_config({"placement": {"policy": policy}}))
            placer, snap = placer_from(cfg), configure(before, cfg)
            for key in (f"{namespace}/job-{n}" for n in ("a", "b", "gang")):
                decided = cycle(replace(snap, pending=(placed[key].workload,)), placer)
                snap = apply(snap, decided, time.time())
            predicted[policy] = (snap, decided)
        bestfit = predicted["bestfit"][1]
        (stuck,) = bestfit.pending
        assert "hold 1 of 2 pods" in stuck.message, stuck  # one H100 node has the CPU left
        fgd_snap, fgd = predicted["fgd"]
        assert [a.workload.key for a in fgd.admitted] == [gang.workload.key]
        for key, live_adm in placed.items():
            (offline,) = [a for a in fgd_snap.admitted if a.workload.key == key]
            assert offline.pod_sets[0].devices == live_adm.pod_sets[0].devices, key

        # The gate is lifted pod by pod onto the nodes placement chose.
        def bound(_: list[PassReport]) -> set[str] | None:
            pods = [as_dict(p) for p in kube.list(Pod, namespace=namespace)]
            nodes = {p["spec"].get("nodeName") for p in pods if "gang" in p["metadata"]["name"]}
            return nodes if len(nodes) == 2 and None not in nodes else None

        nodes, _ = passes_until(kube, bound, "the gang's pods bound")
        assert nodes == set(gang.pod_sets[0].nodes or {})

        cfg_args = ["--kubeconfig", str(dev_cluster.kubeconfig)]
        why = CliRunner().invoke(app, ["queue", "why", "job/gang", "-n", namespace, *cfg_args])
        assert why.exit_code == 0, why.output
        for node in nodes:
            assert f"{node} GPUs" in why.stdout, why.stdout
        assert "placement fgd put 2 pod(s)" in why.stdout, why.stdout
        assert "growth of the target workload's fragmentation" in why.stdout, why.stdout
        why_b = CliRunner().invoke(
            app, ["queue", "why", "b", "-n", namespace, *cfg_args, "-o", "json"]
        )
        message = json.loads(why_b.stdout)["message"]
        # b went to the other node: there the target workload loses no GPU, on a's +6.
        assert "+0.00 GPUs" in message and "+6.00 GPUs" in message, message


@pytest.mark.parametrize("fair_sharing", [True, False], ids=["fair-sharing", "no-fair-sharing"])
def test_fair_sharing_decides_which_queue_gets_freed_quota_as_the_cycle_predicts(
    kube: Client, namespace: str, fair_sharing: bool
) -> None:
    config = {"fairSharing": {"enable": fair_sharing}}
    quota = {"qa": {GPU: 4}, "qb": {GPU: 4}, "qc": {GPU: 8}}
    with queues(kube, namespace, quota, config), contextlib.ExitStack() as stack:
        stack.callback(lambda: kube.delete(PriorityClass, namespace))
        # qc lends 4 of its 8 GPUs to qb; all 16 H100 GPUs are busy.
        for name, queue in (("c1", "qc"), ("a1", "qa"), ("b0", "qb"), ("b1", "qb")):
            kube.create(_job(namespace, name, queue, gpus=4, duration="10m"))

        def all_four(reports: list[PassReport]) -> bool | None:
            got = {k for r in reports for k in r.admitted}
            return True if len(got) == 4 else None

        passes_until(kube, all_four, "the first four Jobs admitted")
        # b2 ranks first on priority; a2's queue has the lower share.
        high = {"apiVersion": API, "kind": "WorkloadPriorityClass", "value": 100}
        kube.apply(PriorityClass.from_dict(high | {"metadata": {"name": namespace}}), force=True)
        kube.create(_job(namespace, "b2", "qb", gpus=4, duration="10m", priority_class=namespace))
        kube.create(_job(namespace, "a2", "qa", gpus=4, duration="10m"))

        def both_waiting(_: list[PassReport]) -> Snapshot | None:
            snap = _only(read_snapshot(kube, time.time())[0], namespace)
            return snap if len(snap.pending) == 2 else None

        snapshot, _ = passes_until(kube, both_waiting, "a2 and b2 pending")
        # Offline: c1 finished, under each configuration.
        freed = replace(
            snapshot,
            admitted=tuple(a for a in snapshot.admitted if not a.workload.key.endswith("c1")),
        )
        chosen = {}
        for on in (True, False):
            cfg = config_from_document(_config({"fairSharing": {"enable": on}}))
            decided = cycle(configure(freed, cfg), placer_from(cfg))
            chosen[on] = [a.workload.key for a in decided.admitted]
        assert chosen == {True: [f"{namespace}/job-a2"], False: [f"{namespace}/job-b2"]}

        # c1 ends now: its deadline passes, the job controller fails it, its quota is freed.
        deadline = {"spec": {"activeDeadlineSeconds": 1}}
        kube.patch(Job, "c1", deadline, namespace=namespace, patch_type=PatchType.MERGE)

        def admitted_after_c1(reports: list[PassReport]) -> list[str] | None:
            got = [k for k in reports[-1].admitted if k.endswith(("a2", "b2"))]
            return got or None

        live, _ = passes_until(kube, admitted_after_c1, "freed quota admitted", timeout=90)
        assert live == chosen[fair_sharing]
