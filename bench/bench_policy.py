"""Benchmark: 20 Guardrails x 10,000 rendered objects (pods and pod templates).

The 20 are the 11 built-ins (Pod Security baseline and restricted at latest among
them) plus the Pod Security levels pinned at nine more policy versions, so the full
Pod Security Standards (every check, every version's rules) weigh in the number.

Prints compile time, evaluation time, and the cost per policy-object pair. The object
mix is the library's allowed/denied examples, renamed and varied, so about a third of
objects violate something (violations cost more than passes: messageExpressions run).

    python bench/bench_policy.py [--objects 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time

from quarterdeck.policy.cel_engine import CelExprBackend, ProgramCache
from quarterdeck.policy.evaluate import check
from quarterdeck.policy.library import builtins, select
from quarterdeck.policy.library_examples import examples

PINNED = [f"pss-{level}@{version}" for level, versions in (
    ("baseline", ("v1.0", "v1.19", "v1.25", "v1.30")),
    ("restricted", ("v1.0", "v1.19", "v1.25", "v1.30", "v1.34"))) for version in versions]


def objects(n: int) -> list[dict[str, object]]:
    pool = [e.obj for e in examples()]
    out = []
    for i in range(n):
        obj = copy.deepcopy(pool[i % len(pool)])
        obj["metadata"]["name"] = f"obj-{i}"  # type: ignore[index]
        obj["metadata"]["namespace"] = f"team-{i % 50}"  # type: ignore[index]
        out.append(obj)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    policies = [*builtins().values(), *select(PINNED)]
    objs = objects(args.objects)
    kinds: dict[str, int] = {}
    for o in objs:
        kinds[str(o["kind"])] = kinds.get(str(o["kind"]), 0) + 1

    cache = ProgramCache(CelExprBackend())
    start = time.perf_counter()
    report = check(policies, objs[:1], cache=cache)
    cold = time.perf_counter() - start

    runs, runs_with_budget, cpu = [], [], []
    for _ in range(args.repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        report = check(policies, objs, cache=cache)
        runs.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        start = time.perf_counter()
        check(policies, objs, cache=cache, clock=time.perf_counter)
        runs_with_budget.append(time.perf_counter() - start)
    pairs = sum(len(m) for m in report.matched.values())
    best, best_budget = min(runs), min(runs_with_budget)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, python {platform.python_version()}")
    pss = sum(g.spec.pod_security is not None for g in policies)
    print(f"policies: {len(policies)} ({pss} Pod Security levels)  objects: {len(objs)}  "
          f"kinds: {kinds}")
    print(f"policy-object pairs in scope: {pairs}  violations: {len(report.violations)}")
    print(f"first call (compile {len(policies)} policies + 1 object): {cold * 1000:.1f} ms")
    print(f"evaluate, no time budget:   best {best:.3f} s  median {statistics.median(runs):.3f} s")
    print(f"evaluate, CPU time of this process: best {min(cpu):.3f} s "
          f"(wall time above includes waiting for the CPU on a shared machine)")
    print(f"evaluate, with time budget (as qd check): best {best_budget:.3f} s  "
          f"median {statistics.median(runs_with_budget):.3f} s")
    print(f"per policy-object pair: {best / pairs * 1e6:.1f} us wall, "
          f"{min(cpu) / pairs * 1e6:.1f} us CPU "
          f"({best_budget / pairs * 1e6:.1f} us with budget clock)")
    print(f"per object, all {len(policies)} policies: {best / len(objs) * 1000:.3f} ms")


if __name__ == "__main__":
    main()
