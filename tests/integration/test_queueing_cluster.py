"""Queueing against a real API server: CRDs install, objects round-trip, and a cycle run
on the live objects and kwok GPU nodes admits, places and explains, with the result
written to status and the quota accounting rebuilt from the cluster afterwards.

(The controller that does this continuously comes next; here the test is the shell.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from typing import Any, cast

import msgspec
import pytest
from lightkube import ApiError, Client, codecs
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import Node as KubeNode
from lightkube.types import PatchType
from typer.testing import CliRunner

from quarterdeck.api.queueing import GROUP, VERSION, all_crds, load_documents
from quarterdeck.api.queueing import ClusterQueue as ApiClusterQueue
from quarterdeck.api.queueing.manifests import QueueingObject
from quarterdeck.cli.main import app
from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.kube.wait import wait_for
from quarterdeck.queueing import GpuPlacer, cycle, snapshot_from_objects
from quarterdeck.queueing.live import read_objects
from quarterdeck.queueing.snapshot import node_from_object
from quarterdeck.queueing.status import workload_status

pytestmark = pytest.mark.integration

Flavor = create_global_resource(GROUP, VERSION, "ResourceFlavor", "resourceflavors")
ClusterQueue = create_global_resource(GROUP, VERSION, "ClusterQueue", "clusterqueues")
LocalQueue = create_namespaced_resource(GROUP, VERSION, "LocalQueue", "localqueues")
Workload = create_namespaced_resource(GROUP, VERSION, "Workload", "workloads")
NOW = "2026-11-21T06:00:00Z"
runner = CliRunner()


def _established(kube: Client, name: str) -> bool:
    status = kube.get(CustomResourceDefinition, name).status
    conditions = (status.conditions if status is not None else None) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


def _listable(kube: Client) -> bool:
    """The CRDs serve lists (right after an update storage may still be initializing)."""
    try:
        read_objects(kube)
    except ApiError:
        return False
    return True


def _dict(obj: Any) -> dict[str, Any]:
    """A lightkube object as the plain dict the API server sent."""
    return cast(dict[str, Any], obj.to_dict())


def _workload(name: str, ns: str, pods: int, gpus: int, priority: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Workload",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "queueName": "training",
            "priority": priority,
            "podSets": [
                {
                    "name": "workers",
                    "count": pods,
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "trainer",
                                    "image": "trainer",
                                    "resources": {"requests": {"nvidia.com/gpu": str(gpus)}},
                                }
                            ]
                        }
                    },
                }
            ],
        },
    }


def _live(kube: Client, ns: str) -> list[QueueingObject]:
    docs: list[Any] = []
    for cluster_kind in (Flavor, ClusterQueue):
        docs += [_dict(o) for o in kube.list(cluster_kind)]
    for namespaced_kind in (LocalQueue, Workload):
        docs += [_dict(o) for o in kube.list(namespaced_kind, namespace=ns)]
    return load_documents(docs, "cluster")


@pytest.fixture
def queued(kube: Client, namespace: str) -> Iterator[str]:
    """CRDs, an h100 flavor over the kwok H100 pool, a queue of 48 GPUs, two Workloads."""
    for manifest in all_crds():
        kube.apply(codecs.from_dict(manifest), force=True)
    for manifest in all_crds():
        name: str = manifest["metadata"]["name"]
        wait_for(partial(_established, kube, name), f"CRD {name}", 30)
    wait_for(partial(_listable, kube), "queueing kinds to be listable", 30)

    flavor = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ResourceFlavor",
        "metadata": {"name": f"h100-{namespace}"},
        "spec": {"nodeLabels": {"quarterdeck.dev/pool": "gpu-h100-8"}},
    }
    cq = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ClusterQueue",
        "metadata": {"name": f"team-{namespace}"},
        "spec": {
            "namespaceSelector": {},
            "resourceGroups": [
                {
                    "coveredResources": ["nvidia.com/gpu"],
                    "flavors": [
                        {
                            "name": f"h100-{namespace}",
                            "resources": [{"name": "nvidia.com/gpu", "nominalQuota": 48}],
                        }
                    ],
                }
            ],
        },
    }
    lq = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "LocalQueue",
        "metadata": {"name": "training", "namespace": namespace},
        "spec": {"clusterQueue": f"team-{namespace}"},
    }
    kube.apply(Flavor.from_dict(flavor), force=True)
    kube.apply(ClusterQueue.from_dict(cq), force=True)
    kube.apply(LocalQueue.from_dict(lq), force=True)
    # Two 8-GPU H100 nodes. "four" (4 x 6 GPUs, higher priority, tried first) fits the
    # quota (24 of 48) but no node holds two 6-GPU pods; "pair" (2 x 8) then fits.
    kube.apply(Workload.from_dict(_workload("four", namespace, 4, 6, 2)), force=True)
    kube.apply(Workload.from_dict(_workload("pair", namespace, 2, 8, 1)), force=True)
    yield namespace
    for name in ("pair", "four"):
        kube.delete(Workload, name, namespace=namespace)
    kube.delete(ClusterQueue, f"team-{namespace}")
    kube.delete(Flavor, f"h100-{namespace}")


def test_cycle_on_live_objects_admits_places_explains_and_rebuilds(
    kube: Client, queued: str
) -> None:
    namespace = queued
    objects = _live(kube, namespace)
    stored_cq = next(o for o in objects if isinstance(o, ApiClusterQueue))
    assert stored_cq.spec.resource_groups[0].flavors[0].resources[0].nominal_quota == 48
    nodes = [node_from_object(_dict(n), "cluster") for n in kube.list(KubeNode)]
    snap = snapshot_from_objects(objects, nodes=nodes)
    decisions = cycle(snap, GpuPlacer())

    (admit,) = decisions.admitted
    assert admit.workload.key == f"{namespace}/pair"
    assert sorted(admit.pod_sets[0].nodes or {}) == ["gpu-h100-8-00", "gpu-h100-8-01"]
    (pending,) = decisions.pending
    assert pending.workload.key == f"{namespace}/four"
    assert pending.message == (
        f"flavor h100-{namespace} has quota but 2 matching nodes hold 2 of 4 pods "
        "(at most 1 on one node)"
    )

    for decision in (admit, pending):
        name = decision.workload.key.split("/")[1]
        status = workload_status(None, decision, NOW)
        kube.patch(
            Workload.Status,
            name,
            {"status": msgspec.to_builtins(status)},
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )

    # A restarted controller rebuilds the same accounting from the cluster alone.
    rebuilt = snapshot_from_objects(_live(kube, namespace), nodes=nodes)
    assert [a.workload.key for a in rebuilt.admitted] == [f"{namespace}/pair"]
    assert rebuilt.admitted[0].usage() == admit.admitted(0).usage()
    assert rebuilt.admitted[0].pod_sets[0].nodes == admit.pod_sets[0].nodes
    again = cycle(rebuilt, GpuPlacer())
    assert again.admitted == () and [p.workload.key for p in again.pending] == [f"{namespace}/four"]
    stored = _dict(kube.get(Workload, "four", namespace=namespace))
    (cond,) = stored["status"]["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == (
        "QuotaReserved",
        "False",
        "Pending",
    )


def test_qd_queue_list_pending_why_read_the_live_cluster(
    dev_cluster: RunningCluster, queued: str
) -> None:
    namespace = queued
    base = ["queue"]
    cfg = ["--kubeconfig", str(dev_cluster.kubeconfig)]
    listed = runner.invoke(app, [*base, "list", *cfg, "-o", "json"])
    assert listed.exit_code == 0, listed.output
    (row,) = [r for r in json.loads(listed.stdout) if r["name"] == f"team-{namespace}"]
    assert (row["pending"], row["admitted"], row["usage"][0]["nominal"]) == (2, 0, "48")

    pending = runner.invoke(app, [*base, "pending", f"team-{namespace}", *cfg, "-o", "json"])
    assert pending.exit_code == 0, pending.output
    reasons = {r["workload"]: r["reason"] for r in json.loads(pending.stdout)}
    assert reasons == {f"{namespace}/pair": "Admissible", f"{namespace}/four": "Pending"}

    why = runner.invoke(app, [*base, "why", "four", "-n", namespace, *cfg])
    assert why.exit_code == 0, why.output
    assert "2 matching nodes hold 2 of 4 pods" in why.stdout
    missing = runner.invoke(app, [*base, "why", "nope", "-n", namespace, *cfg])
    assert missing.exit_code == 2 and "no workload" in missing.output

    passed = runner.invoke(app, [*base, "reconcile", "--once", *cfg])
    assert passed.exit_code == 0, passed.output
    assert f"admitted  {namespace}/pair" in passed.stdout
    why = runner.invoke(app, [*base, "why", "pair", "-n", namespace, *cfg, "-o", "json"])
    answer = json.loads(why.stdout)
    assert answer["state"] == "Admitted" and "gpu-h100-8-00" in answer["message"]
