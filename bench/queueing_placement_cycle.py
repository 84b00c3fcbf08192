"""Cost of one placement-aware admission cycle against its quota-only twin.

600 GPU nodes (8 GPUs each, half h100 and half a100: 4,800 GPUs) under 8,000 GPUs of
quota (10 ClusterQueues in one cohort, 400 of each flavor), and 3,000 pending
workloads of 1 x 0.5, 1 x 1, 1 x 2, 2 x 4 and 4 x 8 GPUs. Prints CPU seconds per
cycle for quota-only admission (Kueue without TAS) and for `GpuPlacer` with each
placement scorer, and the GPUs each admits: quota-only admits more than the nodes
hold, and those pods would sit Pending.

    python bench/queueing_placement_cycle.py [--nodes 600] [--pending 3000]
"""

from __future__ import annotations

import argparse
import time

from quarterdeck.queueing import (
    ClusterQueue,
    Flavor,
    FlavorQuota,
    GpuPlacer,
    Node,
    Placer,
    PodSet,
    Quota,
    ResourceGroup,
    Snapshot,
    Workload,
    cycle,
)

GPU = "nvidia.com/gpu"
LABEL = "gpu.quarterdeck.dev/model"
SHAPES = ((1, 500), (1, 1000), (1, 2000), (2, 4000), (4, 8000))  # (pods, milli-GPU per pod)


def scenario(nodes: int, pending: int) -> Snapshot:
    node_list = tuple(
        Node(f"{f}-{i}", {LABEL: f}, {GPU: 8000})
        for f in ("h100", "a100")
        for i in range(nodes // 2)
    )
    quota = {GPU: Quota(400_000)}
    group = ResourceGroup((GPU,), (FlavorQuota("h100", quota), FlavorQuota("a100", quota)))
    queues = {f"q{i}": ClusterQueue(f"q{i}", (group,), cohort="c") for i in range(10)}
    work = tuple(
        Workload(
            f"ns/w{i}",
            f"q{i % 10}",
            (PodSet("main", SHAPES[i % 5][0], {GPU: SHAPES[i % 5][1]}),),
            created=float(i),
        )
        for i in range(pending)
    )
    flavors = {f: Flavor(f, {LABEL: f}) for f in ("h100", "a100")}
    return Snapshot(queues, flavors, pending=work, nodes=node_list)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=600)
    parser.add_argument("--pending", type=int, default=3000)
    args = parser.parse_args()
    snap = scenario(args.nodes, args.pending)
    print(f"{args.nodes} nodes, {args.pending} pending workloads, 10 queues")
    runs: list[tuple[str, Placer | None]] = [("quota only", None)]
    runs += [(f"GpuPlacer({p})", GpuPlacer(p)) for p in ("bestfit", "packing", "clustering")]
    for name, placer in runs:
        started = time.process_time()
        d = cycle(snap, placer)
        spent = time.process_time() - started
        gpus = sum(ps.usage.get(GPU, 0) for a in d.admitted for ps in a.pod_sets) / 1000
        print(
            f"{name:<22} {spent:6.2f} s CPU  admitted {len(d.admitted):>5} workloads, "
            f"{gpus:>7.1f} GPUs  pending {len(d.pending):>5}"
        )


if __name__ == "__main__":
    main()
