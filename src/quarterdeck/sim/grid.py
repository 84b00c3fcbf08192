"""Run the fill experiment for every (policy, seed) pair, on several processes.

This is shell: it reads files, measures wall time and forks workers; the decisions it
drives are the pure placement core.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from quarterdeck.placement import NodeSpec, TargetWorkload, scorer_named
from quarterdeck.sim.fill import FillRun, run_fill
from quarterdeck.sim.trace import Task, load_nodes, load_tasks


@dataclass(frozen=True)
class TimedRun:
    """A fill run and the wall seconds it took (placements only, files already loaded)."""

    run: FillRun
    seconds: float


@dataclass(frozen=True)
class Inputs:
    nodes: list[NodeSpec]
    tasks: list[Task]
    workload: TargetWorkload


def load_inputs(nodes_path: Path, trace_path: Path) -> Inputs:
    """Nodes and tasks, validated against each other (trace GPU models must exist)."""
    nodes = load_nodes(nodes_path)
    tasks = load_tasks(trace_path, {n.gpu_model for n in nodes if n.gpu_count})
    return Inputs(nodes, tasks, TargetWorkload.from_requests(t.request for t in tasks))


_INPUTS: Inputs | None = None


def _init_worker(inputs: Inputs) -> None:
    global _INPUTS
    _INPUTS = inputs


def _one(job: tuple[str, int, float]) -> TimedRun:
    assert _INPUTS is not None
    policy, seed, load = job
    start = time.perf_counter()
    run = run_fill(_INPUTS.nodes, _INPUTS.tasks, policy, seed, load, _INPUTS.workload)
    return TimedRun(run, time.perf_counter() - start)


def run_grid(
    inputs: Inputs,
    policies: Sequence[str],
    seeds: Sequence[int],
    load: float = 1.3,
    workers: int = 1,
    on_done: Callable[[TimedRun], None] | None = None,
) -> list[TimedRun]:
    """All (policy, seed) fill runs; `on_done` is called as each finishes (any order).

    Results come back sorted by policy order, then seed.
    """
    for name in policies:
        scorer_named(name, inputs.workload)  # fail fast on an unknown policy
    # Slowest policies first so the pool's tail is short.
    jobs = [(p, s, load) for p in policies for s in seeds]
    jobs.sort(key=lambda j: not j[0].startswith("fgd"))
    results: list[TimedRun] = []
    for timed in _execute(inputs, jobs, workers):
        results.append(timed)
        if on_done is not None:
            on_done(timed)
    order = {p: i for i, p in enumerate(policies)}
    results.sort(key=lambda t: (order[t.run.policy], t.run.seed))
    return results


def _execute(
    inputs: Inputs, jobs: list[tuple[str, int, float]], workers: int
) -> Iterator[TimedRun]:
    if workers <= 1:
        _init_worker(inputs)
        yield from map(_one, jobs)
        return
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(inputs,)) as pool:
        yield from pool.imap_unordered(_one, jobs)
