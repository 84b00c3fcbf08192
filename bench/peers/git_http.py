"""Serve local git repositories over smart HTTP on loopback: `git http-backend` as CGI.

Flux's GitRepository takes only http(s) and ssh URLs, so a repository on disk is
served by git's own CGI program behind a small threaded HTTP server. Read-only
(`receive-pack` stays off, git's default for unauthenticated users); every repository
under `root` is exported. Each fetch (clone, pull) is counted per repository: it opens
with one `GET NAME/info/refs?service=git-upload-pack`, whatever the protocol version.
"""

from __future__ import annotations

import collections
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Handler(BaseHTTPRequestHandler):
    root: Path
    fetches: collections.Counter[str]
    counting: threading.Lock
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def log_message(self, format: str, *args: object) -> None:
        pass  # thousands of fetches: keep the bench output readable

    def _cgi(self) -> None:
        path, _, query = self.path.partition("?")
        if self.command == "GET" and path.endswith("/info/refs") and "git-upload-pack" in query:
            with self.counting:
                self.fetches[path.strip("/").removesuffix("/info/refs")] += 1
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(length),
            "REMOTE_ADDR": self.client_address[0],
        }
        if encoding := self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = encoding
        if protocol := self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = protocol
        proc = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = proc.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class GitServer:
    """`http://127.0.0.1:PORT/NAME` serves the repository `root/NAME` until `stop()`."""

    def __init__(self, root: Path) -> None:
        self.fetches: collections.Counter[str] = collections.Counter()  # repository -> fetches
        attrs = {"root": root, "fetches": self.fetches, "counting": threading.Lock()}
        handler = type("Handler", (_Handler,), attrs)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
