"""Starting, stopping and recovering dev clusters: nothing is left behind, errors are clear."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from quarterdeck.devcluster import build, cluster, ports, process
from quarterdeck.devcluster.ports import PortInUseError
from quarterdeck.devcluster.session import PlainReporter, specs
from quarterdeck.devcluster.state import load
from quarterdeck.devcluster.versions import Component

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def binaries() -> dict[Component, Path]:
    return build.ensure_binaries(PlainReporter().progress)


@pytest.fixture
def name() -> Iterator[str]:
    n = f"lc-{os.getpid()}"
    yield n
    cluster.down(n)


def _up(name: str, binaries: dict[Component, Path], **kw: object) -> cluster.state.ClusterState:
    return cluster.up(name, specs(["1x cpu-4"]), binaries, PlainReporter(), **kw)  # type: ignore[arg-type]


def test_component_dying_during_up_is_reported_and_nothing_is_left_running(
    binaries: dict[Component, Path], name: str, tmp_path: Path
) -> None:
    broken = tmp_path / "kwok"
    broken.write_text("#!/bin/sh\necho 'kwok: cannot load stages: boom' >&2\nexit 3\n")
    broken.chmod(0o755)
    with pytest.raises(RuntimeError, match=r"(?s)kwok exited during start-up.*boom"):
        _up(name, {**binaries, Component.KWOK: broken})
    layout = cluster.layout_for(name)
    assert cluster.state.load(layout) is None  # not recorded as running
    assert cluster.clean_stale(name)  # and the next `up` would clean it


def test_down_leaves_no_listening_port_or_process(
    binaries: dict[Component, Path], name: str
) -> None:
    st = _up(name, binaries)
    used = st.ports.by_component()
    assert all(ports.is_listening(p) for what, p in used.items() if what != "etcd (peer)")
    assert cluster.down(name)
    assert [w for w, p in used.items() if ports.is_listening(p)] == []
    assert not any(process.alive(r) for r in st.processes.values())
    assert not cluster.layout_for(name).root.exists()


def test_second_up_of_same_name_is_refused(binaries: dict[Component, Path], name: str) -> None:
    _up(name, binaries)
    with pytest.raises(cluster.ClusterError, match="already running"):
        _up(name, binaries)
    assert cluster.status(name) is not None and cluster.status(name).healthy  # type: ignore[union-attr]


def test_taken_api_port_is_refused_before_anything_starts(
    binaries: dict[Component, Path], name: str
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortInUseError, match=str(port)):
            _up(name, binaries, api_port=port)
    assert not cluster.layout_for(name).root.exists()


def test_stale_cluster_of_a_killed_run_is_cleaned(
    binaries: dict[Component, Path], name: str
) -> None:
    st = _up(name, binaries)
    for ref in st.processes.values():  # what a machine crash or `kill -9` of everything leaves
        os.killpg(ref.pid, signal.SIGKILL)
    for ref in st.processes.values():
        while process.alive(ref):
            pass
    assert cluster.clean_stale(name)
    fresh = _up(name, binaries)
    assert cluster.status(name) is not None and cluster.status(name).healthy  # type: ignore[union-attr]
    assert fresh.processes[Component.APISERVER].pid != st.processes[Component.APISERVER].pid


def test_a_dead_component_shows_in_status_with_its_log(
    binaries: dict[Component, Path], name: str
) -> None:
    st = _up(name, binaries)
    process.stop(st.processes[Component.SCHEDULER])
    status = cluster.status(name)
    assert status is not None and not status.healthy
    dead = [c.component for c in status.components if not c.alive]
    assert dead == [Component.SCHEDULER]
    layout, _ = cluster.require_running(name)
    assert process.tail(layout.log(Component.SCHEDULER)) != "(no log)"
    assert load(layout) is not None
