"""A dev cluster that lives for the length of a `with` block: for tests, benchmarks, demos."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quarterdeck.devcluster import build, cluster, pools


@dataclass(frozen=True)
class RunningCluster:
    name: str
    kubeconfig: Path
    server: str


class PlainReporter:
    """Progress as plain lines on stderr, for non-interactive runs (pytest, CI)."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def step(self, text: str) -> None:
        print(f"[qd dev] {text}", file=sys.stderr, flush=True)

    def progress(self, task: str, done: int, total: int | None) -> None:
        key = task.split(":")[0]
        # One line per 10% (or per phase change) keeps CI logs readable.
        pct = (100 * done // total) // 10 if total else -1
        if self._last.get(key) != pct or task.endswith("done"):
            self._last[key] = pct
            shown = f"{done}/{total}" if total else "..."
            print(f"[qd dev] {task} {shown}", file=sys.stderr, flush=True)


def specs(pool_specs: Sequence[str]) -> list[pools.NodeSpec]:
    parsed = [pools.parse_spec(s) for s in pool_specs]
    pools.check_unique(parsed)
    return [n for p in parsed for n in pools.expand(p)]


@contextmanager
def temporary_cluster(name: str, pool_specs: Sequence[str],
                      admission_config: Mapping[str, Any] | None = None
                      ) -> Iterator[RunningCluster]:
    """Build binaries if needed, start a cluster, yield it, and always tear it down
    (`admission_config`: an AdmissionConfiguration for kube-apiserver)."""
    reporter = PlainReporter()
    binaries = build.ensure_binaries(reporter.progress)
    cluster.clean_stale(name)
    st = cluster.up(name, specs(pool_specs), binaries, reporter,
                    admission_config=admission_config)
    try:
        yield RunningCluster(name, cluster.layout_for(name).kubeconfig, st.server)
    finally:
        if not os.environ.get("QD_KEEP_CLUSTER"):
            cluster.down(name)
