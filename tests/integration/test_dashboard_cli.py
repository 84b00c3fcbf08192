"""`qd dashboard` as a user runs it: it serves against the dev cluster's kubeconfig, asks
for sign-in with the reason, refuses a wrong token, and a port in use is one clear line."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from operator_process import free_port
from quarterdeck.kube.wait import wait_for

pytestmark = pytest.mark.integration
QD = str(Path(sys.executable).parent / "qd")


def request(url: str, data: dict[str, str] | None = None) -> tuple[int, str]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body), timeout=5) as r:
            return int(r.status), str(r.read().decode())
    except urllib.error.HTTPError as err:
        return int(err.code), str(err.read().decode())
    except OSError:
        return 0, ""


def test_qd_dashboard_serves_and_asks_for_a_valid_token(dev_cluster: Any) -> None:
    port = free_port()
    args = [QD, "dashboard", "--kubeconfig", str(dev_cluster.kubeconfig), "--port", str(port)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        def served() -> tuple[int, str] | None:
            assert proc.poll() is None, "qd dashboard exited"
            answer = request(f"{base}/?format=json")
            return answer if answer[0] else None

        status, body = wait_for(served, "qd dashboard to serve", 60)
        assert (status, json.loads(body)["error"]) == (401, "please sign in")
        status, page = request(f"{base}/applications/team-x/web")
        assert status == 401 and "Sign in" in page and "Traceback" not in page
        status, page = request(f"{base}/signin", {"token": "wrong", "next": "//evil.example"})
        assert status == 401 and "token refused" in page and 'value="/"' in page
        status, _ = request(f"{base}/applications/team-x/web/sync", {"csrf": "x"})
        assert status == 401
    finally:
        proc.terminate()
        proc.wait(15)


def test_qd_dashboard_on_a_port_in_use_is_one_line_and_exit_2(dev_cluster: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            [QD, "dashboard", "--kubeconfig", str(dev_cluster.kubeconfig), "--port", str(port)],
            capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
