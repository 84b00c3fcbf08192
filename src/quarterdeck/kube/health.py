"""``/healthz``, ``/readyz`` and ``/metrics`` on one port, as controller-runtime serves them.

``/healthz`` says the process answers (a kubelet restarts it otherwise); ``/readyz``
asks the operator (caches synced, controllers started when leading) and answers 503
with the reason while not ready; ``/metrics`` is the Prometheus text of the default
registry. A standard-library threading HTTP server: three tiny GET handlers need no
framework.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

Readiness = Callable[[], tuple[bool, str]]
#: More GET routes, added by controllers (showback's /allocation/compute): path ->
#: handler(query string) -> (status, body, content type).
ROUTES: dict[str, Callable[[str], tuple[int, bytes, str]]] = {}


class PortTaken(Exception):
    """The health port cannot be bound (in use, or not ours to take)."""


class HealthServer:
    """Serves the three endpoints on ``host:port`` in a daemon thread."""

    def __init__(self, host: str, port: int, ready: Readiness) -> None:
        readiness = ready

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path in ("/healthz", "/livez"):
                    self._send(200, b"ok\n", "text/plain")
                elif path == "/readyz":
                    ok, why = readiness()
                    self._send(200 if ok else 503, f"{why}\n".encode(), "text/plain")
                elif path == "/metrics":
                    self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
                elif path in ROUTES:
                    self._send(*ROUTES[path](self.path.partition("?")[2]))
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # probes every few seconds would drown the operator's own log

        try:
            self.server = ThreadingHTTPServer((host, port), Handler)
        except OSError as err:
            raise PortTaken(
                f"cannot serve health and metrics on {host}:{port}: {err.strerror or err}"
            ) from None
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="health-server", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
