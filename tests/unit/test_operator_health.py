"""The operator's health endpoints and what /readyz says in each state, without a cluster."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from typing import Any

import pytest

from quarterdeck.kube.health import HealthServer, PortTaken
from quarterdeck.operator import Operator, OperatorConfig


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_healthz_readyz_and_metrics_on_one_port() -> None:
    state = {"ready": (False, "caches not synced")}
    server = HealthServer("127.0.0.1", 0, lambda: state["ready"])
    server.start()
    try:
        assert _get(server.port, "/healthz") == (200, "ok\n")
        assert _get(server.port, "/readyz") == (503, "caches not synced\n")
        state["ready"] = (True, "standby")
        assert _get(server.port, "/readyz") == (200, "standby\n")
        code, text = _get(server.port, "/metrics")
        assert code == 200 and "# TYPE quarterdeck_leader_is_leader gauge" in text
        assert _get(server.port, "/nothing")[0] == 404
    finally:
        server.stop()


def test_a_taken_port_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortTaken, match=f"127.0.0.1:{port}: Address already in use"):
            HealthServer("127.0.0.1", port, lambda: (True, ""))


def test_readiness_follows_prepare_then_leadership() -> None:
    client: Any = None  # nothing here calls the API server
    op = Operator(client, OperatorConfig(), lambda manager: client, controllers=[])
    assert op.ready() == (False, "preparing controllers (CRDs)")
    op.prepared.set()
    assert op.ready() == (True, "standby")  # no informers yet: nothing to wait for
    op.leading = True
    assert op.ready() == (False, "leading, controllers starting")
    op.started.set()
    assert op.ready() == (True, "leader")
