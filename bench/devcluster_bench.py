"""Benchmark `qd dev`: warm start to Ready, many nodes to Ready, control-plane memory.

Run:  .venv/bin/python bench/devcluster_bench.py [--runs 5] [--nodes 1000] [--trace openb]
Prints one line per measurement; the cold build is timed separately (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from quarterdeck.devcluster import build, cluster, tracedata
from quarterdeck.devcluster.nodes import trace_nodes
from quarterdeck.devcluster.pools import NodeSpec
from quarterdeck.devcluster.session import PlainReporter, specs
from quarterdeck.devcluster.versions import Component


class QuietReporter(PlainReporter):
    """Records when each phase finished instead of printing."""

    def __init__(self) -> None:
        super().__init__()
        self.started = time.perf_counter()
        self.finished: dict[str, float] = {}

    def step(self, text: str) -> None:
        self.finished[text] = time.perf_counter() - self.started

    def progress(self, task: str, done: int, total: int | None) -> None:
        if total and done >= total and task not in self.finished:
            self.finished[task] = time.perf_counter() - self.started


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (kwok and friends have none)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed_up(name: str, nodes: list[NodeSpec], binaries: dict[Component, Path]) -> float:
    reporter = QuietReporter()
    cluster.up(name, nodes, binaries, reporter, timeout=600)
    total = time.perf_counter() - reporter.started
    if len(nodes) > 100:
        phases = ", ".join(f"{k} at {v:.1f}s" for k, v in reporter.finished.items())
        print(f"  phases: {phases}")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--trace", default="openb")
    args = parser.parse_args()
    binaries = build.ensure_binaries(QuietReporter().progress)
    name = f"bench-{os.getpid()}"

    small = specs(["2x cpu-16", "2x gpu-h100-8"])
    times = []
    for _ in range(args.runs):
        times.append(timed_up(name, small, binaries))
        cluster.down(name)
    print(
        f"warm up (4 nodes) to Ready: median {statistics.median(times):.2f}s "
        f"min {min(times):.2f}s max {max(times):.2f}s over {args.runs} runs"
    )

    many = specs([f"{args.nodes}x gpu-a100-8"])
    t = timed_up(name, many, binaries)
    print(f"up with {args.nodes} GPU nodes to all Ready: {t:.1f}s")
    cluster.down(name)

    node_file = tracedata.resolve_node_file(args.trace, Path.cwd())
    trace = trace_nodes(node_file.read_text(), str(node_file))
    t = timed_up(name, trace, binaries)
    print(f"up with the {len(trace)} openb trace nodes to all Ready: {t:.1f}s")
    time.sleep(30)  # let the controllers settle before reading memory
    st = cluster.status(name)
    assert st is not None
    total = 0.0
    for c in st.components:
        mib = rss_mib(c.pid)
        total += mib
        print(f"  RSS {c.component.value:<24} {mib:7.0f} MiB")
    print(f"  RSS control plane total        {total:7.0f} MiB ({len(trace)} nodes, idle)")
    cluster.down(name)


if __name__ == "__main__":
    main()
