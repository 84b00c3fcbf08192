"""Failover: kill -9 of the leading `qd operator` to the first reconcile by the new one.

Two `qd operator --leader-elect` processes (delivery only, scoped to a fresh namespace)
share one Application of a local git repository. Each round kills the leader with
SIGKILL, commits a new ConfigMap to the repository at once, and times until that
ConfigMap exists: only the new leader can have created it, so the time covers waiting
out the lease, starting the controllers and the first pass. The killed process is then
started again as the standby for the next round.

    python bench/operator_failover.py --kubeconfig PATH --rounds 5
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import yaml
from lightkube import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from gitrepo import Repo
from operator_process import OperatorProcess, lease_holder
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.kube.config import load_client
from quarterdeck.kube.wait import wait_for

CRDS = Path(__file__).parents[1] / "deploy" / "crds"
GROUP = "delivery.quarterdeck.dev/v1alpha1"


def cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '1'\n"


def log_times(log: Path, since: float) -> dict[str, float]:
    """Wall-clock times of the new leader's first "became leader" and "controller
    started" after ``since``, from its JSON log."""
    found: dict[str, float] = {}
    for line in log.read_text().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        at = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()
        if at >= since and entry["event"] in ("became leader", "controller started"):
            found.setdefault(entry["event"], at)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lease-duration", type=float, default=15.0)
    parser.add_argument("--renew-deadline", type=float, default=10.0)
    parser.add_argument("--retry-period", type=float, default=2.0)
    args = parser.parse_args()
    lease = (args.lease_duration, args.renew_deadline, args.retry_period)
    kube = load_client(args.kubeconfig)
    cluster = Cluster(kube)
    for path in sorted(CRDS.glob("*.yaml")):
        cluster.apply(yaml.safe_load(path.read_text()))
    cluster.wait_established([p.stem for p in CRDS.glob("*.yaml")], timeout=60)
    namespace = f"bench-failover-{uuid.uuid4().hex[:6]}"
    kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
    work = Path(tempfile.mkdtemp(prefix="qd-failover-"))
    repo = Repo(work / "repo")
    files = {"web/r0.yaml": cm("r0")}
    repo.commit("r0", files)
    cluster.apply(
        {
            "apiVersion": GROUP,
            "kind": "Source",
            "metadata": {"name": "repo", "namespace": namespace},
            "spec": {"url": repo.url, "ref": {"branch": "main"}, "interval": "1m"},
        }
    )
    cluster.apply(
        {
            "apiVersion": GROUP,
            "kind": "Application",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "sourceRef": {"name": "repo"},
                "path": "web",
                "timeout": "30s",
                "interval": "1m",
            },
        }
    )

    def exists(name: str) -> bool:
        try:
            kube.get(ConfigMap, name, namespace=namespace)
        except ApiError:
            return False
        return True

    ops = {i: OperatorProcess(args.kubeconfig, work, namespace, i, lease) for i in ("a", "b")}
    times: list[float] = []
    try:
        ops["a"].start()
        wait_for(lambda: ops["a"].readyz() == "leader", "a to lead", 120)
        ops["b"].start()
        wait_for(lambda: ops["b"].readyz() == "standby", "b to stand by", 120)
        wait_for(lambda: exists("r0"), "the first sync", 120)
        for round_ in range(1, args.rounds + 1):
            leader = ops[str(lease_holder(kube, namespace))]
            standby = next(o for o in ops.values() if o is not leader)
            killed_at, killed_wall = time.monotonic(), time.time()
            leader.signal(signal.SIGKILL)
            leader.wait()
            files[f"web/r{round_}.yaml"] = cm(f"r{round_}")
            repo.commit(f"r{round_}", files)
            try:
                wait_for(lambda r=round_: exists(f"r{r}"), "a prompt reconcile", 30, 0.05)
            except TimeoutError:  # late: ask the new leader where its threads are
                standby.signal(signal.SIGUSR1)
                wait_for(lambda r=round_: exists(f"r{r}"), "the new leader's reconcile", 120)
            took = time.monotonic() - killed_at
            times.append(took)
            seen = log_times(standby.log, killed_wall)
            lead = seen.get("became leader", float("nan")) - killed_wall
            started = seen.get("controller started", float("nan")) - killed_wall
            print(
                f"round {round_}: {standby.identity} led after {lead:.2f} s, controllers "
                f"started at {started:.2f} s, reconciled {took:.2f} s after kill -9",
                flush=True,
            )
            leader.start()  # back as the standby
            wait_for(lambda o=leader: o.readyz() == "standby", "the restarted standby", 120)
    finally:
        for op in ops.values():
            op.stop()
        kube.delete(Namespace, namespace)
    print(
        f"lease {lease[0]:g}s / renew {lease[1]:g}s / retry {lease[2]:g}s, {len(times)} "
        f"rounds: median {statistics.median(times):.2f} s, max {max(times):.2f} s "
        f"(goal <= {lease[0] + 2:g} s)"
    )


if __name__ == "__main__":
    main()
