"""Many small Applications from one repository: time until all are Ready, peak RSS.

Each Application syncs its own directory of four objects (a Deployment scaled to 0,
a ServiceAccount, a Service, a ConfigMap). The operator's loop (work queue woken by
informers) runs in this process, or with ``--passes`` one-pass reconciles in a loop;
the peak RSS printed is this process's (controller, git and render included).

    python bench/delivery_apps.py --kubeconfig PATH --apps 1000 --workers 16
    python bench/delivery_apps.py --kubeconfig PATH --apps 1000 --impersonate --identities 1000
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from lightkube import ApiError, Client
from lightkube.models.authorization_v1 import ResourceAttributes, SubjectAccessReviewSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.authorization_v1 import SubjectAccessReview
from lightkube.resources.core_v1 import Namespace

from quarterdeck.api.crd import crd
from quarterdeck.api.delivery import KINDS as DELIVERY_KINDS
from quarterdeck.api.project import KINDS as PROJECT_KINDS
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.controller import Controller
from quarterdeck.delivery.inventory import Owner
from quarterdeck.delivery.runner import Runner, is_ready
from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES
from quarterdeck.kube.client import load_client

APP = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: a{i}}}
spec:
  replicas: 0
  selector: {{matchLabels: {{app: a{i}}}}}
  template:
    metadata: {{labels: {{app: a{i}}}}}
    spec:
      serviceAccountName: a{i}
      containers: [{{name: c, image: nginx}}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: a{i}}}
---
apiVersion: v1
kind: Service
metadata: {{name: a{i}}}
spec:
  selector: {{app: a{i}}}
  ports: [{{port: 80}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: a{i}}}
data: {{i: "{i}"}}
"""


def make_repo(root: Path, apps: int) -> str:
    for i in range(apps):
        (root / "apps" / f"a{i}").mkdir(parents=True)
        (root / "apps" / f"a{i}" / "app.yaml").write_text(APP.format(i=i))
    env = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), *env, "commit", "-qm", "apps"], check=True)
    return root.resolve().as_uri()


class Latency:
    """Seconds from sending each request to its response's headers: the API server's
    time plus the network, without our process's work on either side."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def summary(self) -> str:
        if not self.seconds:
            return "n=0"
        ms = sorted(s * 1000 for s in self.seconds)
        return (
            f"n={len(ms)} mean_ms={statistics.fmean(ms):.1f} median_ms={ms[len(ms) // 2]:.1f} "
            f"p90_ms={ms[len(ms) * 9 // 10]:.1f}"
        )


def count_calls(
    client: object,
    calls: collections.Counter[str] | None = None,
    latency: Latency | None = None,
) -> collections.Counter[str]:
    """Count API requests by verb and resource (``PATCH configmaps dryRun``) from now on,
    and time them (watches left out) into ``latency``."""
    calls = collections.Counter() if calls is None else calls
    http: httpx.Client = client._client._client  # type: ignore[attr-defined]

    def hook(request: httpx.Request) -> None:
        parts = request.url.path.strip("/").split("/")
        if "namespaces" in parts[:-1]:
            parts = parts[parts.index("namespaces") + 2 :] or parts
        else:
            parts = parts[3:] if parts[0] == "apis" else parts[2:]
        params = request.url.params
        verb = "WATCH" if params.get("watch") else request.method
        what = parts[0] if parts else "?"
        extra = "/status" if parts[-1:] == ["status"] else ""
        dry = " dryRun" if params.get("dryRun") else ""
        calls[f"{verb} {what}{extra}{'' if len(parts) > 1 else ' (list)'}{dry}"] += 1
        request.extensions["qd_sent"] = time.perf_counter()

    def answered(response: httpx.Response) -> None:
        sent = response.request.extensions.get("qd_sent")
        if (
            latency is not None
            and sent is not None
            and not response.request.url.params.get("watch")
        ):
            latency.seconds.append(time.perf_counter() - sent)

    http.event_hooks["request"].append(hook)
    http.event_hooks["response"].append(answered)
    return calls


def rbac_in_force(client: Client, namespace: str, account: str) -> None:
    """Wait until the API server lets ServiceAccount ``account`` patch ConfigMaps: syncs
    started before would fail as forbidden and be retried, which is not the cost of
    impersonation but of the benchmark's own set-up."""
    user = f"system:serviceaccount:{namespace}:{account}"
    attrs = ResourceAttributes(namespace=namespace, verb="patch", resource="configmaps")
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    review = SubjectAccessReview(
        spec=SubjectAccessReviewSpec(user=user, groups=groups, resourceAttributes=attrs)
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.create(review).status
        if status and status.allowed:
            return
        time.sleep(0.1)
    raise SystemExit(f"{user} is still not allowed to patch configmaps")


def bind_accounts(cluster: Cluster, namespace: str, accounts: list[str]) -> None:
    """ServiceAccounts ``accounts`` bound to the built-in admin ClusterRole in
    ``namespace``, and in force at the authorizer."""
    for name in accounts:
        meta = {"name": name, "namespace": namespace}
        cluster.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta})
    if not accounts:
        return
    cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "deployer", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "admin",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": name, "namespace": namespace}
                for name in accounts
            ],
        }
    )
    for name in accounts:  # a new RoleBinding takes a moment to reach the authorizer
        rbac_in_force(cluster.client, namespace, name)


class SyncLog:
    """Every sync of the run: per Application, why it was due (``AppMemory.why``) and how
    long its delivery took, so a re-sync is never mistaken for the cost of a first one."""

    def __init__(self, controller: Controller) -> None:
        self.per_app: collections.Counter[str] = collections.Counter()
        self.why: collections.Counter[str] = collections.Counter()
        self.seconds: list[float] = []
        self._lock = threading.Lock()
        deliver = controller._deliver

        def timed(app: Any, src: Any, revision: str, owner: Owner, *rest: Any) -> Any:
            started = time.perf_counter()
            try:
                return deliver(app, src, revision, owner, *rest)
            finally:
                with self._lock:
                    self.per_app[owner.name] += 1
                    self.why[controller.apps[owner].why] += 1
                    self.seconds.append(time.perf_counter() - started)

        setattr(controller, "_deliver", timed)  # noqa: B010 (a benchmark's probe)

    def summary(self) -> str:
        runs = collections.Counter(self.per_app.values())
        mean = statistics.fmean(self.seconds) if self.seconds else 0.0
        median = statistics.median(self.seconds) if self.seconds else 0.0
        return (
            f"syncs={len(self.seconds)} by_why={dict(self.why)} "
            f"apps_by_syncs={dict(sorted(runs.items()))} "
            f"sync_s_mean={mean:.3f} sync_s_median={median:.3f}"
        )


def run_operator(controller: Controller, apps: int, workers: int) -> tuple[int, int]:
    """Run the operator's loop (work queue + informers) until every Application is
    Ready; (Ready count, keys handled)."""
    runner = Runner(controller, tick=30.0, workers=workers)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.perf_counter() + 1800
    ready = 0
    try:
        while time.perf_counter() < deadline:
            ready = sum(1 for a in runner.apps.list() if is_ready(a))
            if ready == apps:
                break
            runner.stop.wait(0.2)
    finally:
        runner.stop.set()
        thread.join(timeout=30)
    return ready, runner.passes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True, type=Path)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument(
        "--interval",
        default="1h",
        help="the Applications' spec.interval; a run longer than it re-syncs the ones done "
        "first (routine re-syncs, counted as why=interval), which is not the cost of a sync",
    )
    parser.add_argument("--count-calls", action="store_true", help="print API calls per app")
    parser.add_argument(
        "--passes",
        action="store_true",
        help="drive Controller.reconcile_all passes instead of the operator's work queue",
    )
    parser.add_argument(
        "--impersonate",
        action="store_true",
        help="apply as a ServiceAccount of the namespace (spec.serviceAccountName, "
        "bound to the built-in admin ClusterRole): the cost of tenancy's impersonation",
    )
    parser.add_argument(
        "--identities",
        type=int,
        default=1,
        help="with --impersonate: spread the Applications over this many ServiceAccounts "
        "(one impersonated identity each): the cost per identity",
    )
    args = parser.parse_args()
    KINDS = (*DELIVERY_KINDS, *PROJECT_KINDS)
    client = load_client(args.kubeconfig, field_manager="bench")
    cluster = Cluster(client)
    for kind in KINDS:
        cluster.apply(crd(kind))
    cluster.wait_established([f"{k.plural}.{k.group}" for k in KINDS], timeout=60)
    ns = f"bench-apps-{uuid.uuid4().hex[:6]}"
    client.create(Namespace(metadata=ObjectMeta(name=ns)))
    tmp = Path(tempfile.mkdtemp(prefix="qd-bench-"))
    try:
        url = make_repo(tmp / "repo", args.apps)
        cluster.apply(
            {
                "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
                "kind": "Source",
                "metadata": {"name": "repo", "namespace": ns},
                "spec": {"url": url},
            }
        )

        accounts = [f"deployer{k}" for k in range(args.identities if args.impersonate else 0)]
        bind_accounts(cluster, ns, accounts)

        def create(i: int) -> None:
            account = {"serviceAccountName": accounts[i % len(accounts)]} if accounts else {}
            cluster.apply(
                {
                    "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
                    "kind": "Application",
                    "metadata": {"name": f"a{i}", "namespace": ns},
                    "spec": {
                        "sourceRef": {"name": "repo"},
                        "path": f"apps/a{i}",
                        "retry": {"interval": "1s"},
                        "interval": args.interval,
                        **account,
                    },
                }
            )

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(create, range(args.apps)))
        controller = Controller(
            client, tmp / "cache", namespace=ns, workers=args.workers, policy=LOCAL_REPOSITORIES
        )
        log = SyncLog(controller)
        own_latency, tenant_latency = Latency(), Latency()
        calls: collections.Counter[str] = collections.Counter()
        if args.count_calls:
            count_calls(client, calls, own_latency)
        tenant_calls: collections.Counter[str] = collections.Counter()
        if args.count_calls:  # the tenants' own clients count too (one shared counter)
            for name in accounts:
                user = f"system:serviceaccount:{ns}:{name}"
                tenant = controller.cluster.impersonating(user).client
                count_calls(tenant, tenant_calls, tenant_latency)
        start = time.perf_counter()
        cpu_start = time.process_time()
        passes = 0
        if args.passes:
            while True:
                apps = controller.reconcile_all()
                passes += 1
                ready = sum(
                    1
                    for a in apps.values()
                    if a.status
                    and any(c.type == "Ready" and c.status == "True" for c in a.status.conditions)
                )
                if ready == args.apps or time.perf_counter() - start > 1800:
                    break
        else:
            ready, passes = run_operator(controller, args.apps, args.workers)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        load = os.getloadavg()
        print(
            f"apps={args.apps} objects={4 * args.apps} workers={args.workers} "
            f"identities={len(accounts)} load={load[0]:.1f},{load[1]:.1f},{load[2]:.1f} "
            f"all_ready_s={elapsed:.1f} ready={ready} passes={passes} "
            f"peak_rss_mib={rss_mib:.0f} cpu_s={cpu:.1f}"
        )
        print(f"  {log.summary()}")
        if accounts:
            calls.update({f"{k} (as tenant)": n for k, n in tenant_calls.items()})
        for what, n in sorted(calls.items(), key=lambda kv: -kv[1]):
            print(f"  {what:40} {n:7d}  {n / args.apps:6.2f}/app")
        if calls:
            print(f"  {'total':40} {calls.total():7d}  {calls.total() / args.apps:6.2f}/app")
            print(f"  request latency, own identity: {own_latency.summary()}")
            if accounts:
                print(f"  request latency, as tenant:    {tenant_latency.summary()}")
    finally:
        client.delete(Namespace, ns)
        gone(client, ns)


def gone(client: Client, namespace: str, timeout: float = 900) -> None:
    """Wait until ``namespace`` is deleted: the API server and controller-manager deleting
    4,000 objects would otherwise run during the next run and load it, not this one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.get(Namespace, namespace)
        except ApiError as err:
            if err.status.code == 404:
                return
            raise
        time.sleep(1)
    print(f"  namespace {namespace} still terminating after {timeout:.0f}s")


if __name__ == "__main__":
    main()
