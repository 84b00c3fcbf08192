"""Run the dashboard: informers started and synced, then uvicorn serving the app.

`qd dashboard` runs it in the foreground; tests (and, later, the operator) run it in a
thread with :meth:`DashboardServer.start` and stop it with :meth:`DashboardServer.stop`.
"""

from __future__ import annotations

import threading

import uvicorn
from lightkube import Client

from quarterdeck.dashboard.access import Access
from quarterdeck.dashboard.cache import DashboardCache
from quarterdeck.dashboard.pages import Pages
from quarterdeck.dashboard.web import create_app
from quarterdeck.kube.informer import SharedInformers

FIELD_MANAGER = "quarterdeck-dashboard"


class DashboardServer:
    """The dashboard on `host:port` with its own informers (port 0: any free port)."""

    def __init__(self, client: Client, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.informers = SharedInformers(client)
        self.cache = DashboardCache(self.informers)
        self.access = Access(client)
        app = create_app(Pages(self.cache, self.access, client), self.access)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                                access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def sync_caches(self, timeout: float) -> None:
        self.informers.start()
        if not self.informers.wait_synced(timeout):
            raise TimeoutError(f"dashboard caches not synced within {timeout:g}s")

    @property
    def port(self) -> int:
        """The bound port (known once started)."""
        sockets = [s for server in self.server.servers for s in server.sockets]
        return int(sockets[0].getsockname()[1])

    def run(self) -> None:
        """Serve in the foreground until interrupted."""
        try:
            self.server.run()
        finally:
            self.informers.stop()

    def start(self, timeout: float = 10.0) -> None:
        """Serve from a thread; returns once the socket is bound."""
        self._thread = threading.Thread(target=self.server.run, name="dashboard", daemon=True)
        self._thread.start()
        started = threading.Event()

        def bound() -> bool:
            return bool(self.server.started)

        for _ in range(int(timeout / 0.05)):
            if bound():
                return
            started.wait(0.05)
        raise TimeoutError("dashboard did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(5.0)
        self.informers.stop()
