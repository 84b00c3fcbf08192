"""A GPU metrics source in NVIDIA dcgm-exporter's format, for the dev cluster's fake GPUs.

Per GPU of every fake GPU node it serves `DCGM_FI_DEV_GPU_UTIL` (percent),
`DCGM_FI_DEV_FB_USED` (MiB) and `DCGM_FI_PROF_GR_ENGINE_ACTIVE` (ratio) with
dcgm-exporter's labels: `gpu`, `UUID`, `device`, `modelName`, `Hostname`, and the pod
mapping `pod`, `namespace`, `container` (empty on a GPU no pod holds, as the exporter
does). A MIG instance is its own series with `GPU_I_PROFILE` and `GPU_I_ID`, as the
exporter reports MIG. A GPU shared by several pods has one series per pod.

Utilisation is whatever the pod says, so demos and tests have honest, controllable
metrics: the annotation `quarterdeck.dev/gpu-util: "35"`, or a schedule
`quarterdeck.dev/gpu-util-schedule: "0s=80,30m=0"` (offsets from the pod's start).
A running pod without either is busy at 100 %. `series` is pure; `serve` lists nodes
and pods on each scrape, so what Prometheus stores is what the cluster holds then.

Run: `python -m quarterdeck.devcluster.dcgm --kubeconfig K --port P` (the dev
cluster's Prometheus starts it; see `devcluster.prometheus`).
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from quarterdeck.api.duration import parse_duration
from quarterdeck.showback.claims import (
    MILLI_PER_GPU,
    PRODUCT_LABEL,
    Claim,
    claim_of,
    gpu_container,
)
from quarterdeck.showback.clock import Clock, FileClock, SystemClock

UTIL_ANNOTATION = "quarterdeck.dev/gpu-util"
SCHEDULE_ANNOTATION = "quarterdeck.dev/gpu-util-schedule"
METRICS = (
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active."),
)
Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Series:
    labels: tuple[tuple[str, str], ...]
    util: int  # percent
    fb_used_mib: int


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def utilisation(pod: Obj, now: float) -> int:
    """The pod's GPU utilisation in percent at `now`; ValueError for a bad annotation."""
    meta = pod.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    where = f"Pod {meta.get('namespace', '')}/{meta.get('name', '')}"
    schedule = annotations.get(SCHEDULE_ANNOTATION)
    if schedule:
        started = _timestamp((pod.get("status") or {}).get("startTime")) or now
        return schedule_value(schedule, now - started, where)
    value = annotations.get(UTIL_ANNOTATION)
    return 100 if value is None else _percent(value, f"{where}: {UTIL_ANNOTATION}")


def schedule_value(schedule: str, elapsed: float, where: str) -> int:
    """`0s=80,30m=0`: the value of the last step whose offset has passed (0 before any)."""
    current = 0
    steps: list[tuple[float, int]] = []
    for part in schedule.split(","):
        offset, sep, text = part.strip().partition("=")
        if not sep:
            raise ValueError(f"{where}: {SCHEDULE_ANNOTATION} step {part!r} is not OFFSET=PERCENT")
        at = offset.strip()
        seconds = 0.0 if at in ("0", "0s") else parse_duration(at)
        steps.append((seconds, _percent(text, f"{where}: {SCHEDULE_ANNOTATION}")))
    for at_seconds, value in sorted(steps):
        if elapsed >= at_seconds:
            current = value
    return current


def _percent(text: str, where: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a whole percent") from None
    if not 0 <= value <= 100:
        raise ValueError(f"{where}: {value} is outside 0..100")
    return value


def _gpu_uuid(node: str, index: int, instance: int | None = None) -> str:
    key = f"{node}/{index}" + ("" if instance is None else f"/{instance}")
    return f"GPU-{uuid.uuid5(uuid.NAMESPACE_URL, 'quarterdeck-fake-gpu:' + key)}"


def _model_name(node: Obj) -> str:
    product = ((node.get("metadata") or {}).get("labels") or {}).get(PRODUCT_LABEL, "")
    return str(product).replace("-", " ")


def _gpu_count(node: Obj) -> int:
    labels = (node.get("metadata") or {}).get("labels") or {}
    try:
        return int(labels.get("nvidia.com/gpu.count", "0"))
    except ValueError:
        return 0


def _running_on(pods: Iterable[Obj], node: str) -> list[tuple[Obj, Claim]]:
    held = []
    for pod in pods:
        if (pod.get("spec") or {}).get("nodeName") != node:
            continue
        if (pod.get("status") or {}).get("phase") != "Running":
            continue
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        try:
            claim = claim_of(pod)
        except ValueError:
            continue
        if claim.holds_gpu:
            held.append((pod, claim))
    held.sort(
        key=lambda pc: (pc[0]["metadata"].get("creationTimestamp", ""), pc[0]["metadata"]["name"])
    )
    return held


def node_series(node: Obj, pods: Iterable[Obj], now: float) -> list[Series]:
    """Every series of one node: pods take GPUs in creation order (whole GPUs first
    free indices, shares packed onto the first GPU with room, MIG instances by slot)."""
    name = node["metadata"]["name"]
    count = _gpu_count(node)
    memory_mib = int(
        ((node.get("metadata") or {}).get("labels") or {}).get("nvidia.com/gpu.memory", "0") or 0
    )
    model = _model_name(node)
    free_milli = [MILLI_PER_GPU] * count
    holders: list[list[tuple[Obj, int, Claim]]] = [[] for _ in range(count)]
    mig: list[tuple[Obj, Claim, int]] = []
    for pod, claim in _running_on(pods, name):
        util = _safe_util(pod, now)
        if claim.kind == "mig":
            mig.append((pod, claim, util))
        elif claim.kind == "whole":
            wanted = claim.gpu_milli // MILLI_PER_GPU
            free = [i for i in range(count) if free_milli[i] == MILLI_PER_GPU][:wanted]
            for i in free:
                free_milli[i] = 0
                holders[i].append((pod, util, claim))
        else:
            slot = next((i for i in range(count) if free_milli[i] >= claim.gpu_milli), None)
            if slot is not None:
                free_milli[slot] -= claim.gpu_milli
                holders[slot].append((pod, util, claim))

    def labels(
        index: int, pod: Obj | None, extra: Sequence[tuple[str, str]] = ()
    ) -> tuple[tuple[str, str], ...]:
        meta = (pod or {}).get("metadata") or {}
        instance = dict(extra).get("GPU_I_ID")
        return (
            ("gpu", str(index)),
            ("UUID", _gpu_uuid(name, index, None if instance is None else int(instance))),
            ("device", f"nvidia{index}"),
            ("modelName", model),
            ("Hostname", name),
            *extra,
            ("container", gpu_container(pod) if pod else ""),
            ("namespace", str(meta.get("namespace", ""))),
            ("pod", str(meta.get("name", ""))),
        )

    out: list[Series] = []
    if mig:
        per_gpu = max(1, -(-len(mig) // max(count, 1)))
        for n, (pod, claim, util) in enumerate(mig):
            gpu, instance = divmod(n, per_gpu)
            extra = (("GPU_I_ID", str(instance)), ("GPU_I_PROFILE", claim.mig_profile or ""))
            out.append(Series(labels(min(gpu, max(count - 1, 0)), pod, extra), util, 0))
        return out
    for i in range(count):
        if not holders[i]:
            out.append(Series(labels(i, None), 0, 0))
        for pod, util, claim in holders[i]:
            share = min(claim.gpu_milli, MILLI_PER_GPU)
            fb = memory_mib * share // MILLI_PER_GPU * util // 100
            out.append(Series(labels(i, pod), util, fb))
    return out


def _safe_util(pod: Obj, now: float) -> int:
    try:
        return utilisation(pod, now)
    except ValueError:
        return 0  # a bad annotation reads as an idle GPU, never as a broken scrape


def series(nodes: Iterable[Obj], pods: Sequence[Obj], now: float) -> list[Series]:
    return [s for node in nodes if _gpu_count(node) for s in node_series(node, pods, now)]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(all_series: Sequence[Series]) -> str:
    """The Prometheus text exposition, metric by metric, as dcgm-exporter writes it."""
    lines: list[str] = []
    for metric, kind, help_text in METRICS:
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]
        for s in all_series:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in s.labels)
            if metric == "DCGM_FI_DEV_GPU_UTIL":
                value = str(s.util)
            elif metric == "DCGM_FI_DEV_FB_USED":
                value = str(s.fb_used_mib)
            else:
                value = repr(s.util / 100)
            lines.append(f"{metric}{{{labels}}} {value}")
    return "\n".join(lines) + "\n"


def serve(kubeconfig: str, host: str, port: int, clock: Clock) -> None:
    """Serve `/metrics` until killed, reading nodes and pods on every scrape."""
    from lightkube.resources.core_v1 import Node, Pod

    from quarterdeck.kube.client import load_client

    client = load_client(Path(kubeconfig))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self._send(404, b"not found\n")
                return
            nodes = [n.to_dict() for n in client.list(Node)]
            pods = [p.to_dict() for p in client.list(Pod, namespace="*")]
            self._send(200, render(series(nodes, pods, clock.now())).encode())

        def _send(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clock-file", help="Unix seconds to use as now (tests, demos)")
    args = parser.parse_args()
    clock = FileClock(Path(args.clock_file)) if args.clock_file else SystemClock()
    serve(args.kubeconfig, args.host, args.port, clock)


if __name__ == "__main__":
    main()
