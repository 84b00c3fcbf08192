"""What the operator's tick costs while nothing is due: CPU of one idle re-check.

`qd operator --tick` (default 1 s) puts every key back on the work queue at least that
often, so each Ready Application is looked at once a tick even when nothing changed:
decoded from the informer cache, checked against its Source, Project and schedule, and
put back. This syncs N Applications with the operator's loop (tick 1 h, so nothing is
re-checked meanwhile), then times N x 5 re-checks on this thread: CPU per re-check, and
what a 1 s tick costs per second at N and at 1,000 Applications.

    python bench/delivery_tick.py --kubeconfig PATH --apps 200
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from lightkube.resources.core_v1 import Namespace

from delivery_apps import make_repo
from delivery_selfheal import delivery_namespace
from quarterdeck.delivery.controller import Controller
from quarterdeck.delivery.inventory import Owner
from quarterdeck.delivery.runner import Runner, is_ready
from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES

API = "delivery.quarterdeck.dev/v1alpha1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True, type=Path)
    parser.add_argument("--apps", type=int, default=200)
    args = parser.parse_args()
    client, cluster, ns = delivery_namespace(args.kubeconfig, "bench-tick")
    tmp = Path(tempfile.mkdtemp(prefix="qd-bench-"))
    try:
        url = make_repo(tmp / "repo", args.apps)
        meta = {"name": "repo", "namespace": ns}
        cluster.apply({"apiVersion": API, "kind": "Source", "metadata": meta, "spec": {"url": url}})
        for i in range(args.apps):
            spec = {"sourceRef": {"name": "repo"}, "path": f"apps/a{i}", "interval": "1h"}
            meta = {"name": f"a{i}", "namespace": ns}
            app = {"apiVersion": API, "kind": "Application", "metadata": meta, "spec": spec}
            cluster.apply(app)
        ctl = Controller(client, tmp / "cache", namespace=ns, policy=LOCAL_REPOSITORIES)
        runner = Runner(ctl, tick=3600.0)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 900
        while sum(1 for a in runner.apps.list() if is_ready(a)) < args.apps:
            if time.monotonic() > deadline:
                raise SystemExit("not all Applications Ready within 900 s")
            runner.stop.wait(0.5)
        owners = [Owner(ns, f"a{i}") for i in range(args.apps)]
        synced = {o: ctl.apps[o].last_sync for o in owners}
        rounds = 5
        cpu, wall = time.thread_time(), time.perf_counter()
        for _ in range(rounds):
            for owner in owners:
                runner.reconcile_application(owner)
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        resynced = sum(ctl.apps[o].last_sync != synced[o] for o in owners)
        each, took = cpu / (rounds * args.apps), wall / (rounds * args.apps)
        load = os.getloadavg()
        print(
            f"apps={args.apps} load={load[0]:.1f},{load[1]:.1f},{load[2]:.1f} "
            f"recheck_cpu_us={each * 1e6:.0f} recheck_wall_us={took * 1e6:.0f} "
            f"resynced={resynced} tick_1s_core_share={each * args.apps:.3f} "
            f"at_1000_apps={each * 1000:.3f}"
        )
        runner.stop.set()
        thread.join(timeout=30)
    finally:
        client.delete(Namespace, ns)


if __name__ == "__main__":
    main()
