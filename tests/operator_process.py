"""`qd operator` as a child process, for the runtime's tests and benchmarks: started with
leader election in one namespace, probed through its /readyz, stopped by signal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from lightkube import ApiError, Client
from lightkube.resources.coordination_v1 import Lease

from quarterdeck.operator import LEASE_NAME


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lease_holder(kube: Client, namespace: str) -> str | None:
    """The Lease's holder; "" once released; None while there is no Lease."""
    try:
        lease = kube.get(Lease, LEASE_NAME, namespace=namespace)
    except ApiError:
        return None
    return (lease.spec.holderIdentity if lease.spec else None) or ""


class OperatorProcess:
    """One `qd operator --leader-elect` scoped to `namespace`: delivery only by default, so
    it never touches what other tests run in the cluster; `controllers` may add queueing
    (which is cluster-wide) or leave delivery out."""

    def __init__(
        self,
        kubeconfig: Path,
        workdir: Path,
        namespace: str,
        identity: str,
        lease: tuple[float, float, float] = (4.0, 3.0, 0.5),
        extra: tuple[str, ...] = (),
        controllers: tuple[str, ...] = ("delivery",),
    ) -> None:
        self.identity = identity
        self.port = free_port()
        switches = [
            f"--{'' if name in controllers else 'no-'}{name}" for name in ("delivery", "queueing")
        ]
        self.args = [
            str(Path(sys.executable).parent / "qd"),
            "operator",
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            namespace,
            "--cache-dir",
            str(workdir / f"cache-{identity}"),
            *switches,
            "--allow-file-sources",  # the tests' repositories are local
            "--leader-elect",
            "--leader-elect-namespace",
            namespace,
            "--leader-elect-lease-duration",
            str(lease[0]),
            "--leader-elect-renew-deadline",
            str(lease[1]),
            "--leader-elect-retry-period",
            str(lease[2]),
            "--identity",
            identity,
            "--health-port",
            str(self.port),
            "--log-format",
            "json",
            "--tick",
            "1",
            *extra,
        ]
        self.log = workdir / f"operator-{identity}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        with self.log.open("ab") as out:
            env = os.environ | {"PYTHONUNBUFFERED": "1"}
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=out, env=env)
        return self

    def readyz(self) -> str:
        """The /readyz answer ("leader", "standby", a reason), or "" while not serving."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                return str(r.read().decode().strip())
        except urllib.error.HTTPError as err:
            return f"{err.code} {err.read().decode().strip()}"
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
