"""Simulator: loaders reject bad rows with file and line, the fill run is deterministic."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from quarterdeck.placement import Request
from quarterdeck.sim.events import EventLoop
from quarterdeck.sim.fill import run_fill, sample_arrivals
from quarterdeck.sim.synthetic import synthetic_nodes, synthetic_tasks
from quarterdeck.sim.trace import Task, TraceError, load_nodes, load_tasks

NODES = "sn,cpu_milli,memory_mib,gpu,model\nn1,64000,262144,2,P100\nn2,96000,393216,8,G2\n"
TASKS = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
    "p0,12000,16384,1,1000,,LS,Running,0,100,0\n"
    "p1,6000,12288,1,460,P100|G2,BE,Running,5,50,7\n"
    "p2,4000,8192,0,0,,BE,Running,9,,\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_loaders_read_good_files(tmp_path: Path) -> None:
    nodes = load_nodes(_write(tmp_path, "n.csv", NODES))
    tasks = load_tasks(_write(tmp_path, "t.csv", TASKS), {n.gpu_model for n in nodes})
    assert [n.gpu_count for n in nodes] == [2, 8]
    assert tasks[1].request.gpu_models == frozenset({"P100", "G2"})
    assert tasks[1].duration == 43 and tasks[2].deletion_time is None
    short = load_tasks(
        _write(
            tmp_path, "s.csv", "name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1000,1024,2,1000\n"
        )
    )
    assert short[0].request.gpu_count == 2 and short[0].creation_time is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("p9,12000,16384,1,1000,,LS", "t.csv:5: expected 11 fields"),
        ("p9,-5,16384,1,1000,,LS,Running,0,1,0", "t.csv:5: field cpu_milli: negative value -5"),
        ("p9,abc,16384,1,1000,,LS,Running,0,1,0", "t.csv:5: field cpu_milli: not an integer"),
        ("p9,1000,16384,1,1000,H100,LS,Running,0,1,0", "t.csv:5: field gpu_spec: unknown GPU"),
        ("p9,1000,16384,2,500,,LS,Running,0,1,0", "t.csv:5: fields num_gpu/gpu_milli"),
    ],
)
def test_bad_task_rows_name_file_line_and_field(tmp_path: Path, row: str, message: str) -> None:
    path = _write(tmp_path, "t.csv", TASKS + row + "\n")
    with pytest.raises(TraceError, match=message.replace("|", r"\|")):
        load_tasks(path, {"P100", "G2"})


def test_bad_node_files(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match=r"n.csv:4: field sn: duplicate node 'n1' \(line 2\)"):
        load_nodes(_write(tmp_path, "n.csv", NODES + "n1,1,1,1,T4\n"))
    with pytest.raises(TraceError, match=r"n\.csv:1: missing column"):
        load_nodes(_write(tmp_path, "n.csv", "sn,cpu_milli\nx,1\n"))
    with pytest.raises(TraceError, match="cannot read"):
        load_nodes(tmp_path / "absent.csv")


def test_event_loop_runs_in_time_then_insertion_order() -> None:
    seen: list[str] = []
    loop = EventLoop()
    loop.at(2.0, lambda t: seen.append(f"b{t}"))

    def first(_t: float) -> None:
        seen.append("a")
        loop.at(2.0, lambda _t: seen.append("c"))

    loop.at(1.0, first)
    assert loop.run() == 3 and seen == ["a", "b2.0", "c"]


def test_arrivals_are_the_trace_then_draws_up_to_the_load_as_published() -> None:
    """The authors' simulator: every trace task once in random order, then draws with
    replacement until the next one's per-GPU share would overshoot load x capacity."""
    tasks = synthetic_tasks(200, seed=1)
    trace_demand = sum(t.request.gpu_demand_milli for t in tasks)
    capacity = trace_demand // 2  # the trace alone is 200% of this capacity
    picks = sample_arrivals(tasks, trace_demand, 1.3, seed=4)
    assert sorted(picks[:200].tolist()) == list(range(200))  # the trace, permuted
    demand = [tasks[i].request.gpu_demand_milli for i in picks]
    assert sum(demand) <= 1.3 * trace_demand
    assert not np.array_equal(picks[:200], np.arange(200))
    # A trace with more demand than the load loses random tasks, keeping the order.
    thinned = sample_arrivals(tasks, capacity, 1.3, seed=4)
    kept = [tasks[i].request.gpu_demand_milli for i in thinned]
    assert len(set(thinned.tolist())) == thinned.size and sum(kept) <= 1.3 * capacity
    assert sum(kept) > 1.3 * capacity - 8000


def test_fill_is_deterministic_per_seed_and_accounts_every_arrival() -> None:
    nodes = synthetic_nodes(30, seed=2)
    tasks = synthetic_tasks(300, seed=2, models=("T4", "G2"))
    for policy in ("random", "fgd"):
        a = run_fill(nodes, tasks, policy, seed=7)
        b = run_fill(nodes, tasks, policy, seed=7)
        assert np.array_equal(a.allocated_milli, b.allocated_milli)
        assert np.array_equal(a.placed, b.placed)
        assert a.allocated_milli[-1] <= a.capacity_milli
        assert a.placed.sum() + a.failed == a.arrived_milli.size
    first, other = run_fill(nodes, tasks, "random", seed=7), run_fill(nodes, tasks, "random", 8)
    assert not np.array_equal(first.arrived_milli[:50], other.arrived_milli[:50])


def test_a_task_no_node_could_hold_is_counted_unschedulable() -> None:
    nodes = synthetic_nodes(5, seed=0)
    giant = Task("giant", Request(10**9, 1, 1, 1000), "")
    tasks = [*synthetic_tasks(50, seed=0), giant]
    run = run_fill(nodes, tasks, "bestfit", seed=1)
    giants = int(sum(1 for i in sample_arrivals(tasks, run.capacity_milli, 1.3, 1) if i == 50))
    assert run.unschedulable == giants and run.failed >= giants


def test_queued_replay_waits_for_quota_and_starts_everything_in_the_end() -> None:
    from quarterdeck.queueing.config import QueueingConfig
    from quarterdeck.sim.replay import run_replay

    nodes = synthetic_nodes(6, seed=3)
    tasks = [replace(t, qos="team-a") for t in synthetic_tasks(80, seed=3)]
    fgd = QueueingConfig(policy="fgd")
    roomy = run_replay(nodes, tasks, fgd, compress=20)
    tight = run_replay(nodes, tasks, fgd, {"team-a": 8}, compress=20)
    assert roomy.never_started == tight.never_started == 0
    started = roomy.waits.size
    assert started + roomy.unschedulable == len(tasks) == tight.waits.size + tight.unschedulable
    assert tight.waits.mean() > roomy.waits.mean()
    capacity = sum(n.gpu_count for n in nodes) * 1000
    assert (tight.allocation * capacity <= 8000 + 1e-6).all()  # quota is never exceeded


def test_queued_replay_with_a_tick_starts_on_tick_boundaries() -> None:
    from quarterdeck.queueing.config import QueueingConfig
    from quarterdeck.sim.replay import run_replay

    nodes = synthetic_nodes(6, seed=3)
    tasks = synthetic_tasks(60, seed=4)
    run = run_replay(nodes, tasks, QueueingConfig(), compress=20, tick=7.0)
    assert run.never_started == 0
    assert all(t % 7.0 == 0 for t in run.times)
