"""The mutating webhook that suspends queued Jobs at creation.

`review()` is pure: an AdmissionReview in, the response out (a JSON patch setting
`spec.suspend: true` on Jobs with a queue-name label). `serve()` answers reviews
over TLS in a thread of the controller process; `configuration()` is the
MutatingWebhookConfiguration that points the API server at it. A Job naming an
unknown queue is still suspended: its Workload then says why it cannot run.
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from quarterdeck.queueing.jobs import QUEUE_LABELS, queue_name

PATH = "/mutate-batch-v1-job"
NAME = "queueing.quarterdeck.dev"


def review(request: Mapping[str, Any]) -> dict[str, Any]:
    """The AdmissionReview response for one Job create request."""
    req = request.get("request") or {}
    response: dict[str, Any] = {"uid": req.get("uid", ""), "allowed": True}
    job = req.get("object") or {}
    if queue_name(job) is not None and not (job.get("spec") or {}).get("suspend"):
        op = "replace" if "suspend" in (job.get("spec") or {}) else "add"
        patch = [{"op": op, "path": "/spec/suspend", "value": True}]
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


def configuration(url: str, ca_pem: bytes) -> dict[str, Any]:
    """A MutatingWebhookConfiguration sending Job creations with a queue label to `url`."""
    webhooks = []
    for i, label in enumerate(QUEUE_LABELS):
        webhooks.append(
            {
                "name": f"job{i}.{NAME}",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 5,
                "clientConfig": {"url": url, "caBundle": base64.b64encode(ca_pem).decode()},
                "objectSelector": {"matchExpressions": [{"key": label, "operator": "Exists"}]},
                "rules": [
                    {
                        "apiGroups": ["batch"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["jobs"],
                    }
                ],
            }
        )
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": NAME},
        "webhooks": webhooks,
    }


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        if self.path.split("?")[0] != PATH:
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length", "0"))
        try:
            body = review(json.loads(self.rfile.read(length)))
        except (ValueError, AttributeError):
            self.send_error(400, "not an AdmissionReview")
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return  # the controller logs decisions, not every request


def serve(host: str, port: int, cert_pem: bytes, key_pem: bytes) -> ThreadingHTTPServer:
    """Answer reviews over TLS on (host, port) in a daemon thread; `.shutdown()` stops."""
    server = ThreadingHTTPServer((host, port), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
        cert.write_bytes(cert_pem)
        key.write_bytes(key_pem)
        context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name="queueing-webhook", daemon=True).start()
    return server
