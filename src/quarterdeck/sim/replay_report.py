"""Files for replay runs: per-policy waits and GPU-hours (CSV), wait-time CDF (PNG)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from quarterdeck.sim.replay import ReplayRun


def write_replay(runs: Sequence[ReplayRun], out: Path, title: str) -> None:
    """replay_tasks.csv (wait percentiles, GPU-hours per QoS) and replay_waits.png."""
    with (out / "replay_tasks.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["policy", "started", "wait_mean_s", "wait_p95_s", "qos", "gpu_hours"])
        for r in runs:
            mean = float(r.waits.mean()) if r.waits.size else 0.0
            p95 = float(np.percentile(r.waits, 95)) if r.waits.size else 0.0
            for qos, hours in sorted(r.gpu_hours.items()):
                w.writerow([r.policy, r.waits.size, f"{mean:.1f}", f"{p95:.1f}", qos,
                            f"{hours:.1f}"])  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for r in runs:
        waits = np.sort(r.waits)
        if waits.size:
            ax.plot(waits, np.arange(1, waits.size + 1) / waits.size, label=r.policy)
    ax.set_xscale("symlog")
    ax.set_xlabel("queue wait (simulated s)")
    ax.set_ylabel("fraction of started tasks")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "replay_waits.png")
    plt.close(fig)
