"""What checking every sync against the cluster's Guardrails costs the delivery controller.

Two runs of the same Applications (a Deployment scaled to 0, a ServiceAccount, a
Service and a ConfigMap each) in fresh namespaces: without Guardrails, then with
the 20 built-ins installed as Guardrail objects with validationActions [Warn],
narrowed to the run's namespace by a namespaceSelector (so the controller also
lists Namespaces). The built-ins flag these objects (untagged image, no resources,
Pod Security), so every Application records findings in status and writes one
GuardrailWarning Event. Prints time until all are Ready, the controller's
Guardrail reads, and the pure gate's cost for one Application's objects.

    python bench/delivery_guardrails.py --kubeconfig PATH --apps 100 --workers 16
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
import yaml
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from quarterdeck.api.crd import crd
from quarterdeck.api.delivery import KINDS
from quarterdeck.api.policy import (
    API_VERSION,
    GROUP,
    Guardrail,
    LabelSelector,
    MatchResources,
    to_dict,
)
from quarterdeck.api.policy_crd import guardrail_crd
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.controller import Controller
from quarterdeck.delivery.manifests import Key
from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES
from quarterdeck.kube.client import load_client
from quarterdeck.policy.library import builtins
from quarterdeck.policy.presync import presync

LABEL = "bench.quarterdeck.dev/guardrails"


def app_objects(i: int, namespace: str = "") -> list[dict[str, Any]]:
    meta: dict[str, Any] = {"name": f"a{i}", **({"namespace": namespace} if namespace else {})}
    pod = {"serviceAccountName": f"a{i}", "containers": [{"name": "c", "image": "nginx"}]}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": f"a{i}"}},
                "template": {"metadata": {"labels": {"app": f"a{i}"}}, "spec": pod},
            },
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"selector": {"app": f"a{i}"}, "ports": [{"port": 80}]},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"i": str(i)}},
    ]


def warn_builtins(run: str) -> list[Guardrail]:
    """The built-ins as Warn, selecting only namespaces labelled for this run."""
    narrow = MatchResources(namespace_selector=LabelSelector(match_labels={LABEL: run}))
    out = []
    for name, g in sorted(builtins().items()):
        spec = msgspec.structs.replace(g.spec, validation_actions=["Warn"], match_resources=narrow)
        meta = msgspec.structs.replace(g.metadata, name=f"{run}-{name}")
        out.append(msgspec.structs.replace(g, metadata=meta, spec=spec))
    return out


def make_repo(root: Path, apps: int) -> str:
    for i in range(apps):
        (root / f"a{i}").mkdir(parents=True)
        (root / f"a{i}" / "app.yaml").write_text(yaml.safe_dump_all(app_objects(i)))
    env = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), *env, "commit", "-qm", "apps"], check=True)
    return root.resolve().as_uri()


def run(client: Client, url: str, apps: int, workers: int, guarded: bool, tmp: Path) -> str:
    cluster = Cluster(client)
    ns = f"bench-guard-{uuid.uuid4().hex[:6]}"
    client.create(Namespace(metadata=ObjectMeta(name=ns, labels={LABEL: ns})))
    rails = warn_builtins(ns) if guarded else []
    try:
        for rail in rails:
            cluster.apply(to_dict(rail))
        cluster.apply(
            {
                "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
                "kind": "Source",
                "metadata": {"name": "repo", "namespace": ns},
                "spec": {"url": url},
            }
        )

        def create(i: int) -> None:
            spec = {"sourceRef": {"name": "repo"}, "path": f"a{i}", "retry": {"interval": "1s"}}
            cluster.apply(
                {
                    "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
                    "kind": "Application",
                    "metadata": {"name": f"a{i}", "namespace": ns},
                    "spec": spec,
                }
            )

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(create, range(apps)))
        controller = Controller(
            client, tmp / f"cache-{ns}", namespace=ns, workers=workers, policy=LOCAL_REPOSITORIES
        )
        start, cpu = time.perf_counter(), time.process_time()
        ready = warned = 0
        while time.perf_counter() - start < 1800:
            found = controller.reconcile_all()
            statuses = [a.status for a in found.values() if a.status]
            ready = sum(
                1
                for s in statuses
                if any(c.type == "Ready" and c.status == "True" for c in s.conditions)
            )
            warned = sum(1 for s in statuses if s.guardrail_warnings)
            if ready == apps:
                break
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        return (
            f"guardrails={len(rails)} apps={apps} all_ready_s={elapsed:.1f} cpu_s={cpu:.1f} "
            f"ready={ready} with_warnings={warned} guardrail_reads={controller.guardrails.reads}"
        )
    finally:
        client.delete(Namespace, ns)
        for rail in rails:
            cluster.delete(API_VERSION, Key(GROUP, "Guardrail", "", rail.name))


def gate_cost(repeat: int) -> str:
    """CPU of the pure gate for one Application: 20 Warn built-ins x its 4 objects."""
    rails = warn_builtins("x")
    labels = {"team": {LABEL: "x"}}
    objs = app_objects(0, "team")
    presync(rails, objs, namespaces=labels)  # compile once, as the operator does
    times = []
    for _ in range(repeat):
        start = time.process_time()
        gate = presync(rails, objs, namespaces=labels)
        times.append(time.process_time() - start)
    return (
        f"gate_ms_per_app={statistics.median(times) * 1000:.2f} "
        f"findings_per_app={len({*gate.warnings, *gate.audits})} policies={len(rails)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True, type=Path)
    parser.add_argument("--apps", type=int, default=100)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    print(gate_cost(200))
    client = load_client(args.kubeconfig, field_manager="bench")
    cluster = Cluster(client)
    for manifest in [*(crd(k) for k in KINDS), guardrail_crd()]:
        cluster.apply(manifest)
    names = [f"{k.plural}.{k.group}" for k in KINDS] + [guardrail_crd()["metadata"]["name"]]
    cluster.wait_established(names, timeout=60)
    tmp = Path(tempfile.mkdtemp(prefix="qd-bench-"))
    url = make_repo(tmp / "repo", args.apps)
    for guarded in (False, True):
        print(run(client, url, args.apps, args.workers, guarded, tmp), flush=True)


if __name__ == "__main__":
    main()
