"""Live queueing throughput through `qd operator`, and the API cost of one pass.

`throughput` (issue 15): on a dev cluster of 16 x 8 H100 (`qd dev up --name bench
--nodes '16x gpu-h100-8'`), two ClusterQueues of 64 GPUs in one cohort, N Jobs of
1 GPU x 5 s (`quarterdeck.dev/duration`) created unsuspended, half per queue, while
`qd operator` runs as a subprocess. Reports the time from the first submit to all
succeeded against the floor N x 5 / 128 s, pass times (the operator's
`quarterdeck_queueing_pass_seconds`), and GPUs reserved vs running sampled every 0.5 s.

`pass-cost` (issue 16): 200 running Jobs (1 GPU, 10 min) and 2,000 pending on a
ClusterQueue of 200 GPUs (needs `--nodes '25x gpu-h100-8'`); API requests and CPU
seconds of one pass over watch caches (what the operator does) against one pass
that lists every kind first (what every pass did before the caches), and an idle
cached pass after the Jobs of the first benchmark finished.

    python bench/queueing_live_throughput.py throughput --kubeconfig KC [--jobs 2000] [--staging]
    python bench/queueing_live_throughput.py pipeline --kubeconfig KC [--jobs 2000]
    python bench/queueing_live_throughput.py pass-cost --kubeconfig KC

`--staging` turns on the QueueingConfig's `spec.staging.enable` (staged pods: the next
Jobs' pods are created before admission, behind a scheduling gate). With
QD_BENCH_KEEP_LOG=FILE the operator's log is kept there (which pass or the finisher
freed each Job's quota).

`pipeline`: the same Jobs without qd (no queue label, created unsuspended), so the
dev cluster's job controller, kube-scheduler and kwok alone: the floor any queue in
front of them can reach on this machine. Both modes print each step's wait per Job
(created, admitted, unsuspended, pod created, bound, running, succeeded, Workload
Finished, Job Complete) as this process's watches saw it. Use a fresh dev cluster
per run: Jobs are not deleted (deleting thousands is itself minutes of API server
work on a loaded machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
from lightkube import ApiError, Client, codecs
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Namespace, Pod

from quarterdeck.api.queueing import GROUP, VERSION, all_crds
from quarterdeck.devcluster.stages import DURATION_ANNOTATION
from quarterdeck.kube.client import load_client
from quarterdeck.kube.crds import install_crds
from quarterdeck.kube.informer import SharedInformers
from quarterdeck.kube.wait import wait_for
from quarterdeck.queueing import admission
from quarterdeck.queueing.controller import Controller
from quarterdeck.queueing.live import LiveView

API = f"{GROUP}/{VERSION}"
GPU = "nvidia.com/gpu"
Flavor = create_global_resource(GROUP, VERSION, "ResourceFlavor", "resourceflavors")
ClusterQueue = create_global_resource(GROUP, VERSION, "ClusterQueue", "clusterqueues")
Config = create_global_resource(GROUP, VERSION, "QueueingConfig", "queueingconfigs")
LocalQueue = create_namespaced_resource(GROUP, VERSION, "LocalQueue", "localqueues")
WorkloadRes = create_namespaced_resource(GROUP, VERSION, "Workload", "workloads")


def setup_queues(kube: Client, queues: dict[str, int], cohort: str | None) -> None:
    """Flavor `h100`, one ClusterQueue and namespace (with LocalQueue `q`) per entry."""
    install_crds(kube, all_crds())
    admission.install(kube)
    wait_for(lambda: admission.in_force(kube), "the admission policy", 60)
    kube.apply(
        Flavor.from_dict(
            {
                "apiVersion": API,
                "kind": "ResourceFlavor",
                "metadata": {"name": "h100"},
                "spec": {"nodeLabels": {"quarterdeck.dev/pool": "gpu-h100-8"}},
            }
        ),
        force=True,
    )
    for name, gpus in queues.items():
        kube.apply(Namespace(metadata=ObjectMeta(name=name)), force=True)
        spec: dict[str, Any] = {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}},
            "resourceGroups": [
                {
                    "coveredResources": [GPU],
                    "flavors": [
                        {"name": "h100", "resources": [{"name": GPU, "nominalQuota": gpus}]}
                    ],
                }
            ],
        }
        if cohort:
            spec["cohort"] = cohort
        cq = {"apiVersion": API, "kind": "ClusterQueue", "metadata": {"name": name}, "spec": spec}
        kube.apply(ClusterQueue.from_dict(cq), force=True)
        lq = {
            "apiVersion": API,
            "kind": "LocalQueue",
            "metadata": {"name": "q", "namespace": name},
            "spec": {"clusterQueue": name},
        }
        kube.apply(LocalQueue.from_dict(lq), force=True)


def job(namespace: str, name: str, duration: str, queued: bool = True) -> dict[str, Any]:
    one = {GPU: "1"}
    labels = {"queueing.quarterdeck.dev/queue-name": "q"} if queued else {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "template": {
                "metadata": {"annotations": {DURATION_ANNOTATION: duration}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "t", "image": "t", "resources": {"requests": one, "limits": one}}
                    ],
                },
            }
        },
    }


def submit(
    kube: Client,
    jobs: list[dict[str, Any]],
    workers: int = 8,
    on_created: Callable[[str], object] | None = None,
) -> None:
    def one(body: dict[str, Any]) -> None:
        for _ in range(5):  # a loaded API server can time out; the Job may exist then
            try:
                kube.create(codecs.from_dict(body))
                break
            except httpx2.TimeoutException:
                continue
            except ApiError as err:
                if err.status.code == 409:
                    break
                raise
        if on_created is not None:
            on_created(body["metadata"]["name"])

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, jobs))


def _complete(job: dict[str, Any]) -> bool:
    conds = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Complete" and c.get("status") == "True" for c in conds)


def _reserved(wl: dict[str, Any]) -> int:
    status = wl.get("status") or {}
    conds = {c["type"]: c["status"] for c in status.get("conditions") or []}
    if conds.get("QuotaReserved") != "True" or conds.get("Finished") == "True":
        return 0
    return sum(
        int(str(ps.get("resourceUsage", {}).get(GPU, 0)))
        for ps in (status.get("admission") or {}).get("podSetAssignments") or []
    )


def throughput(kubeconfig: Path, n: int, duration: float, staging: bool = False) -> None:
    kube = load_client(kubeconfig, field_manager="bench")
    setup_queues(kube, {"team-a": 64, "team-b": 64}, cohort="research")
    if staging:
        spec = {"staging": {"enable": True}}
        body = {"apiVersion": API, "kind": "QueueingConfig", "metadata": {"name": "default"}}
        kube.apply(Config.from_dict(body | {"spec": spec}), force=True)
    with tempfile.TemporaryDirectory() as tmp:
        port = 19300 + os.getpid() % 500
        log = Path(tmp) / "operator.log"
        args = [
            str(Path(sys.executable).parent / "qd"), "operator", "--kubeconfig", str(kubeconfig),
            "--cache-dir", str(Path(tmp) / "cache"), "--tick", "5", "--metrics-port", str(port),
        ]  # fmt: skip
        with log.open("wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=out)
        try:
            wait_for(lambda: b"queueing  ready" in log.read_bytes(), "the operator", 120)
            _run(kube, n, duration, port)
        finally:
            proc.terminate()
            proc.wait(30)
            if os.environ.get("QD_BENCH_KEEP_LOG"):
                Path(os.environ["QD_BENCH_KEEP_LOG"]).write_bytes(log.read_bytes())
            problems = [ln for ln in log.read_text().splitlines() if "warning" in ln]
            print(f"operator warnings: {len(problems)}", *problems[:5], sep="\n  ")


class Stages:
    """When each Job reached each step, as this process's watches first saw it
    (monotonic seconds after the first submit): where a Job's time goes."""

    STEPS = (
        "admitted", "unsuspended", "pod", "bound", "running", "succeeded", "released", "complete"
    )  # fmt: skip

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.start = time.monotonic()
        self.seen: dict[str, dict[str, float]] = {step: {} for step in self.STEPS}
        self.lock = threading.Lock()

    def mark(self, step: str, job: str | None) -> None:
        if job in self.names:
            with self.lock:
                self.seen[step].setdefault(job, time.monotonic() - self.start)

    def on_pod(self, _: str, pod: dict[str, Any]) -> None:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        job = labels.get("batch.kubernetes.io/job-name")
        phase = (pod.get("status") or {}).get("phase")
        self.mark("pod", job)
        if (pod.get("spec") or {}).get("nodeName"):
            self.mark("bound", job)
        if phase in ("Running", "Succeeded"):
            self.mark("running", job)
        if phase == "Succeeded":
            self.mark("succeeded", job)

    def on_job(self, _: str, job: dict[str, Any]) -> None:
        name = job["metadata"]["name"]
        if (job.get("spec") or {}).get("suspend") is False:
            self.mark("unsuspended", name)
        if _complete(job):
            self.mark("complete", name)

    def on_workload(self, _: str, wl: dict[str, Any]) -> None:
        name = wl["metadata"]["name"].removeprefix("job-")
        if _reserved(wl) > 0:
            self.mark("admitted", name)
        conds = (wl.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Finished" and c.get("status") == "True" for c in conds):
            self.mark("released", name)

    def report(self, submitted: dict[str, float]) -> None:
        """Median and 95th percentile of each step's wait after the step before it."""
        before = submitted
        print("step        after       median    p95   (s, per Job, as the watches saw it)")
        for step in self.STEPS:
            now = self.seen[step]
            waits = sorted(now[j] - before[j] for j in now if j in before)
            if waits:
                p95 = waits[int(0.95 * (len(waits) - 1))]
                print(f"  {step:<10} {len(waits):>5}  {statistics.median(waits):8.2f} {p95:6.2f}")
                before = now
        # Where quota is reserved but idle, whatever came in between (staged pods exist
        # before their admission, so the chain above runs out of order for them).
        for first, then in (("admitted", "running"), ("succeeded", "released")):
            a, b = self.seen[first], self.seen[then]
            waits = sorted(b[j] - a[j] for j in b if j in a)
            if waits:
                p95 = waits[int(0.95 * (len(waits) - 1))]
                mean = statistics.mean(waits)
                print(f"  {first} -> {then}: median {statistics.median(waits):.2f} "
                      f"p95 {p95:.2f} mean {mean:.2f} s")  # fmt: skip


def _run(kube: Client, n: int, duration: float, port: int | None, queued: bool = True) -> None:
    informers = SharedInformers(kube)
    jobs, pods = informers.informer(Job), informers.informer(Pod)
    workloads = informers.informer(WorkloadRes) if queued else None
    namespaces = ("team-a", "team-b") if queued else ("pipeline",)
    run = f"r{int(time.time()) % 100000}"  # fresh names, so runs can follow each other
    bodies = [
        job(namespaces[i % len(namespaces)], f"{run}-{i:05d}", f"{duration:g}s", queued)
        for i in range(n)
    ]
    names = {b["metadata"]["name"] for b in bodies}
    stages = Stages(names)
    pods.add_handler(stages.on_pod)
    jobs.add_handler(stages.on_job)
    if workloads is not None:
        workloads.add_handler(stages.on_workload)
    informers.start()
    informers.wait_synced(60)
    stop = threading.Event()
    samples: list[tuple[int, int]] = []

    def sample() -> None:
        while not stop.wait(0.5):
            reserved = sum(_reserved(w) for w in workloads.list()) if workloads else 0
            running = sum(
                1 for p in pods.list() if (p.get("status") or {}).get("phase") == "Running"
            )
            samples.append((reserved, running))

    threading.Thread(target=sample, daemon=True).start()
    load = os.getloadavg()
    stages.start = start = time.monotonic()
    created: dict[str, float] = {}
    submit(kube, bodies, on_created=lambda name: created.setdefault(name, time.monotonic() - start))
    submitted = time.monotonic() - start

    def done() -> int:
        return sum(1 for j in jobs.list() if j["metadata"]["name"] in names and _complete(j))

    try:
        wait_for(lambda: done() == n, f"{n} Jobs", timeout=max(600.0, 10 * n * duration / 128))
    except TimeoutError:
        print(f"not finished: {done()} of {n} succeeded {time.monotonic() - start:.0f} s in")
    total = time.monotonic() - start
    stop.set()
    informers.stop()
    floor = n * duration / 128
    busy = [(r, u) for r, u in samples if r > 0 or u > 0]
    reserved = statistics.mean(r for r, _ in busy) if busy else 0.0
    running = statistics.mean(u for _, u in busy) if busy else 0.0
    what = "through qd operator" if queued else "WITHOUT qd (no queue label, not suspended)"
    print(f"jobs {n} x 1 GPU x {duration:g} s on 128 GPUs {what}")
    print(f"load average at start {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
          f"at end {' '.join(f'{x:.1f}' for x in os.getloadavg())}")  # fmt: skip
    print(f"submitted in {submitted:.1f} s; all succeeded {total:.1f} s after the first submit")
    print(f"floor {floor:.1f} s; ratio {total / floor:.2f}x")
    print(f"GPUs running {running:.1f} on average while busy (of 128)")
    stages.report(created)
    if port is not None:
        metrics = httpx2.get(f"http://127.0.0.1:{port}/metrics", timeout=60).text
        count = _metric(metrics, "quarterdeck_queueing_pass_seconds_count")
        total_pass = _metric(metrics, "quarterdeck_queueing_pass_seconds_sum")
        cpu = _metric(metrics, "quarterdeck_queueing_pass_cpu_seconds_total")
        print(f"passes {count:.0f}, mean pass {total_pass / max(count, 1) * 1000:.0f} ms, "
              f"pass thread CPU {100 * cpu / max(total_pass, 1e-9):.0f}% of it")  # fmt: skip
        print(f"GPUs reserved {reserved:.1f} on average while busy; idle reserved "
              f"{100 * (reserved - running) / max(reserved, 1e-9):.1f}%")  # fmt: skip


def pipeline(kubeconfig: Path, n: int, duration: float) -> None:
    """The same Jobs without qd: the dev cluster's own job controller, scheduler and
    kwok alone, which bound what any queue in front of them can reach."""
    kube = load_client(kubeconfig, field_manager="bench")
    kube.apply(Namespace(metadata=ObjectMeta(name="pipeline")), force=True)
    _run(kube, n, duration, None, queued=False)


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _counted(kube: Client) -> Callable[[], int]:
    """A counter of every HTTP request this client sends."""
    calls = [0]

    def hook(_: httpx2.Request) -> None:
        calls[0] += 1

    kube._client._client.event_hooks["request"].append(hook)
    return lambda: calls[0]


def pass_cost(kubeconfig: Path, running: int, pending: int) -> None:
    kube = load_client(kubeconfig, field_manager="bench")
    setup_queues(kube, {"cost": running}, cohort=None)
    print(f"creating {running} running and {pending} pending Jobs ...", flush=True)
    view = LiveView(kube)
    informers = SharedInformers(kube)
    view.attach(informers)
    informers.start()
    wait_for(view.synced, "caches", 60)
    controller = Controller(kube, view)
    submit(kube, [job("cost", f"run{i:04d}", "10m") for i in range(running)])
    wait_for(lambda: len(view.queued_jobs()) >= running, "jobs in cache", 60)
    controller.reconcile(time.time())
    submit(kube, [job("cost", f"wait{i:05d}", "10m") for i in range(pending)])
    wait_for(lambda: len(view.queued_jobs()) >= running + pending, "jobs in cache", 120)
    controller.reconcile(time.time())  # creates the pending Workloads
    wait_for(lambda: len(view.workloads.list()) >= running + pending, "workloads", 120)
    controller.reconcile(time.time())  # writes their pending reasons
    time.sleep(2)  # let the watches deliver the writes of that pass
    calls = _counted(kube)
    rows = []
    makers: tuple[tuple[str, Callable[[], Controller]], ...] = (
        ("cached (operator)", lambda: controller),
        ("list every kind first", lambda: _listing(kube)),
    )
    for label, make in makers:
        for _ in range(3):
            ctrl = make()
            before, cpu = calls(), time.process_time()
            if ctrl is not controller:
                ctrl.view.fill()
            report = ctrl.reconcile(time.time())
            rows.append((label, calls() - before, time.process_time() - cpu, report))
    informers.stop()
    print(f"{running} running, {pending} pending Workloads; one pass each:")
    for label, n_calls, cpu, report in rows:
        writes = len(report.admitted) + len(report.created) + len(report.finished)
        print(f"  {label:<24} {n_calls:>4} API requests  {cpu:6.3f} s CPU  ({writes} writes)")


def _listing(kube: Client) -> Controller:
    return Controller(kube, LiveView(kube))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("throughput", "pipeline", "pass-cost"))
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--running", type=int, default=200)
    parser.add_argument("--pending", type=int, default=2000)
    parser.add_argument("--staging", action="store_true", help="QueueingConfig staging on")
    args = parser.parse_args()
    if args.what == "throughput":
        throughput(args.kubeconfig, args.jobs, args.duration, args.staging)
    elif args.what == "pipeline":
        pipeline(args.kubeconfig, args.jobs, args.duration)
    else:
        pass_cost(args.kubeconfig, args.running, args.pending)


if __name__ == "__main__":
    main()
