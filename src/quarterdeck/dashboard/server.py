"""Run the dashboard: informers started and synced, then uvicorn serving the app.

`qd dashboard` runs it in the foreground; `qd operator --dashboard-port` and tests run it
in a thread with :meth:`DashboardServer.start` (see :func:`beside_operator`) and stop it
with :meth:`DashboardServer.stop`.
"""

from __future__ import annotations

import socket
import threading

import uvicorn
from lightkube import Client

from quarterdeck.dashboard.access import Access
from quarterdeck.dashboard.cache import DashboardCache
from quarterdeck.dashboard.live import Change
from quarterdeck.dashboard.live_stream import Hub
from quarterdeck.dashboard.pages import Pages
from quarterdeck.dashboard.pending import PendingDiffs
from quarterdeck.dashboard.web import create_app
from quarterdeck.kube.informer import SharedInformers, freeze_filled_caches
from quarterdeck.kube.wait import wait_for

FIELD_MANAGER = "quarterdeck-dashboard"


class ListenError(ValueError):
    """The address cannot be listened on (in use, not ours); one line."""


def listen(host: str, port: int) -> socket.socket:
    """A bound socket for `host:port`, before anything else starts, so that a port in use
    is one clear line instead of a server that logs and exits."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    return sock


class DashboardServer:
    """The dashboard on `host:port` with its own informers (port 0: any free port)."""

    def __init__(self, client: Client, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.socket = listen(host, port)
        self.informers = SharedInformers(client)
        self.cache = DashboardCache(self.informers)
        self.access = Access(client)
        self.hub = Hub(self.cache.by_kind())
        self.pending = PendingDiffs(
            client, lambda ns, name: self.hub.push(Change("applications", ns, name)))
        app = create_app(Pages(self.cache, self.access, client, self.pending), self.access,
                         self.hub)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                                access_log=False, lifespan="off", timeout_graceful_shutdown=3)
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def sync_caches(self, timeout: float) -> None:
        self.informers.start()
        if not self.informers.wait_synced(timeout):
            raise TimeoutError(
                f"the dashboard's caches did not fill within {timeout:g}s (is the cluster "
                "reachable, and are quarterdeck's CRDs installed?)"
            )
        freeze_filled_caches()

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.socket.getsockname()[1])

    def run(self) -> None:
        """Serve in the foreground until interrupted."""
        try:
            self.server.run(sockets=[self.socket])
        finally:
            self.informers.stop()
            self.pending.stop()

    def start(self, timeout: float = 10.0) -> None:
        """Serve from a thread; returns once it serves."""
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="dashboard",
            daemon=True,
        )
        self._thread.start()
        wait_for(lambda: self.server.started or None, "the dashboard to serve", timeout, 0.05)

    def stop(self) -> None:
        self.hub.end_all()  # open event streams would hold the shutdown up
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(5.0)
        self.informers.stop()
        self.pending.stop()
        self.socket.close()


def beside_operator(client: Client, host: str, port: int) -> DashboardServer | None:
    """The dashboard served from the operator's process (None when `port` is 0). It does
    not wait for its caches: the informers fill in the background (retrying while the
    operator installs the CRDs), and it serves whether or not this replica leads, since
    its reads come from its own caches and its actions are requests the leader acts on."""
    if not port:
        return None
    server = DashboardServer(client, host, port)
    server.informers.start()
    server.start()
    return server
