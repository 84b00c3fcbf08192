"""Small made-up clusters and traces shaped like the openb data, for tests and demos."""

from __future__ import annotations

import numpy as np

from quarterdeck.placement.model import MILLI_PER_GPU, NodeSpec, Request
from quarterdeck.sim.trace import Task

# (model, GPUs, CPU milli, memory MiB): the common node shapes of the openb inventory.
NODE_SHAPES = (
    ("G2", 8, 96_000, 393_216),
    ("T4", 2, 104_000, 524_288),
    ("P100", 2, 16_000, 122_880),
    ("V100M16", 4, 32_000, 131_072),
)
SHARES = (110, 230, 320, 470, 650, 810)


def synthetic_nodes(count: int, seed: int = 0) -> list[NodeSpec]:
    """`count` nodes drawn from the common openb shapes."""
    rng = np.random.default_rng(seed)
    nodes = []
    for i in range(count):
        model, gpus, cpu, mem = NODE_SHAPES[int(rng.integers(len(NODE_SHAPES)))]
        nodes.append(NodeSpec(f"node-{i:04d}", cpu, mem, gpus, model))
    return nodes


def synthetic_tasks(count: int, seed: int = 0, models: tuple[str, ...] = ()) -> list[Task]:
    """`count` tasks: CPU-only, GPU-sharing, one and multi-GPU, some model-constrained."""
    rng = np.random.default_rng(seed)
    tasks = []
    for i in range(count):
        kind = rng.choice(4, p=[0.15, 0.4, 0.4, 0.05])
        cpu = int(rng.choice([2_000, 4_000, 8_000, 12_000]))
        mem = int(rng.choice([4_096, 16_384, 32_768]))
        spec: frozenset[str] = frozenset()
        if models and rng.random() < 0.2:
            spec = frozenset({models[int(rng.integers(len(models)))]})
        if kind == 0:
            req = Request(cpu, mem)
        elif kind == 1:
            req = Request(cpu, mem, 1, int(rng.choice(SHARES)), spec)
        elif kind == 2:
            req = Request(cpu, mem, 1, MILLI_PER_GPU, spec)
        else:
            req = Request(cpu, mem, int(rng.choice([2, 4, 8])), MILLI_PER_GPU, spec)
        created = i * 60
        tasks.append(
            Task(f"task-{i:05d}", req, "", created, created + int(rng.integers(60, 7200)), created)
        )
    return tasks
