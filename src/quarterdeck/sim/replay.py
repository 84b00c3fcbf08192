"""Replay a trace in time: tasks arrive at their creation time, wait in a FIFO queue
until placement finds room, and leave after their traced duration.

There is no queueing cycle (quotas, cohorts) on main yet, so the queue here is a plain
best-effort FIFO in front of `place()`: on every arrival or departure the queue is
scanned in order and each task that fits starts; a task that does not fit keeps its
place. The scan stops after `window` misses so a long queue costs bounded time.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
from numpy.typing import NDArray

from quarterdeck.placement import (
    MILLI_PER_GPU,
    Assignment,
    ClusterState,
    NodeSpec,
    PodSet,
    Workload,
    commit,
    place,
    release,
    scorer_named,
)
from quarterdeck.sim.events import EventLoop
from quarterdeck.sim.trace import Task

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class ReplayRun:
    policy: str
    waits: F64  # simulated seconds from arrival to start, for tasks that started
    never_started: int  # still queued when the trace ended
    unschedulable: int  # no empty node could ever hold them
    untimed: int  # rows without creation/deletion time: not replayed, counted here
    times: F64  # event times (s)
    allocation: F64  # GPU allocation ratio after each event
    gpu_hours: dict[str, float]  # by QoS class (the trace has no team column)

    def peak_allocation(self) -> float:
        return float(self.allocation.max()) if self.allocation.size else 0.0

    def mean_allocation(self) -> float:
        """Time-weighted GPU allocation ratio from the first to the last event."""
        if self.times.size < 2:
            return float(self.allocation[-1]) if self.allocation.size else 0.0
        span = np.diff(self.times)
        total = span.sum()
        return float((self.allocation[:-1] * span).sum() / total) if total else 0.0


def run_replay(
    nodes: Sequence[NodeSpec],
    tasks: Sequence[Task],
    policy: str,
    seed: int = 0,
    window: int = 64,
    compress: float = 1.0,
) -> ReplayRun:
    """Replay `tasks` on `nodes` with placement policy `policy`.

    `compress` > 1 brings arrivals closer together (creation time / compress) while
    durations stay as traced: a what-if for a busier cluster.
    """
    if compress <= 0:
        raise ValueError("compress must be > 0")
    cluster = ClusterState(nodes)
    scorer = scorer_named(policy, Workload.from_requests(t.request for t in tasks))
    rng = np.random.default_rng(seed)
    loop = EventLoop()
    queue: deque[int] = deque()
    waits: list[float] = []
    times: list[float] = []
    alloc: list[float] = []
    hours: dict[str, float] = defaultdict(float)
    timed = [i for i, t in enumerate(tasks) if t.creation_time is not None and t.duration]
    unschedulable = 0
    arrived_at: dict[int, float] = {}

    def finish(index: int, assignment: Assignment, now: float) -> None:
        release(cluster, PodSet(tasks[index].request), assignment)
        drain(now)

    def drain(now: float) -> None:
        misses = 0
        for index in list(queue):
            if misses >= window:
                break
            task = tasks[index]
            podset = PodSet(task.request)
            got = place(cluster, podset, scorer, rng)
            if got is None:
                misses += 1
                continue
            commit(cluster, podset, got)
            queue.remove(index)
            waits.append(now - arrived_at[index])
            duration = float(task.duration or 0)
            gpus = task.request.gpu_demand_milli / MILLI_PER_GPU
            hours[task.qos or "-"] += gpus * duration / 3600
            loop.at(now + duration, partial(finish, index, got))
        times.append(now)
        alloc.append(cluster.gpu_allocated_milli / max(cluster.gpu_capacity_milli, 1))

    def arrive(index: int, now: float) -> None:
        nonlocal unschedulable
        if not cluster.could_ever_fit(tasks[index].request):
            unschedulable += 1
            return
        queue.append(index)
        arrived_at[index] = now
        drain(now)

    for index in timed:
        at = float(tasks[index].creation_time or 0) / compress
        loop.at(at, partial(arrive, index))
    loop.run()
    return ReplayRun(
        policy=policy,
        waits=np.array(waits, dtype=np.float64),
        never_started=len(queue),
        unschedulable=unschedulable,
        untimed=len(tasks) - len(timed),
        times=np.array(times, dtype=np.float64),
        allocation=np.array(alloc, dtype=np.float64),
        gpu_hours=dict(hours),
    )
