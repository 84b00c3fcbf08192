"""A real Prometheus (Debian's package) and the dcgm-format GPU source for the test
cluster, for the whole test run: import `prometheus` into a test module to use it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from quarterdeck.devcluster import prometheus as devprom
from quarterdeck.devcluster.session import RunningCluster


@pytest.fixture(scope="session")
def prometheus(
    dev_cluster: RunningCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[devprom.PrometheusState]:
    root = tmp_path_factory.mktemp("prometheus")
    clock = root / "clock"
    state = devprom.start(root, dev_cluster.kubeconfig, clock_file=clock)
    try:
        yield state
    finally:
        devprom.stop(root)
